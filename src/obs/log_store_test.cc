#include "obs/log_store.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <set>
#include <fstream>
#include <thread>
#include <time.h>

#include <fmt/format.h>

#include "base/testing/fake_clock.h"

namespace nimbus::obs {
namespace {

namespace fs = std::filesystem;

constexpr char kGroup[] = "/aws/lambda/f";
constexpr char kStream[] = "2024/05/01/[$LATEST]0123456789abcdef0123456789abcdef";

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::path(::testing::TempDir()) / "log_store_XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::unique_ptr<LogStore> OpenStore(const Clock& clock, const fs::path& dir,
                                    size_t memory_events = 1000) {
  LogStoreOptions options;
  options.dir = dir;
  options.max_memory_events_per_stream = memory_events;
  auto store = LogStore::Open(clock, options);
  EXPECT_TRUE(store.has_value()) << store.status().ToString();
  return std::move(store).value();
}

std::vector<std::string> Messages(const std::vector<LogEvent>& events) {
  std::vector<std::string> out;
  for (const auto& e : events) out.push_back(e.message);
  return out;
}

std::vector<std::string> Messages(const std::vector<FilteredLogEvent>& events) {
  std::vector<std::string> out;
  for (const auto& e : events) out.push_back(e.event.message);
  return out;
}

GetLogEventsPage MustGet(const LogStore& store, GetLogEventsRequest r) {
  auto page = store.GetLogEvents(r);
  EXPECT_TRUE(page.has_value()) << page.status().ToString();
  return page.has_value() ? std::move(page).value() : GetLogEventsPage{};
}

TEST(LogStore, AnAppendedEventIsReadableAsSoonAsAppendReturns) {
  TempDir dir;
  FakeClock clock;
  auto store = OpenStore(clock, dir.path() / "logs");
  store->Append(kGroup, kStream, 1000, "hello\n");
  auto page = MustGet(*store, {.group = kGroup, .stream = kStream, .start_from_head = true});
  ASSERT_EQ(page.events.size(), 1u);
  EXPECT_EQ(page.events[0],
            (LogEvent{1000, "hello\n", ToUnixMillis(clock.Now())}));
}

TEST(LogStore, GetLogEventsReturnsAppendOrderWithinAHalfOpenTimeRange) {
  TempDir dir;
  FakeClock clock;
  auto store = OpenStore(clock, dir.path());
  for (int i = 0; i < 5; ++i) store->Append(kGroup, kStream, 100 + i, "m" + std::to_string(i));
  auto page = MustGet(*store, {.group = kGroup,
                               .stream = kStream,
                               .start_time_ms = 101,
                               .end_time_ms = 104,
                               .start_from_head = true});
  EXPECT_EQ(Messages(page.events), (std::vector<std::string>{"m1", "m2", "m3"}));
}

TEST(LogStore, GetLogEventsPagesWithForwardAndBackwardTokensLikeAws) {
  TempDir dir;
  FakeClock clock;
  auto store = OpenStore(clock, dir.path());
  for (int i = 0; i < 5; ++i) store->Append(kGroup, kStream, 100 + i, "m" + std::to_string(i));

  auto first = MustGet(*store, {.group = kGroup, .stream = kStream, .start_from_head = true,
                                .limit = 2});
  EXPECT_EQ(Messages(first.events), (std::vector<std::string>{"m0", "m1"}));
  EXPECT_EQ(first.next_forward_token, "f/2");
  EXPECT_EQ(first.next_backward_token, "b/0");

  auto second = MustGet(*store, {.group = kGroup, .stream = kStream, .limit = 2,
                                 .next_token = first.next_forward_token});
  EXPECT_EQ(Messages(second.events), (std::vector<std::string>{"m2", "m3"}));
  auto third = MustGet(*store, {.group = kGroup, .stream = kStream, .limit = 2,
                                .next_token = second.next_forward_token});
  EXPECT_EQ(Messages(third.events), (std::vector<std::string>{"m4"}));
  // Past the end: no events and the same token back, which is how clients stop.
  auto end = MustGet(*store, {.group = kGroup, .stream = kStream, .limit = 2,
                              .next_token = third.next_forward_token});
  EXPECT_TRUE(end.events.empty());
  EXPECT_EQ(end.next_forward_token, third.next_forward_token);

  auto back = MustGet(*store, {.group = kGroup, .stream = kStream, .limit = 2,
                               .next_token = third.next_backward_token});
  EXPECT_EQ(Messages(back.events), (std::vector<std::string>{"m2", "m3"}));
}

TEST(LogStore, WithoutATokenAndNotFromHeadTheNewestPageIsReturned) {
  TempDir dir;
  FakeClock clock;
  auto store = OpenStore(clock, dir.path());
  for (int i = 0; i < 5; ++i) store->Append(kGroup, kStream, 100 + i, "m" + std::to_string(i));
  auto page = MustGet(*store, {.group = kGroup, .stream = kStream, .limit = 2});
  EXPECT_EQ(Messages(page.events), (std::vector<std::string>{"m3", "m4"}));
  EXPECT_EQ(page.next_backward_token, "b/3");
  EXPECT_EQ(page.next_forward_token, "f/5");
}

TEST(LogStore, GetLogEventsRejectsMalformedAndOutOfRangeTokens) {
  TempDir dir;
  FakeClock clock;
  auto store = OpenStore(clock, dir.path());
  store->Append(kGroup, kStream, 1, "x");
  for (std::string token : {"x/1", "f/", "f/abc", "f/2", "b/-1"}) {
    auto page = store->GetLogEvents({.group = kGroup, .stream = kStream, .next_token = token});
    ASSERT_FALSE(page.has_value()) << token;
    EXPECT_EQ(page.error().code(), Code::kInvalidArgument) << token;
  }
}

TEST(LogStore, MissingGroupsAndStreamsAreNotFound) {
  TempDir dir;
  FakeClock clock;
  auto store = OpenStore(clock, dir.path());
  auto page = store->GetLogEvents({.group = "/aws/lambda/none", .stream = "s"});
  ASSERT_FALSE(page.has_value());
  EXPECT_EQ(page.error(), NotFound("log group /aws/lambda/none: does not exist"));
  store->Append(kGroup, kStream, 1, "x");
  page = store->GetLogEvents({.group = kGroup, .stream = "other"});
  ASSERT_FALSE(page.has_value());
  EXPECT_EQ(page.error(), NotFound("log stream other: does not exist"));
  EXPECT_EQ(store->FilterLogEvents({.group = "/nope"}).error().code(), Code::kNotFound);
  EXPECT_EQ(store->DescribeLogStreams({.group = "/nope"}).error().code(), Code::kNotFound);
  EXPECT_EQ(store->DeleteLogGroup("/nope").code(), Code::kNotFound);
}

TEST(FilterPattern, RequiresEveryTermAndEveryQuotedPhrase) {
  auto p = FilterPattern::Parse("ERROR \"request failed\"  db");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->terms(), (std::vector<std::string>{"ERROR", "request failed", "db"}));
  EXPECT_TRUE(p->Matches("db: ERROR request failed"));
  EXPECT_FALSE(p->Matches("db: ERROR request  failed"));
  EXPECT_FALSE(p->Matches("db: error request failed"));  // case-sensitive, as AWS
  EXPECT_TRUE(FilterPattern::Parse("")->Matches("anything"));
}

TEST(FilterPattern, RejectsSyntaxThatIsNotImplementedYet) {
  for (std::string pattern : {"{ $.level = \"ERROR\" }", "[ip, user]", "?ERROR ?WARN",
                              "ERROR -debug", "\"unterminated"}) {
    auto p = FilterPattern::Parse(pattern);
    ASSERT_FALSE(p.has_value()) << pattern;
    EXPECT_EQ(p.error().code(), Code::kInvalidArgument) << pattern;
  }
}

TEST(LogStore, FilterLogEventsMergesStreamsByTimestampAppliesTermsAndPaginates) {
  TempDir dir;
  FakeClock clock;
  auto store = OpenStore(clock, dir.path());
  store->Append(kGroup, "b", 10, "START b1");
  store->Append(kGroup, "a", 11, "START a1");
  store->Append(kGroup, "b", 12, "noise");
  store->Append(kGroup, "a", 13, "START a2");
  store->Append(kGroup, "b", 13, "START b2");
  store->Append(kGroup, "a", 20, "START late");

  auto all = store->FilterLogEvents({.group = kGroup, .filter_pattern = "START"});
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(Messages(all->events),
            (std::vector<std::string>{"START b1", "START a1", "START a2", "START b2",
                                      "START late"}));
  EXPECT_EQ(all->events[0].stream, "b");
  EXPECT_EQ(all->events[0].event_id.size(), 56u);
  EXPECT_TRUE(all->next_token.empty());

  std::vector<std::string> paged;
  std::set<std::string> ids;
  std::string token;
  int pages = 0;
  do {
    auto page = store->FilterLogEvents({.group = kGroup,
                                        .end_time_ms = 13,
                                        .filter_pattern = "START",
                                        .limit = 2,
                                        .next_token = token});
    ASSERT_TRUE(page.has_value()) << page.status().ToString();
    for (auto& e : page->events) {
      paged.push_back(e.event.message);
      ids.insert(e.event_id);
    }
    token = page->next_token;
    ASSERT_LT(++pages, 10);
  } while (!token.empty());
  // end_time is inclusive for FilterLogEvents.
  EXPECT_EQ(paged,
            (std::vector<std::string>{"START b1", "START a1", "START a2", "START b2"}));
  EXPECT_EQ(ids.size(), 4u);

  auto only_a = store->FilterLogEvents({.group = kGroup, .stream_names = {"a"}});
  EXPECT_EQ(Messages(only_a->events),
            (std::vector<std::string>{"START a1", "START a2", "START late"}));
  EXPECT_EQ(only_a->searched_streams, (std::vector<std::string>{"a"}));
}

TEST(LogStore, EventsAndMetadataSurviveARestart) {
  TempDir dir;
  FakeClock clock;
  {
    auto store = OpenStore(clock, dir.path());
    store->Append(kGroup, kStream, 100, "line one\twith tab");
    clock.Advance(std::chrono::seconds(1));
    store->Append(kGroup, kStream, 200, "line two\nwith newline \\n literal");
    ASSERT_TRUE(store->CreateLogGroup("/empty/group").ok());
    ASSERT_TRUE(store->CreateLogStream("/empty/group", "quiet").ok());
    ASSERT_TRUE(store->Flush().ok());
  }
  clock.Advance(std::chrono::hours(1));
  auto store = OpenStore(clock, dir.path());
  auto page = MustGet(*store, {.group = kGroup, .stream = kStream, .start_from_head = true});
  ASSERT_EQ(page.events.size(), 2u);
  EXPECT_EQ(page.events[0], (LogEvent{100, "line one\twith tab", 1714564800000}));
  EXPECT_EQ(page.events[1],
            (LogEvent{200, "line two\nwith newline \\n literal", 1714564801000}));
  auto groups = store->DescribeLogGroups({});
  ASSERT_EQ(groups->groups.size(), 2u);
  EXPECT_EQ(groups->groups[0].name, "/aws/lambda/f");
  EXPECT_EQ(groups->groups[0].creation_time_ms, 1714564800000);
  EXPECT_EQ(groups->groups[1].name, "/empty/group");
  auto streams = store->DescribeLogStreams({.group = kGroup});
  ASSERT_EQ(streams->streams.size(), 1u);
  EXPECT_EQ(streams->streams[0].name, kStream);
  EXPECT_EQ(streams->streams[0].first_event_timestamp_ms, 100);
  EXPECT_EQ(streams->streams[0].last_event_timestamp_ms, 200);
  EXPECT_EQ(streams->streams[0].last_ingestion_time_ms, 1714564801000);
  auto quiet = store->DescribeLogStreams({.group = "/empty/group"});
  ASSERT_EQ(quiet->streams.size(), 1u);
  EXPECT_FALSE(quiet->streams[0].last_event_timestamp_ms.has_value());
  // Appending after a restart continues the same stream.
  store->Append(kGroup, kStream, 300, "three");
  page = MustGet(*store, {.group = kGroup, .stream = kStream, .start_from_head = true});
  EXPECT_EQ(Messages(page.events),
            (std::vector<std::string>{"line one\twith tab", "line two\nwith newline \\n literal",
                                      "three"}));
}

TEST(LogStore, ReadsMergeFileContentsWithEventsStillInMemory) {
  TempDir dir;
  FakeClock clock;
  // Two events in memory: everything older must come from the file.
  auto store = OpenStore(clock, dir.path(), /*memory_events=*/2);
  std::vector<std::string> expected;
  for (int i = 0; i < 10; ++i) {
    store->Append(kGroup, kStream, i, "e" + std::to_string(i));
    expected.push_back("e" + std::to_string(i));
  }
  ASSERT_TRUE(store->Flush().ok());
  for (int i = 10; i < 13; ++i) {
    store->Append(kGroup, kStream, i, "e" + std::to_string(i));
    expected.push_back("e" + std::to_string(i));
  }
  auto page = MustGet(*store, {.group = kGroup, .stream = kStream, .start_from_head = true});
  EXPECT_EQ(Messages(page.events), expected);
  auto filtered = store->FilterLogEvents({.group = kGroup, .filter_pattern = "e1"});
  EXPECT_EQ(Messages(filtered->events),
            (std::vector<std::string>{"e1", "e10", "e11", "e12"}));

  store.reset();
  store = OpenStore(clock, dir.path(), 2);
  page = MustGet(*store, {.group = kGroup, .stream = kStream, .start_from_head = true});
  EXPECT_EQ(Messages(page.events), expected);
}

TEST(LogStore, APartialLastLineLeftByACrashIsDroppedOnReopen) {
  TempDir dir;
  FakeClock clock;
  {
    auto store = OpenStore(clock, dir.path());
    store->Append(kGroup, "s", 1, "kept");
    ASSERT_TRUE(store->Flush().ok());
  }
  fs::path file = dir.path() / EncodeFileName(kGroup) / "s.log";
  ASSERT_TRUE(fs::exists(file));
  { std::ofstream(file, std::ios::app) << "2\t2\thalf-writ"; }
  auto store = OpenStore(clock, dir.path());
  store->Append(kGroup, "s", 3, "after");
  ASSERT_TRUE(store->Flush().ok());
  store.reset();
  store = OpenStore(clock, dir.path());
  auto page = MustGet(*store, {.group = kGroup, .stream = "s", .start_from_head = true});
  EXPECT_EQ(Messages(page.events), (std::vector<std::string>{"kept", "after"}));
}

TEST(LogStore, HostileGroupAndStreamNamesStayInsideTheDirectory) {
  TempDir dir;
  FakeClock clock;
  const fs::path logs = dir.path() / "data" / "logs";
  const std::string group = "/aws/lambda/../../x";
  const std::string streams[] = {"../../../escape", "..", ".", "", "a/b", "%2F",
                                 std::string(600, '.')};
  {
    auto store = OpenStore(clock, logs);
    store->Append("..", ".", 1, "dots");
    store->Append("", "", 1, "empty");
    for (const auto& s : streams) store->Append(group, s, 1, "payload " + s);
    ASSERT_TRUE(store->Flush().ok());
  }
  // Nothing was created outside <data>/logs...
  for (const auto& entry : fs::recursive_directory_iterator(dir.path())) {
    if (entry.path() == dir.path() / "data" || entry.path() == logs) continue;
    auto rel = fs::relative(entry.path(), logs);
    EXPECT_FALSE(rel.empty() || *rel.begin() == "..") << entry.path();
    EXPECT_LE(entry.path().filename().string().size(), 255u);
  }
  // ...and everything reads back under its real name.
  auto store = OpenStore(clock, logs);
  for (const auto& s : streams) {
    auto page = MustGet(*store, {.group = group, .stream = s, .start_from_head = true});
    EXPECT_EQ(Messages(page.events), (std::vector<std::string>{"payload " + s})) << s;
  }
  EXPECT_EQ(MustGet(*store, {.group = "..", .stream = ".", .start_from_head = true}).events.size(),
            1u);
  EXPECT_EQ(MustGet(*store, {.group = "", .stream = "", .start_from_head = true}).events.size(),
            1u);
}

TEST(LogStore, LongNamesAreCutAndHashedIntoDistinctFileNames) {
  std::string a(600, 'a'), b = a;
  b.back() = 'b';
  EXPECT_LE(EncodeFileName(a).size(), 200u);
  EXPECT_NE(EncodeFileName(a), EncodeFileName(b));
  EXPECT_EQ(EncodeFileName("/aws/lambda/f"), "%2Faws%2Flambda%2Ff");
  EXPECT_EQ(EncodeFileName(".."), "%2E%2E");
}

TEST(LogStore, LineEscapingRoundTripsAndRejectsBadEscapes) {
  const std::string text = "a\tb\nc\\d\re\\n";
  EXPECT_EQ(EscapeLogLine(text), "a\\tb\\nc\\\\d\\re\\\\n");
  EXPECT_EQ(UnescapeLogLine(EscapeLogLine(text)), text);
  EXPECT_EQ(UnescapeLogLine("bad\\x"), std::nullopt);
  EXPECT_EQ(UnescapeLogLine("trailing\\"), std::nullopt);
}

TEST(LogStore, ConcurrentAppendsFromSeveralThreadsAreAllKeptInPerThreadOrder) {
  TempDir dir;
  FakeClock clock;
  auto store = OpenStore(clock, dir.path(), 50);
  constexpr int kThreads = 4, kPerThread = 500;
  ASSERT_TRUE(store->CreateLogGroup(kGroup).ok());
  ASSERT_TRUE(store->CreateLogStream(kGroup, "shared").ok());
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        store->Append(kGroup, "shared", i, fmt::format("{}:{}", t, i));
        store->Append(kGroup, fmt::format("own-{}", t), i, fmt::format("{}", i));
      }
    });
  }
  // Read while writing: must never fail or tear.
  for (int i = 0; i < 20; ++i) {
    auto page = store->FilterLogEvents({.group = kGroup, .stream_names = {"shared"}});
    EXPECT_TRUE(page.has_value()) << page.status().ToString();
    if (page.has_value()) {
      EXPECT_LE(page->events.size(), size_t{kThreads * kPerThread});
    }
  }
  for (auto& th : threads) th.join();
  ASSERT_TRUE(store->Flush().ok());
  store.reset();
  store = OpenStore(clock, dir.path());
  auto shared = MustGet(*store, {.group = kGroup, .stream = "shared", .start_from_head = true});
  ASSERT_EQ(shared.events.size(), size_t{kThreads * kPerThread});
  std::vector<int> next(kThreads, 0);
  for (const auto& e : shared.events) {
    int t = e.message[0] - '0';
    EXPECT_EQ(e.message, fmt::format("{}:{}", t, next[t]));
    next[t]++;
  }
  for (int t = 0; t < kThreads; ++t) {
    auto own = MustGet(*store, {.group = kGroup, .stream = fmt::format("own-{}", t),
                                .start_from_head = true});
    ASSERT_EQ(own.events.size(), size_t{kPerThread});
    EXPECT_EQ(own.events.back().message, std::to_string(kPerThread - 1));
  }
}

TEST(LogStore, DescribeLogGroupsFiltersByPrefixAndPages) {
  TempDir dir;
  FakeClock clock;
  auto store = OpenStore(clock, dir.path());
  for (auto g : {"/aws/lambda/c", "/aws/lambda/a", "/other", "/aws/lambda/b"}) {
    ASSERT_TRUE(store->CreateLogGroup(g).ok());
  }
  EXPECT_EQ(store->CreateLogGroup("/other").code(), Code::kConflict);
  auto p1 = store->DescribeLogGroups({.prefix = "/aws/lambda/", .limit = 2});
  ASSERT_EQ(p1->groups.size(), 2u);
  EXPECT_EQ(p1->groups[0].name, "/aws/lambda/a");
  EXPECT_EQ(p1->groups[1].name, "/aws/lambda/b");
  ASSERT_FALSE(p1->next_token.empty());
  auto p2 = store->DescribeLogGroups(
      {.prefix = "/aws/lambda/", .limit = 2, .next_token = p1->next_token});
  ASSERT_EQ(p2->groups.size(), 1u);
  EXPECT_EQ(p2->groups[0].name, "/aws/lambda/c");
  EXPECT_TRUE(p2->next_token.empty());
  EXPECT_EQ(store->DescribeLogGroups({.limit = 51}).error().code(), Code::kInvalidArgument);
}

TEST(LogStore, DescribeLogStreamsOrdersByLastEventTimeDescendingAndPages) {
  TempDir dir;
  FakeClock clock;
  auto store = OpenStore(clock, dir.path());
  store->Append(kGroup, "old", 10, "x");
  store->Append(kGroup, "new", 30, "x");
  store->Append(kGroup, "mid", 20, "x");
  std::vector<std::string> names;
  std::string token;
  for (int i = 0; i < 5; ++i) {
    auto page = store->DescribeLogStreams({.group = kGroup,
                                           .order_by = LogStreamOrder::kLastEventTime,
                                           .descending = true,
                                           .limit = 2,
                                           .next_token = token});
    ASSERT_TRUE(page.has_value()) << page.status().ToString();
    for (auto& s : page->streams) names.push_back(s.name);
    token = page->next_token;
    if (token.empty()) break;
  }
  EXPECT_EQ(names, (std::vector<std::string>{"new", "mid", "old"}));
  auto by_name = store->DescribeLogStreams({.group = kGroup, .prefix = "m"});
  ASSERT_EQ(by_name->streams.size(), 1u);
  EXPECT_EQ(by_name->streams[0].name, "mid");
  EXPECT_EQ(store
                ->DescribeLogStreams({.group = kGroup,
                                      .prefix = "m",
                                      .order_by = LogStreamOrder::kLastEventTime})
                .error()
                .code(),
            Code::kInvalidArgument);
}

TEST(LogStore, DeleteLogGroupRemovesItsFilesAndTheNameCanBeReused) {
  TempDir dir;
  FakeClock clock;
  auto store = OpenStore(clock, dir.path());
  store->Append(kGroup, "s", 1, "before");
  ASSERT_TRUE(store->Flush().ok());
  ASSERT_TRUE(store->DeleteLogGroup(kGroup).ok());
  EXPECT_FALSE(store->LogGroupExists(kGroup));
  store->Append(kGroup, "s", 2, "after");
  ASSERT_TRUE(store->Flush().ok());
  store.reset();
  store = OpenStore(clock, dir.path());
  auto page = MustGet(*store, {.group = kGroup, .stream = "s", .start_from_head = true});
  EXPECT_EQ(Messages(page.events), (std::vector<std::string>{"after"}));
}

TEST(LogStore, AStreamFileHoldsItsHeaderThenOneEscapedLinePerEvent) {
  TempDir dir;
  FakeClock clock;
  auto store = OpenStore(clock, dir.path());
  store->Append(kGroup, "s", -5, "a\tb\\c\r\nd");
  store->Append(kGroup, "s", 1714564800123, "");
  ASSERT_TRUE(store->Flush().ok());
  std::ifstream in(dir.path() / EncodeFileName(kGroup) / (EncodeFileName("s") + ".log"));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text,
            "#nimbus-log-stream v1\t1714564800000\ts\n"
            "-5\t1714564800000\ta\\tb\\\\c\\r\\nd\n"
            "1714564800123\t1714564800000\t\n");
}

TEST(LogStore, EventsOfManyStreamsOverSeveralBatchesAllReachTheirFiles) {
  TempDir dir;
  FakeClock clock;
  // More streams than the writer keeps open, written in two rounds.
  constexpr int kStreams = 150;
  {
    auto store = OpenStore(clock, dir.path());
    for (int round = 0; round < 2; ++round) {
      for (int i = 0; i < kStreams; ++i) {
        store->Append(kGroup, "s" + std::to_string(i), round, fmt::format("{}-{}", i, round));
      }
      ASSERT_TRUE(store->Flush().ok());
    }
  }
  auto store = OpenStore(clock, dir.path());
  for (int i = 0; i < kStreams; ++i) {
    auto page = MustGet(*store, {.group = kGroup, .stream = "s" + std::to_string(i),
                                 .start_from_head = true});
    EXPECT_EQ(Messages(page.events),
              (std::vector<std::string>{fmt::format("{}-0", i), fmt::format("{}-1", i)}));
  }
}

TEST(LogStore, PutLogEventsNeedsAnExistingStreamAndChronologicalEvents) {
  TempDir dir;
  FakeClock clock;
  auto store = OpenStore(clock, dir.path());
  EXPECT_EQ(store->PutLogEvents("/g", "s", {{1, "a", 0}}).code(), Code::kNotFound);
  ASSERT_TRUE(store->CreateLogGroup("/g").ok());
  EXPECT_EQ(store->CreateLogStream("/nope", "s").code(), Code::kNotFound);
  ASSERT_TRUE(store->CreateLogStream("/g", "s").ok());
  EXPECT_EQ(store->CreateLogStream("/g", "s").code(), Code::kConflict);
  EXPECT_EQ(store->PutLogEvents("/g", "s", {{2, "b", 0}, {1, "a", 0}}).code(),
            Code::kInvalidArgument);
  ASSERT_TRUE(store->PutLogEvents("/g", "s", {{1, "a", 0}, {2, "b", 0}}).ok());
  auto page = MustGet(*store, {.group = "/g", .stream = "s", .start_from_head = true});
  ASSERT_EQ(page.events.size(), 2u);
  EXPECT_EQ(page.events[1], (LogEvent{2, "b", ToUnixMillis(clock.Now())}));
}

TEST(LogStore, AppendDropsAndCountsEventsBeyondThePendingLimit) {
  TempDir dir;
  FakeClock clock;
  // The "disk" is a regular file, so the group directory cannot be created and
  // every write fails; events then pile up in the queue until the limit.
  LogStoreOptions options;
  options.dir = dir.path() / "logs";
  options.max_pending_bytes = 10;
  options.retry_delay = std::chrono::milliseconds(1);
  auto store = std::move(LogStore::Open(clock, options)).value();
  fs::remove_all(options.dir);
  std::ofstream(options.dir) << "not a directory";
  store->Append(kGroup, "s", 1, "12345");
  store->Append(kGroup, "s", 2, "12345");
  store->Append(kGroup, "s", 3, "1");
  EXPECT_EQ(store->dropped_events(), 1u);
  Status flushed = store->Flush();
  EXPECT_FALSE(flushed.ok());
  auto page = MustGet(*store, {.group = kGroup, .stream = "s", .start_from_head = true});
  EXPECT_EQ(Messages(page.events), (std::vector<std::string>{"12345", "12345"}));
}

}  // namespace
}  // namespace nimbus::obs

namespace nimbus::obs {
namespace {

// Regression: a Flush() with nothing queued left the writer spinning on its lock.
TEST(LogStoreFlush, WithNothingQueuedReturnsAndLeavesTheWriterIdle) {
  TempDir dir;
  FakeClock clock;
  auto store = OpenStore(clock, dir.path());
  ASSERT_TRUE(store->Flush().ok());
  // The writer must be idle, not spinning on the lock: a spinning writer keeps
  // a core busy, which this thread's CPU time cannot show, so measure the
  // process's CPU time over a quiet 200 ms.
  timespec before{}, after{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &before);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &after);
  double busy_ms = (after.tv_sec - before.tv_sec) * 1e3 + (after.tv_nsec - before.tv_nsec) / 1e6;
  EXPECT_LT(busy_ms, 100.0) << "the log writer is spinning";
  for (int i = 0; i < 100; ++i) store->Append(kGroup, kStream, 1000 + i, "line");
  ASSERT_TRUE(store->Flush().ok());
  store.reset();  // the destructor joins the writer
}

}  // namespace
}  // namespace nimbus::obs
