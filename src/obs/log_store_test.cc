#include "obs/log_store.h"

#include <gtest/gtest.h>
#include <malloc.h>
#include <stdlib.h>

#include <filesystem>
#include <atomic>
#include <set>
#include <fstream>
#include <limits>
#include <thread>
#include <time.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

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
  const int64_t now = ToUnixMillis(clock.Now());
  EXPECT_EQ(store->PutLogEvents("/g", "s", {{now, "a", 0}}).error().code(), Code::kNotFound);
  ASSERT_TRUE(store->CreateLogGroup("/g").ok());
  EXPECT_EQ(store->CreateLogStream("/nope", "s").code(), Code::kNotFound);
  ASSERT_TRUE(store->CreateLogStream("/g", "s").ok());
  EXPECT_EQ(store->CreateLogStream("/g", "s").code(), Code::kConflict);
  EXPECT_EQ(store->PutLogEvents("/g", "s", {{now + 1, "b", 0}, {now, "a", 0}}).error().code(),
            Code::kInvalidArgument);
  auto put = store->PutLogEvents("/g", "s", {{now - 1, "a", 0}, {now, "b", 0}});
  ASSERT_TRUE(put.has_value()) << put.status().ToString();
  EXPECT_FALSE(put->too_new_start_index || put->too_old_end_index || put->expired_end_index);
  auto page = MustGet(*store, {.group = "/g", .stream = "s", .start_from_head = true});
  ASSERT_EQ(page.events.size(), 2u);
  EXPECT_EQ(page.events[1], (LogEvent{now, "b", now}));
}

TEST(LogStore, PutLogEventsRefusesEventsTooOldTooNewOrPastRetentionAndSaysWhichLikeAws) {
  TempDir dir;
  FakeClock clock;
  auto store = OpenStore(clock, dir.path());
  const int64_t now = ToUnixMillis(clock.Now());
  const int64_t day = 86'400'000;
  ASSERT_TRUE(store->CreateLogGroup("/g").ok());
  ASSERT_TRUE(store->CreateLogStream("/g", "s").ok());
  // A batch may span 24 hours at most.
  EXPECT_EQ(store->PutLogEvents("/g", "s", {{now - day - 1, "a", 0}, {now, "b", 0}}).error(),
            InvalidArgument("The batch of log events in a single PutLogEvents request cannot "
                            "span more than 24 hours."));
  // Over 14 days old / over 2 hours ahead.
  auto put = store->PutLogEvents("/g", "s", {{now - 15 * day, "old", 0}, {now - 15 * day + 1, "old", 0}});
  ASSERT_TRUE(put.has_value());
  EXPECT_EQ(put->too_old_end_index, 2);
  put = store->PutLogEvents("/g", "s", {{now, "ok", 0}, {now + 3 * 3'600'000, "new", 0}});
  EXPECT_EQ(put->too_new_start_index, 1);
  EXPECT_FALSE(put->too_old_end_index.has_value());
  // Past the group's retention.
  ASSERT_TRUE(store->PutRetentionPolicy("/g", 1).ok());
  const int64_t hour = 3'600'000;
  put = store->PutLogEvents("/g", "s", {{now - day - hour, "expired", 0}, {now - 2 * hour, "kept", 0}});
  EXPECT_EQ(put->expired_end_index, 1);
  EXPECT_FALSE(put->too_old_end_index.has_value());
  auto page = MustGet(*store, {.group = "/g", .stream = "s", .start_from_head = true});
  EXPECT_EQ(Messages(page.events), (std::vector<std::string>{"ok", "kept"}));
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

constexpr int64_t kDay = 86'400'000;

std::vector<std::string> StreamNames(const LogStore& store, const std::string& group) {
  auto page = store.DescribeLogStreams({.group = group});
  EXPECT_TRUE(page.has_value()) << page.status().ToString();
  std::vector<std::string> out;
  if (page.has_value()) {
    for (const auto& s : page->streams) out.push_back(s.name);
  }
  return out;
}

std::set<std::string> FilesIn(const fs::path& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
  return out;
}

std::vector<std::string> AllIds(const LogStore& store, const std::string& group) {
  auto page = store.FilterLogEvents({.group = group});
  EXPECT_TRUE(page.has_value()) << page.status().ToString();
  std::vector<std::string> out;
  if (page.has_value()) {
    for (const auto& e : page->events) out.push_back(e.event_id);
  }
  return out;
}

TEST(LogStoreRetention, EventsOlderThanTheRetentionAreNeverReturnedOnceItIsSet) {
  TempDir dir;
  FakeClock clock;
  auto store = OpenStore(clock, dir.path());
  const int64_t now = ToUnixMillis(clock.Now());
  store->Append(kGroup, "s", now - 3 * kDay, "three days ago");
  store->Append(kGroup, "s", now - 2 * kDay, "two days ago");
  store->Append(kGroup, "s", now - kDay / 2, "this morning");
  store->Append(kGroup, "s", now, "now");
  ASSERT_TRUE(store->PutRetentionPolicy(kGroup, 1).ok());

  auto page = MustGet(*store, {.group = kGroup, .stream = "s", .start_from_head = true});
  EXPECT_EQ(Messages(page.events), (std::vector<std::string>{"this morning", "now"}));
  // Indexes do not move: the first visible event is #2.
  EXPECT_EQ(page.next_backward_token, "b/2");
  EXPECT_EQ(page.next_forward_token, "f/4");
  auto filtered = store->FilterLogEvents({.group = kGroup});
  EXPECT_EQ(Messages(filtered->events), (std::vector<std::string>{"this morning", "now"}));
  auto groups = store->DescribeLogGroups({});
  EXPECT_EQ(groups->groups[0].retention_in_days, 1);

  // Time passes: "this morning" expires too, without any sweep.
  clock.Advance(std::chrono::hours(13));
  page = MustGet(*store, {.group = kGroup, .stream = "s", .start_from_head = true});
  EXPECT_EQ(Messages(page.events), (std::vector<std::string>{"now"}));

  // Without a retention policy events are kept forever again (those not yet reclaimed).
  ASSERT_TRUE(store->DeleteRetentionPolicy(kGroup).ok());
  EXPECT_FALSE(store->DescribeLogGroups({})->groups[0].retention_in_days.has_value());
}

TEST(LogStoreRetention, PutRetentionPolicyAcceptsOnlyTheValuesAwsAccepts) {
  TempDir dir;
  FakeClock clock;
  auto store = OpenStore(clock, dir.path());
  ASSERT_TRUE(store->CreateLogGroup("/g").ok());
  for (int days : {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192,
                   2557, 2922, 3288, 3653}) {
    EXPECT_TRUE(store->PutRetentionPolicy("/g", days).ok()) << days;
  }
  for (int days : {0, -1, 2, 4, 366, 3654}) {
    EXPECT_EQ(store->PutRetentionPolicy("/g", days).code(), Code::kInvalidArgument) << days;
  }
  EXPECT_EQ(store->PutRetentionPolicy("/g", 2).message(),
            "1 validation error detected: Value '2' at 'retentionInDays' failed to satisfy "
            "constraint: Member must satisfy enum value set: [1, 3, 5, 7, 14, 30, 60, 90, 120, "
            "150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653]");
  EXPECT_EQ(store->PutRetentionPolicy("/none", 1).code(), Code::kNotFound);
  EXPECT_EQ(store->DeleteRetentionPolicy("/none").code(), Code::kNotFound);
}

TEST(LogStoreRetention, TheRetentionSurvivesARestartAndSoDoesItsRemoval) {
  TempDir dir;
  FakeClock clock;
  {
    auto store = OpenStore(clock, dir.path());
    ASSERT_TRUE(store->CreateLogGroup("/a").ok());
    ASSERT_TRUE(store->CreateLogGroup("/b").ok());
    ASSERT_TRUE(store->PutRetentionPolicy("/a", 7).ok());
    ASSERT_TRUE(store->PutRetentionPolicy("/b", 30).ok());
    ASSERT_TRUE(store->PutRetentionPolicy("/b", 14).ok());
    ASSERT_TRUE(store->Flush().ok());
  }
  {
    auto store = OpenStore(clock, dir.path());
    auto groups = store->DescribeLogGroups({});
    ASSERT_EQ(groups->groups.size(), 2u);
    EXPECT_EQ(groups->groups[0].retention_in_days, 7);
    EXPECT_EQ(groups->groups[1].retention_in_days, 14);
    ASSERT_TRUE(store->DeleteRetentionPolicy("/a").ok());
    ASSERT_TRUE(store->Flush().ok());
  }
  auto store = OpenStore(clock, dir.path());
  auto groups = store->DescribeLogGroups({});
  EXPECT_FALSE(groups->groups[0].retention_in_days.has_value());
  EXPECT_EQ(groups->groups[1].retention_in_days, 14);
  EXPECT_EQ(FilesIn(dir.path() / EncodeFileName("/b")),
            (std::set<std::string>{"_group", "_retention"}));
}

TEST(LogStoreRetention, AStreamWhoseEveryEventExpiredIsRemovedWithItsFile) {
  TempDir dir;
  FakeClock clock;
  auto store = OpenStore(clock, dir.path());
  const int64_t now = ToUnixMillis(clock.Now());
  store->Append(kGroup, "old", now - 3 * kDay, "0123456789");
  store->Append(kGroup, "old", now - 2 * kDay, "0123456789");
  store->Append(kGroup, "mixed", now - 2 * kDay, "abc");
  store->Append(kGroup, "mixed", now, "defg");
  ASSERT_TRUE(store->Flush().ok());
  const fs::path group_dir = dir.path() / EncodeFileName(kGroup);
  EXPECT_EQ(FilesIn(group_dir), (std::set<std::string>{"_group", "old.log", "mixed.log"}));
  EXPECT_EQ(store->DescribeLogGroups({})->groups[0].stored_bytes, 27);

  // Setting the policy reclaims at once.
  ASSERT_TRUE(store->PutRetentionPolicy(kGroup, 1).ok());
  EXPECT_EQ(StreamNames(*store, kGroup), (std::vector<std::string>{"mixed"}));
  ASSERT_TRUE(store->Flush().ok());
  EXPECT_EQ(FilesIn(group_dir), (std::set<std::string>{"_group", "_retention", "mixed.log"}));
  EXPECT_EQ(store->DescribeLogGroups({})->groups[0].stored_bytes, 7);

  // Later sweeps take the rest; the group stays, empty, as in AWS.
  clock.Advance(std::chrono::hours(25));
  ASSERT_TRUE(store->EnforceRetention().ok());
  EXPECT_TRUE(StreamNames(*store, kGroup).empty());
  EXPECT_EQ(FilesIn(group_dir), (std::set<std::string>{"_group", "_retention"}));
  EXPECT_EQ(store->DescribeLogGroups({})->groups[0].stored_bytes, 0);

  // The name can be used again, from index 0.
  store->Append(kGroup, "old", ToUnixMillis(clock.Now()), "again");
  auto page = MustGet(*store, {.group = kGroup, .stream = "old", .start_from_head = true});
  EXPECT_EQ(Messages(page.events), (std::vector<std::string>{"again"}));
  EXPECT_EQ(page.next_forward_token, "f/1");
  store.reset();
  store = OpenStore(clock, dir.path());
  page = MustGet(*store, {.group = kGroup, .stream = "old", .start_from_head = true});
  EXPECT_EQ(Messages(page.events), (std::vector<std::string>{"again"}));
}

TEST(LogStoreRetention, GroupsWithoutARetentionKeepEverything) {
  TempDir dir;
  FakeClock clock;
  auto store = OpenStore(clock, dir.path());
  store->Append(kGroup, "s", 1, "from 1970");
  clock.Advance(std::chrono::hours(24 * 4000));
  ASSERT_TRUE(store->EnforceRetention().ok());
  auto page = MustGet(*store, {.group = kGroup, .stream = "s", .start_from_head = true});
  EXPECT_EQ(Messages(page.events), (std::vector<std::string>{"from 1970"}));
}

// A long-lived stream is kept in segments; retention drops the old ones whole.
TEST(LogStoreRetention, ExpiredSegmentsOfALongLivedStreamAreDroppedAndIndexesKept) {
  TempDir dir;
  FakeClock clock;
  LogStoreOptions options;
  options.dir = dir.path();
  options.max_memory_events_per_stream = 3;
  options.max_segment_bytes = 200;  // a few events each
  auto store = std::move(LogStore::Open(clock, options)).value();
  const int64_t now = ToUnixMillis(clock.Now());
  // Ten days of events, ten a day.
  std::vector<std::string> all;
  for (int d = 10; d >= 1; --d) {
    for (int i = 0; i < 10; ++i) {
      std::string m = fmt::format("day-{}-{}", d, i);
      store->Append(kGroup, "long", now - d * kDay + i, m);
      all.push_back(m);
    }
  }
  ASSERT_TRUE(store->Flush().ok());
  const fs::path group_dir = dir.path() / EncodeFileName(kGroup);
  const size_t segments_before = FilesIn(group_dir).size() - 1;
  EXPECT_GT(segments_before, 10u);
  const std::vector<std::string> ids_before = AllIds(*store, kGroup);
  ASSERT_EQ(ids_before.size(), 100u);
  auto before = MustGet(*store, {.group = kGroup, .stream = "long", .limit = 5});
  EXPECT_EQ(before.next_forward_token, "f/100");

  ASSERT_TRUE(store->PutRetentionPolicy(kGroup, 5).ok());
  ASSERT_TRUE(store->Flush().ok());
  // Events of days 5..1 are visible, with the ids and indexes they had.
  auto page = MustGet(*store, {.group = kGroup, .stream = "long", .start_from_head = true});
  EXPECT_EQ(Messages(page.events), std::vector<std::string>(all.begin() + 50, all.end()));
  EXPECT_EQ(page.next_backward_token, "b/50");
  EXPECT_EQ(AllIds(*store, kGroup),
            std::vector<std::string>(ids_before.begin() + 50, ids_before.end()));
  // About half of the segment files are gone: the first segment, and those
  // wholly before the cutoff; the one straddling it stays.
  std::set<std::string> files = FilesIn(group_dir);
  EXPECT_FALSE(files.count("long.log"));
  EXPECT_LT(files.size() - 2, segments_before * 6 / 10);
  EXPECT_GT(files.size() - 2, segments_before * 4 / 10);
  auto streams = store->DescribeLogStreams({.group = kGroup});
  EXPECT_LT(streams->streams[0].stored_bytes, 600);
  EXPECT_GE(*streams->streams[0].first_event_timestamp_ms, now - 6 * kDay);

  // Appends continue at index 100, and everything reads back after a restart.
  store->Append(kGroup, "long", now, "today");
  auto next = MustGet(*store, {.group = kGroup, .stream = "long",
                               .next_token = before.next_forward_token});
  EXPECT_EQ(Messages(next.events), (std::vector<std::string>{"today"}));
  ASSERT_TRUE(store->Flush().ok());
  store.reset();
  store = std::move(LogStore::Open(clock, options)).value();
  page = MustGet(*store, {.group = kGroup, .stream = "long", .start_from_head = true});
  std::vector<std::string> expected(all.begin() + 50, all.end());
  expected.push_back("today");
  EXPECT_EQ(Messages(page.events), expected);
  EXPECT_EQ(page.next_forward_token, "f/101");
  EXPECT_EQ(page.next_backward_token, "b/50");
  std::vector<std::string> ids_after = AllIds(*store, kGroup);
  ids_after.pop_back();
  EXPECT_EQ(ids_after, std::vector<std::string>(ids_before.begin() + 50, ids_before.end()));
}

TEST(LogStoreRetention, TheWriterSweepsOnItsOwnAsTheInjectedClockPasses) {
  TempDir dir;
  FakeClock clock;
  LogStoreOptions options;
  options.dir = dir.path();
  options.retention_sweep_interval = std::chrono::milliseconds(5);
  auto store = std::move(LogStore::Open(clock, options)).value();
  store->Append(kGroup, "s", ToUnixMillis(clock.Now()), "x");
  ASSERT_TRUE(store->PutRetentionPolicy(kGroup, 1).ok());
  ASSERT_TRUE(store->Flush().ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  EXPECT_EQ(StreamNames(*store, kGroup), (std::vector<std::string>{"s"}));
  clock.Advance(std::chrono::hours(25));
  for (int i = 0; i < 400 && !StreamNames(*store, kGroup).empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_TRUE(StreamNames(*store, kGroup).empty());
}

TEST(LogStoreRetention, AReadRacingASweepSkipsReclaimedFilesInsteadOfFailing) {
  TempDir dir;
  FakeClock clock;
  auto store = OpenStore(clock, dir.path(), /*memory_events=*/1);
  const int64_t now = ToUnixMillis(clock.Now());
  ASSERT_TRUE(store->CreateLogGroup("/g").ok());
  ASSERT_TRUE(store->PutRetentionPolicy("/g", 1).ok());
  std::atomic<bool> stop = false;
  std::thread reader([&] {
    while (!stop) {
      auto page = store->FilterLogEvents({.group = "/g"});
      ASSERT_TRUE(page.has_value()) << page.status().ToString();
    }
  });
  for (int round = 0; round < 30; ++round) {
    for (int i = 0; i < 20; ++i) store->Append("/g", fmt::format("s{}", i), now, "line");
    ASSERT_TRUE(store->Flush().ok());
    clock.Advance(std::chrono::hours(25));
    ASSERT_TRUE(store->EnforceRetention().ok());
  }
  stop = true;
  reader.join();
}

TEST(LogStore, AFullSegmentIsFollowedByAFileNamedAfterItsFirstEventIndex) {
  TempDir dir;
  FakeClock clock;
  LogStoreOptions options;
  options.dir = dir.path();
  options.max_segment_bytes = 80;  // a 38-byte header and two 26-byte events
  auto store = std::move(LogStore::Open(clock, options)).value();
  for (int i = 0; i < 5; ++i) store->Append(kGroup, "s", 100 + i, fmt::format("event-{}", i));
  ASSERT_TRUE(store->Flush().ok());
  const fs::path group_dir = dir.path() / EncodeFileName(kGroup);
  EXPECT_EQ(FilesIn(group_dir), (std::set<std::string>{"_group", "s.log", "s.2.log", "s.4.log"}));
  std::ifstream in(group_dir / "s.2.log");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text,
            "#nimbus-log-stream v1\t1714564800000\ts\n"
            "102\t1714564800000\tevent-2\n"
            "103\t1714564800000\tevent-3\n");
}

// The on-disk format before segments and retention: one <enc>.log per stream.
TEST(LogStore, ADirectoryWrittenBeforeSegmentsAndRetentionExistedStillLoads) {
  TempDir dir;
  const fs::path group_dir = dir.path() / "%2Fold";
  fs::create_directories(group_dir);
  std::ofstream(group_dir / "_group") << "#nimbus-log-group v1\t1700000000000\t/old\n";
  std::ofstream(group_dir / "stream.log") << "#nimbus-log-stream v1\t1700000000001\tstream\n"
                                          << "5\t6\tfirst\n"
                                          << "7\t8\tsecond\n";
  FakeClock clock;
  auto store = OpenStore(clock, dir.path());
  auto page = MustGet(*store, {.group = "/old", .stream = "stream", .start_from_head = true});
  EXPECT_EQ(page.events, (std::vector<LogEvent>{{5, "first", 6}, {7, "second", 8}}));
  EXPECT_EQ(page.next_forward_token, "f/2");
  auto groups = store->DescribeLogGroups({});
  EXPECT_EQ(groups->groups[0].creation_time_ms, 1700000000000);
  EXPECT_FALSE(groups->groups[0].retention_in_days.has_value());
  store->Append("/old", "stream", 9, "third");
  ASSERT_TRUE(store->Flush().ok());
  EXPECT_EQ(FilesIn(group_dir), (std::set<std::string>{"_group", "stream.log"}));
}

TEST(LogStore, DescribeLogGroupsMatchesACaseSensitiveSubstringPattern) {
  TempDir dir;
  FakeClock clock;
  auto store = OpenStore(clock, dir.path());
  for (auto g : {"DataLogs", "aws/DataLogs", "GroupDataLogs", "datalogs", "Data/log/s"}) {
    ASSERT_TRUE(store->CreateLogGroup(g).ok());
  }
  std::vector<std::string> names;
  std::string token;
  for (int i = 0; i < 5; ++i) {
    auto page = store->DescribeLogGroups({.pattern = "DataLogs", .limit = 2, .next_token = token});
    ASSERT_TRUE(page.has_value());
    for (const auto& g : page->groups) names.push_back(g.name);
    token = page->next_token;
    if (token.empty()) break;
  }
  EXPECT_EQ(names, (std::vector<std::string>{"DataLogs", "GroupDataLogs", "aws/DataLogs"}));
  EXPECT_EQ(store->DescribeLogGroups({.prefix = "D", .pattern = "D"}).error().code(),
            Code::kInvalidArgument);
}

TEST(LogStore, FilterLogEventsPagesThroughEveryEventExactlyOnceInterleavedByTime) {
  TempDir dir;
  FakeClock clock;
  auto store = OpenStore(clock, dir.path(), /*memory_events=*/4);
  // Three streams with interleaved and repeated timestamps.
  std::vector<std::tuple<int64_t, std::string, std::string>> expected;
  for (int i = 0; i < 60; ++i) {
    std::string stream = fmt::format("env-{}", i % 3);
    int64_t ts = 1000 + (i * 7) % 23;
    std::string message = fmt::format("{} {}", i % 2 ? "odd" : "even", i);
    store->Append(kGroup, stream, ts, message);
    if (i % 2 == 0 && ts >= 1003 && ts <= 1020 && stream != "env-2") {
      expected.emplace_back(ts, stream, message);
    }
  }
  store->Append("/other", "env-0", 1005, "even other group");
  ASSERT_TRUE(store->Flush().ok());
  std::stable_sort(expected.begin(), expected.end(), [](const auto& a, const auto& b) {
    return std::tie(std::get<0>(a), std::get<1>(a)) < std::tie(std::get<0>(b), std::get<1>(b));
  });
  std::vector<std::tuple<int64_t, std::string, std::string>> got;
  std::set<std::string> ids;
  std::string token;
  int pages = 0;
  do {
    auto page = store->FilterLogEvents({.group = kGroup,
                                        .stream_names = {"env-0", "env-1", "missing"},
                                        .start_time_ms = 1003,
                                        .end_time_ms = 1020,
                                        .filter_pattern = "even",
                                        .limit = 4,
                                        .next_token = token});
    ASSERT_TRUE(page.has_value()) << page.status().ToString();
    EXPECT_LE(page->events.size(), 4u);
    for (const auto& e : page->events) {
      got.emplace_back(e.event.timestamp_ms, e.stream, e.event.message);
      ids.insert(e.event_id);
    }
    token = page->next_token;
    ASSERT_LT(++pages, 100);
  } while (!token.empty());
  EXPECT_EQ(got, expected);
  EXPECT_EQ(ids.size(), expected.size());

  auto by_prefix = store->FilterLogEvents({.group = kGroup, .stream_name_prefix = "env-2"});
  EXPECT_EQ(by_prefix->events.size(), 20u);
  EXPECT_EQ(by_prefix->searched_streams, (std::vector<std::string>{"env-2"}));
  auto bad = store->FilterLogEvents({.group = kGroup, .filter_pattern = "{ $.a = "});
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code(), Code::kInvalidArgument);
  EXPECT_EQ(bad.error().message().rfind("Invalid filter pattern", 0), 0u);
}

// What `aws logs tail --follow` relies on: poll from the newest timestamp seen,
// dropping the event ids already printed.
TEST(LogStore, PollingFilterLogEventsFromTheLastTimestampSeesEveryNewEventOnce) {
  TempDir dir;
  FakeClock clock;
  auto store = OpenStore(clock, dir.path());
  std::vector<std::string> printed;
  std::set<std::string> seen;
  int64_t start = 0;
  auto poll = [&] {
    std::string token;
    do {
      auto page = store->FilterLogEvents({.group = kGroup, .start_time_ms = start,
                                          .limit = 2, .next_token = token});
      ASSERT_TRUE(page.has_value());
      for (const auto& e : page->events) {
        if (seen.insert(e.event_id).second) printed.push_back(e.event.message);
        start = std::max(start, e.event.timestamp_ms);
      }
      token = page->next_token;
    } while (!token.empty());
  };
  store->Append(kGroup, "a", 10, "a1");
  store->Append(kGroup, "b", 10, "b1");
  poll();
  store->Append(kGroup, "a", 10, "a2 same ms");
  store->Append(kGroup, "b", 11, "b2");
  poll();
  poll();
  store->Append(kGroup, "c", 12, "c1 new stream");
  poll();
  EXPECT_EQ(printed, (std::vector<std::string>{"a1", "b1", "a2 same ms", "b2", "c1 new stream"}));
}

TEST(LogStore, GetLogEventsForwardTokenAtTheEndPicksUpLaterEvents) {
  TempDir dir;
  FakeClock clock;
  auto store = OpenStore(clock, dir.path());
  store->Append(kGroup, kStream, 1, "one");
  auto page = MustGet(*store, {.group = kGroup, .stream = kStream, .start_from_head = true});
  EXPECT_EQ(page.next_forward_token, "f/1");
  auto again = MustGet(*store, {.group = kGroup, .stream = kStream,
                                .next_token = page.next_forward_token});
  EXPECT_TRUE(again.events.empty());
  EXPECT_EQ(again.next_forward_token, "f/1");
  EXPECT_EQ(again.next_backward_token, "b/1");
  store->Append(kGroup, kStream, 2, "two");
  again = MustGet(*store, {.group = kGroup, .stream = kStream,
                           .next_token = again.next_forward_token});
  EXPECT_EQ(Messages(again.events), (std::vector<std::string>{"two"}));
  // Reading backward from the start gives the same backward token back.
  auto back = MustGet(*store, {.group = kGroup, .stream = kStream, .next_token = "b/0"});
  EXPECT_TRUE(back.events.empty());
  EXPECT_EQ(back.next_backward_token, "b/0");
}

// Everything the read APIs say about `group`, as lines to compare: the streams
// (DescribeLogStreams), each stream read forward and backward a few events per
// page and in a time range (GetLogEvents), and the group filtered a few events
// per page, with and without a pattern (FilterLogEvents), tokens and ids included.
std::vector<std::string> ReadEverything(const LogStore& store, const std::string& group) {
  std::vector<std::string> out;
  std::vector<std::string> streams;
  std::string token;
  do {
    auto page = store.DescribeLogStreams({.group = group, .limit = 7, .next_token = token});
    if (!page.has_value()) return {page.status().ToString()};
    for (const auto& s : page->streams) {
      streams.push_back(s.name);
      out.push_back(fmt::format("stream {} created {} first {} last {} ingested {} bytes {}",
                                s.name, s.creation_time_ms, s.first_event_timestamp_ms.value_or(-1),
                                s.last_event_timestamp_ms.value_or(-1),
                                s.last_ingestion_time_ms.value_or(-1), s.stored_bytes));
    }
    token = page->next_token;
  } while (!token.empty());
  auto events = [&](std::string_view what, const GetLogEventsPage& page) {
    out.push_back(
        fmt::format("{} -> {} {}", what, page.next_forward_token, page.next_backward_token));
    for (const auto& e : page.events) {
      out.push_back(
          fmt::format("  {} {} {}", e.timestamp_ms, e.ingestion_time_ms, EscapeLogLine(e.message)));
    }
  };
  for (const auto& stream : streams) {
    for (bool forward : {true, false}) {
      GetLogEventsRequest r{
          .group = group, .stream = stream, .start_from_head = forward, .limit = 3};
      for (int pages = 0; pages < 100; ++pages) {
        auto page = store.GetLogEvents(r);
        if (!page.has_value()) return {page.status().ToString()};
        events(fmt::format("get {} {}", stream, r.next_token), *page);
        std::string next = forward ? page->next_forward_token : page->next_backward_token;
        if (page->events.empty() || next == r.next_token) break;
        r.next_token = next;
      }
    }
    auto range = store.GetLogEvents({.group = group,
                                     .stream = stream,
                                     .start_time_ms = 1010,
                                     .end_time_ms = 1030,
                                     .start_from_head = true});
    if (!range.has_value()) return {range.status().ToString()};
    events(fmt::format("range {}", stream), *range);
  }
  for (std::string pattern : {"", "START", "\"END\""}) {
    FilterLogEventsRequest r{.group = group, .filter_pattern = pattern, .limit = 7};
    for (int pages = 0; pages < 1000; ++pages) {
      auto page = store.FilterLogEvents(r);
      if (!page.has_value()) return {page.status().ToString()};
      out.push_back(fmt::format("filter {} {} -> {} searched {}", pattern, r.next_token,
                                page->next_token, fmt::join(page->searched_streams, ",")));
      for (const auto& e : page->events) {
        out.push_back(fmt::format("  {} {} {} {} {}", e.stream, e.event_id, e.event.timestamp_ms,
                                  e.event.ingestion_time_ms, EscapeLogLine(e.event.message)));
      }
      if (page->next_token.empty()) break;
      r.next_token = page->next_token;
    }
  }
  return out;
}

std::unique_ptr<LogStore> OpenStore(const Clock& clock, LogStoreOptions options) {
  auto store = LogStore::Open(clock, std::move(options));
  EXPECT_TRUE(store.has_value()) << store.status().ToString();
  return std::move(store).value();
}

TEST(LogStoreMemory, ReadsAreTheSameWhetherTheEventsAreInMemoryOrOnlyInTheirFiles) {
  TempDir dir;
  FakeClock clock;
  // Small segments, so that streams span several files.
  LogStoreOptions options{.dir = dir.path() / "all", .max_segment_bytes = 400};
  options.max_memory_bytes_total = std::numeric_limits<size_t>::max();
  options.memory_idle_timeout = std::chrono::hours(1000);
  auto all_in_memory = OpenStore(clock, options);
  // Room for a few streams' tails only: most reads come from the files.
  constexpr size_t kBudget = 3000;
  options.dir = dir.path() / "few";
  options.max_memory_bytes_total = kBudget;
  auto few_in_memory = OpenStore(clock, options);

  const std::string messages[] = {"START RequestId: 1", "a line\twith\ttabs\n",
                                  "back\\slash",        "",
                                  "END RequestId: 1",   "REPORT x"};
  for (int round = 0; round < 6; ++round) {
    for (int s = 0; s < 60; ++s) {
      // Streams get from 0 to 4 events a round, at timestamps that tie and
      // interleave across streams.
      for (int e = 0; e < (s + round) % 5; ++e) {
        const int64_t ts = 1000 + (s * 7 + round * 13 + e) % 50;
        const std::string& message = messages[(s + e + round) % 6];
        const std::string stream = fmt::format("2024/05/01/[$LATEST]{:032x}", s);
        all_in_memory->Append(kGroup, stream, ts, message);
        few_in_memory->Append(kGroup, stream, ts, message);
      }
    }
    clock.Advance(std::chrono::milliseconds(1));
    // Every other round some events are not written yet.
    if (round % 2 == 0) {
      ASSERT_TRUE(all_in_memory->Flush().ok());
      ASSERT_TRUE(few_in_memory->Flush().ok());
      EXPECT_LE(few_in_memory->memory_bytes(), kBudget);
      EXPECT_GT(few_in_memory->memory_bytes(), 0u) << "the most recent tails stay";
    }
    auto expected = ReadEverything(*all_in_memory, kGroup);
    ASSERT_GT(expected.size(), 100u);
    EXPECT_EQ(ReadEverything(*few_in_memory, kGroup), expected) << "round " << round;
  }
  EXPECT_GT(all_in_memory->memory_bytes(), 10 * kBudget);

  auto expected = ReadEverything(*all_in_memory, kGroup);
  all_in_memory.reset();
  few_in_memory.reset();
  // After a restart, when every event is in the files only.
  options.dir = dir.path() / "all";
  all_in_memory = OpenStore(clock, options);
  EXPECT_EQ(all_in_memory->memory_bytes(), 0u);
  EXPECT_EQ(ReadEverything(*all_in_memory, kGroup), expected);
  options.dir = dir.path() / "few";
  few_in_memory = OpenStore(clock, options);
  EXPECT_EQ(ReadEverything(*few_in_memory, kGroup), expected);
}

TEST(LogStoreMemory, EventsNotYetWrittenStayInMemoryWhateverTheBudgetAndIdleTime) {
  TempDir dir;
  FakeClock clock;
  LogStoreOptions options{.dir = dir.path() / "logs", .retry_delay = std::chrono::milliseconds(1)};
  options.max_memory_bytes_total = 0;
  options.memory_idle_timeout = std::chrono::milliseconds(0);
  auto store = OpenStore(clock, options);
  // The "disk" is a regular file, so every write fails.
  fs::remove_all(options.dir);
  std::ofstream(options.dir) << "not a directory";
  for (int s = 0; s < 5; ++s) {
    for (int e = 0; e < 3; ++e) store->Append(kGroup, fmt::format("s{}", s), e, "unwritten");
  }
  const auto expected = ReadEverything(*store, kGroup);
  ASSERT_EQ(store->FilterLogEvents({.group = kGroup})->events.size(), 15u);
  // Past the idle timeout and a periodic pass; the second failure comes from a
  // writer pass that began after the clock moved.
  clock.Advance(std::chrono::minutes(10));
  EXPECT_FALSE(store->Flush().ok());
  EXPECT_FALSE(store->Flush().ok());
  EXPECT_GE(store->memory_bytes(), 15 * sizeof(LogEvent));
  EXPECT_EQ(ReadEverything(*store, kGroup), expected);

  // The disk comes back: the events are written, and only then leave memory.
  fs::remove(options.dir);
  Status flushed = store->Flush();
  for (int i = 0; i < 100 && !flushed.ok(); ++i) flushed = store->Flush();
  ASSERT_TRUE(flushed.ok()) << flushed.ToString();
  EXPECT_EQ(store->memory_bytes(), 0u);
  EXPECT_EQ(ReadEverything(*store, kGroup), expected);
}

TEST(LogStoreMemory, AStreamIdleForTheTimeoutLosesItsTailAtTheNextPassButNoEvent) {
  TempDir dir;
  FakeClock clock;
  LogStoreOptions options{.dir = dir.path()};
  auto store = OpenStore(clock, options);
  for (int i = 0; i < 3; ++i) store->Append(kGroup, "idle", 100 + i, fmt::format("line {}", i));
  ASSERT_TRUE(store->Flush().ok());
  EXPECT_GE(store->memory_bytes(), 3 * sizeof(LogEvent));
  const auto expected = ReadEverything(*store, kGroup);

  clock.Advance(options.memory_idle_timeout + options.retention_sweep_interval);
  // Any operation wakes the writer, which makes its periodic pass first.
  ASSERT_TRUE(store->CreateLogGroup("/wake/up").ok());
  ASSERT_TRUE(store->Flush().ok());
  EXPECT_EQ(store->memory_bytes(), 0u);
  EXPECT_EQ(ReadEverything(*store, kGroup), expected);

  // Appending again gives it a tail again.
  store->Append(kGroup, "idle", 200, "again");
  ASSERT_TRUE(store->Flush().ok());
  EXPECT_GE(store->memory_bytes(), sizeof(LogEvent) + 5);
  auto page = MustGet(*store, {.group = kGroup, .stream = "idle", .start_from_head = true});
  EXPECT_EQ(Messages(page.events),
            (std::vector<std::string>{"line 0", "line 1", "line 2", "again"}));
}

TEST(LogStoreMemory, DeletingAGroupOrExpiringAStreamFreesItsTail) {
  TempDir dir;
  FakeClock clock;
  LogStoreOptions options{.dir = dir.path()};
  options.memory_idle_timeout = std::chrono::hours(1000);
  auto store = OpenStore(clock, options);
  const int64_t now = ToUnixMillis(clock.Now());
  store->Append("/deleted", "s", now, "gone with the group");
  ASSERT_TRUE(store->DeleteLogGroup("/deleted").ok());
  EXPECT_EQ(store->memory_bytes(), 0u);
  store->Append("/expiring", "s", now, "gone with the retention");
  ASSERT_TRUE(store->Flush().ok());
  ASSERT_TRUE(store->PutRetentionPolicy("/expiring", 1).ok());
  clock.Advance(std::chrono::hours(25));
  ASSERT_TRUE(store->EnforceRetention().ok());
  EXPECT_EQ(StreamNames(*store, "/expiring"), std::vector<std::string>{});
  EXPECT_EQ(store->memory_bytes(), 0u);
}

// What an idle stream (its events written and out of memory) costs: its names,
// counters and segment. Measured with AWS-like names and five events per stream
// (an execution environment's INIT_START, START, an error, END, REPORT): ~615 B
// per stream (std::deque tails and a std::filesystem::path per segment made it
// ~3,100 B, as a long-running host making many cold starts saw). The bound is
// loose; a regression to either costs more than it allows.
TEST(LogStoreMemory, AnIdleStreamCostsLessThanAKilobyteOfHeap) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || !defined(__GLIBC__)
  GTEST_SKIP() << "measures glibc's heap (mallinfo2), which sanitizers replace";
#else
  TempDir dir;
  FakeClock clock;
  LogStoreOptions options{.dir = dir.path() / "logs"};
  options.max_memory_bytes_total = 0;  // tails leave memory once written
  auto store = OpenStore(clock, options);
  const std::string group = "/aws/lambda/churn";
  store->Append(group, "warm-up", 1, "x");
  ASSERT_TRUE(store->Flush().ok());
  constexpr int kStreams = 10'000;
  const size_t before = mallinfo2().uordblks;
  for (int i = 0; i < kStreams; ++i) {
    const std::string stream = fmt::format("2024/05/01/[$LATEST]{:032x}", i);
    const std::string id = fmt::format("8f5c2e1a-0b7d-4c3e-9a6f-{:012x}", i);
    store->Append(group, stream, 1,
                  "INIT_START Runtime Version: python:3.12.v38\tRuntime Version ARN: "
                  "arn:aws:lambda:us-east-1::runtime:0123456789abcdef0123456789abcdef\n");
    store->Append(group, stream, 2, fmt::format("START RequestId: {} Version: $LATEST\n", id));
    store->Append(group, stream, 3,
                  fmt::format("RequestId: {} Error: Runtime exited with error: exit status 3\n"
                              "Runtime.ExitError\n",
                              id));
    store->Append(group, stream, 4, fmt::format("END RequestId: {}\n", id));
    store->Append(group, stream, 5,
                  fmt::format("REPORT RequestId: {}\tDuration: 12.34 ms\tBilled Duration: 13 ms\t"
                              "Memory Size: 128 MB\tMax Memory Used: 21 MB\n",
                              id));
    // Keeps the write queue short, so that it does not count.
    if (i % 1000 == 999) {
      ASSERT_TRUE(store->Flush().ok());
    }
  }
  ASSERT_TRUE(store->Flush().ok());
  EXPECT_EQ(store->memory_bytes(), 0u);
  const double per_stream =
      static_cast<double>(mallinfo2().uordblks - before) / static_cast<double>(kStreams);
  RecordProperty("heap_bytes_per_idle_stream", static_cast<int>(per_stream));
  EXPECT_LT(per_stream, 1024.0);
#endif
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
