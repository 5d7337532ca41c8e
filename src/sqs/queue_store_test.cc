#include "sqs/queue_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

namespace nimbus::sqs {
namespace {

constexpr const char* kArn = "arn:aws:sqs:us-east-1:000000000000:";

class QueueStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/nimbus-sqs-test-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    dir_ = dir;
    Reopen();
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Reopen() {
    store_.reset();
    auto s = QueueStore::Open(dir_ / "sqs.db", kArn);
    ASSERT_TRUE(s.has_value()) << s.error().ToString();
    store_ = std::move(*s);
  }
  void Create(const std::string& name, std::map<std::string, std::string> extra = {}) {
    auto a = DefaultQueueAttributes(name.ends_with(".fifo"));
    for (auto& [k, v] : extra) a[k] = v;
    ASSERT_TRUE(store_->CreateQueue(name, a).has_value());
  }
  SendResult Send(const std::string& q, const std::string& body, const std::string& group = "",
                  const std::string& dedup = "") {
    SendRequest r;
    r.body = body;
    r.group_id = group;
    r.dedup_id = dedup.empty() ? body : dedup;
    auto out = store_->Send(q, r, now_);
    EXPECT_TRUE(out.has_value());
    return out.has_value() ? *out : SendResult{};
  }
  std::vector<std::string> Bodies(const std::vector<Message>& ms) {
    std::vector<std::string> out;
    for (const auto& m : ms) out.push_back(m.body);
    return out;
  }

  std::filesystem::path dir_;
  std::unique_ptr<QueueStore> store_;
  int64_t now_ = 1'000'000;
};

TEST(MessageAttributesMd5Test, MatchesValuesOtherImplementationsPublish) {
  // Vectors from other SQS implementations' tests, checked there against the SDKs.
  MessageAttributes two = {{"ordinal", {"Number", "1", ""}}, {"category", {"String", "test", ""}}};
  EXPECT_EQ(Md5OfMessageAttributes(two), "d21ae90c49061e927f57df5f5d72be1f");
  MessageAttributes one = {{"timestamp", {"Number", "1493147359900", ""}}};
  EXPECT_EQ(Md5OfMessageAttributes(one), "235c5c510d26fb653d073faed50ae77c");
  EXPECT_EQ(Md5OfMessageAttributes({}), "");
}

TEST_F(QueueStoreTest, VisibilityTimeoutHidesAReceivedMessageUntilItEndsOrItIsDeleted) {
  Create("q", {{"VisibilityTimeout", "10"}});
  Send("q", "one");
  auto first = store_->Receive("q", 10, std::nullopt, now_);
  ASSERT_TRUE(first.has_value());
  ASSERT_EQ(Bodies(*first), std::vector<std::string>{"one"});
  EXPECT_EQ((*first)[0].receive_count, 1);
  EXPECT_TRUE(store_->Receive("q", 10, std::nullopt, now_ + 9'000)->empty());
  auto again = store_->Receive("q", 10, std::nullopt, now_ + 10'000);
  ASSERT_EQ(again->size(), 1u);
  EXPECT_EQ((*again)[0].receive_count, 2);
  EXPECT_NE((*again)[0].receipt, (*first)[0].receipt);
  EXPECT_TRUE(*store_->Delete("q", (*again)[0].receipt));
  EXPECT_FALSE(*store_->Delete("q", (*again)[0].receipt)) << "deleting twice is not an error";
  EXPECT_TRUE(store_->Receive("q", 10, std::nullopt, now_ + 100'000)->empty());
}

TEST_F(QueueStoreTest, MessagesSurviveReopeningAndDelaysHoldThemBack) {
  Create("q");
  SendRequest r;
  r.body = "later";
  r.delay_seconds = 5;
  ASSERT_TRUE(store_->Send("q", r, now_).has_value());
  Send("q", "now");
  Reopen();
  EXPECT_EQ(Bodies(*store_->Receive("q", 10, std::nullopt, now_)), std::vector<std::string>{"now"});
  EXPECT_EQ(Bodies(*store_->Receive("q", 10, std::nullopt, now_ + 5'000)), std::vector<std::string>{"later"});
}

TEST_F(QueueStoreTest, AMessageReceivedTooOftenMovesToTheDeadLetterQueue) {
  Create("dlq");
  Create("q", {{"VisibilityTimeout", "1"},
               {"RedrivePolicy", std::string(R"({"deadLetterTargetArn":")") + kArn + R"(dlq","maxReceiveCount":2})"}});
  Send("q", "poison");
  EXPECT_EQ(store_->Receive("q", 1, std::nullopt, now_)->size(), 1u);
  EXPECT_EQ(store_->Receive("q", 1, std::nullopt, now_ + 1'000)->size(), 1u);
  EXPECT_TRUE(store_->Receive("q", 1, std::nullopt, now_ + 2'000)->empty()) << "moved, not delivered";
  auto dead = store_->Receive("dlq", 1, std::nullopt, now_ + 2'000);
  ASSERT_EQ(dead->size(), 1u);
  EXPECT_EQ((*dead)[0].body, "poison");
  EXPECT_EQ((*dead)[0].dead_letter_source, std::string(kArn) + "q");
}

TEST_F(QueueStoreTest, FifoGroupsDeliverInOrderOneBatchAtATimeAndDuplicatesAreDropped) {
  Create("q.fifo");
  auto a1 = Send("q.fifo", "a1", "a");
  Send("q.fifo", "b1", "b");
  Send("q.fifo", "a2", "a");
  auto dup = Send("q.fifo", "a1", "a");  // same deduplication id within 5 minutes
  EXPECT_EQ(dup.id, a1.id);
  auto first = store_->Receive("q.fifo", 1, std::nullopt, now_);
  EXPECT_EQ(Bodies(*first), std::vector<std::string>{"a1"});
  // Group a is in flight: only b's message is available.
  EXPECT_EQ(Bodies(*store_->Receive("q.fifo", 10, std::nullopt, now_)), std::vector<std::string>{"b1"});
  ASSERT_TRUE(*store_->Delete("q.fifo", (*first)[0].receipt));
  EXPECT_EQ(Bodies(*store_->Receive("q.fifo", 10, std::nullopt, now_)), std::vector<std::string>{"a2"});
}

TEST_F(QueueStoreTest, CreatingAnExistingQueueWithOtherAttributesIsAConflict) {
  Create("q");
  auto same = store_->CreateQueue("q", DefaultQueueAttributes(false));
  EXPECT_TRUE(same.has_value());
  auto other = DefaultQueueAttributes(false);
  other["VisibilityTimeout"] = "99";
  auto conflict = store_->CreateQueue("q", other);
  ASSERT_FALSE(conflict.has_value());
  EXPECT_EQ(conflict.error().code(), Code::kConflict);
  EXPECT_EQ(conflict.error().message(), "VisibilityTimeout");
}

}  // namespace
}  // namespace nimbus::sqs
