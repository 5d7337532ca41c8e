#include "async/event_store.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "storage/testing/temp_dir.h"

namespace nimbus::async {
namespace {

Event MakeEvent(int64_t id, std::string payload) {
  Event e;
  e.id = id;
  e.request_id = "req-" + std::to_string(id);
  e.function = "f";
  e.function_ref = "arn:aws:lambda:us-east-1:000000000000:function:f";
  e.qualifier = "";
  e.config_qualifier = "$LATEST";
  e.invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:f";
  e.payload = std::move(payload);
  e.trace_id = "Root=1-abc";
  e.enqueued_ms = 1714564800000 + id;
  return e;
}

TEST(EventStoreTest, EventsAndConfigsWrittenInABatchAreLoadedAfterReopen) {
  storage::testing::TempDir dir;
  {
    auto s = EventStore::Open(dir.path() / "async.db");
    ASSERT_TRUE(s.has_value()) << s.error().ToString();
    WriteBatch b;
    b.inserts = {MakeEvent(1, R"({"a":1})"), MakeEvent(2, std::string("bin\0ary", 7))};
    EventInvokeConfig c;
    c.function = "f";
    c.qualifier = "$LATEST";
    c.maximum_retry_attempts = 1;
    c.on_failure = "arn:aws:lambda:us-east-1:000000000000:function:d";
    c.last_modified_ms = 5;
    b.config_puts = {c};
    ASSERT_TRUE((*s)->Apply(b).ok());
  }
  auto s = EventStore::Open(dir.path() / "async.db");
  ASSERT_TRUE(s.has_value());
  auto events = (*s)->LoadEvents();
  ASSERT_TRUE(events.has_value());
  ASSERT_EQ(events->size(), 2u);
  EXPECT_EQ((*events)[0], MakeEvent(1, R"({"a":1})"));
  EXPECT_EQ((*events)[1].payload, std::string("bin\0ary", 7));
  auto configs = (*s)->LoadConfigs();
  ASSERT_TRUE(configs.has_value());
  ASSERT_EQ(configs->size(), 1u);
  EXPECT_EQ((*configs)[0].maximum_retry_attempts, 1);
  EXPECT_FALSE((*configs)[0].maximum_event_age_seconds.has_value());
}

TEST(EventStoreTest, UpdatesAndDeletesApplyAfterTheInsertsOfTheSameBatch) {
  storage::testing::TempDir dir;
  auto s = EventStore::Open(dir.path() / "async.db");
  ASSERT_TRUE(s.has_value());
  WriteBatch b;
  b.inserts = {MakeEvent(1, "{}"), MakeEvent(2, "{}")};
  Event u = MakeEvent(2, "");
  u.attempts = 2;
  u.not_before_ms = 99;
  b.updates = {u};
  b.deletes = {1};
  ASSERT_TRUE((*s)->Apply(b).ok());
  auto events = (*s)->LoadEvents();
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].id, 2);
  EXPECT_EQ((*events)[0].attempts, 2);
  EXPECT_EQ((*events)[0].not_before_ms, 99);
  EXPECT_EQ((*events)[0].payload, "{}") << "an update does not touch the payload";
}

TEST(EventStoreTest, ACommittedBatchSurvivesAProcessThatDiesWithoutClosingTheDatabase) {
  storage::testing::TempDir dir;
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto s = EventStore::Open(dir.path() / "async.db");
    if (!s.has_value()) ::_exit(2);
    for (int64_t id = 1; id <= 100; ++id) {
      WriteBatch b;
      b.inserts = {MakeEvent(id, "{}")};
      if (id % 10 == 0) b.deletes = {id - 1};
      if (!(*s)->Apply(b).ok()) ::_exit(3);
    }
    ::_exit(0);  // no destructor: the WAL is never checkpointed or closed
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  auto s = EventStore::Open(dir.path() / "async.db");
  ASSERT_TRUE(s.has_value()) << s.error().ToString();
  auto events = (*s)->LoadEvents();
  ASSERT_TRUE(events.has_value());
  EXPECT_EQ(events->size(), 90u);
  EXPECT_EQ(events->back().id, 100);
}

}  // namespace
}  // namespace nimbus::async
