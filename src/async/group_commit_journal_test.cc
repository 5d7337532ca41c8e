#include "async/group_commit_journal.h"

#include <gtest/gtest.h>

#include <future>

#include "storage/testing/temp_dir.h"

namespace nimbus::async {
namespace {

Event MakeEvent(int64_t id) {
  Event e;
  e.id = id;
  e.request_id = "r" + std::to_string(id);
  e.function = "f";
  e.function_ref = "f";
  e.config_qualifier = "$LATEST";
  e.payload = R"({"n":)" + std::to_string(id) + "}";
  return e;
}

class GroupCommitJournalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    reactor_.Start();
    auto store = EventStore::Open(dir_.path() / "async.db");
    ASSERT_TRUE(store.has_value());
    OnReactor([&] { journal_ = std::make_unique<GroupCommitJournal>(reactor_, std::move(*store)); });
  }
  void TearDown() override {
    OnReactor([&] { journal_.reset(); });
    reactor_.Stop();
  }
  template <typename F>
  void OnReactor(F fn) {
    std::promise<void> done;
    reactor_.Post([&] {
      fn();
      done.set_value();
    });
    done.get_future().wait();
  }

  storage::testing::TempDir dir_;
  Reactor reactor_{"test-reactor"};
  std::unique_ptr<GroupCommitJournal> journal_;
};

TEST_F(GroupCommitJournalTest, ConcurrentWritesShareCommitsAndAllBecomeDurableInOrder) {
  constexpr int kWrites = 500;
  std::promise<void> all;
  int done = 0;
  std::vector<int> order;
  OnReactor([&] {
    for (int i = 1; i <= kWrites; ++i) {
      WriteBatch b;
      b.inserts.push_back(MakeEvent(i));
      journal_->Write(std::move(b), [&, i](Status s) {
        EXPECT_TRUE(s.ok()) << s.ToString();
        order.push_back(i);
        if (++done == kWrites) all.set_value();
      });
    }
  });
  all.get_future().wait();
  JournalStats stats;
  OnReactor([&] { stats = journal_->stats(); });
  EXPECT_EQ(stats.batches, kWrites);
  EXPECT_LE(stats.commits, 2) << "writes queued during a commit go into the next one";
  EXPECT_TRUE(std::is_sorted(order.begin(), order.end()));
  OnReactor([&] { journal_.reset(); });
  auto store = EventStore::Open(dir_.path() / "async.db");
  ASSERT_TRUE(store.has_value());
  EXPECT_EQ((*store)->LoadEvents()->size(), static_cast<size_t>(kWrites));
}

TEST_F(GroupCommitJournalTest, FlushRunsAfterEverythingWrittenBeforeIt) {
  std::promise<void> flushed;
  bool written = false;
  OnReactor([&] {
    WriteBatch b;
    b.inserts.push_back(MakeEvent(1));
    journal_->Write(std::move(b), [&](Status) { written = true; });
    journal_->Flush([&] {
      EXPECT_TRUE(written);
      flushed.set_value();
    });
  });
  flushed.get_future().wait();
  bool idle = false;
  OnReactor([&] { idle = journal_->idle(); });
  EXPECT_TRUE(idle);
}

}  // namespace
}  // namespace nimbus::async
