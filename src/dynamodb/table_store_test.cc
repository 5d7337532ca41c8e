#include "dynamodb/table_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "storage/testing/temp_dir.h"

namespace nimbus::dynamodb {
namespace {

Value S(std::string s) { return Value::S(std::move(s)); }
Value N(int64_t n) { return Value::N(Number::FromInt(n)); }

class TableStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Reopen();
    TableDef def;
    def.name = "orders";
    def.id = "id-1";
    def.key = {"customer", "order", Type::kS, Type::kN};
    def.attributes = {{"customer", Type::kS}, {"order", Type::kN}, {"status", Type::kS}};
    SecondaryIndex by_status;
    by_status.name = "byStatus";
    by_status.key = {"status", "order", Type::kS, Type::kN};
    def.indexes.push_back(by_status);
    def.stream_enabled = true;
    def.stream_view_type = "NEW_AND_OLD_IMAGES";
    def.stream_label = "2026-01-01T00:00:00.000";
    ASSERT_TRUE(store_->CreateTable(def).ok());
  }

  void Reopen() {
    store_.reset();
    auto s = OpenSqliteTableStore(dir_.path() / "dynamodb.db");
    ASSERT_TRUE(s.has_value()) << s.error().ToString();
    store_ = std::move(*s);
  }

  Status Put(Item item) {
    WriteOp op;
    op.table = "orders";
    op.key = {{"customer", item.at("customer")}, {"order", item.at("order")}};
    op.apply = [item](const std::optional<Item>&) -> Result<std::optional<Item>> { return std::optional<Item>(item); };
    std::vector<WriteOp> ops;
    ops.push_back(std::move(op));
    return store_->Write(std::move(ops), nullptr).status();
  }

  std::vector<int64_t> Orders(const ReadRange& range) {
    std::vector<int64_t> out;
    Status st = store_->Read("orders", range, [&](const Item& item) {
      out.push_back(std::stoll(item.at("order").scalar));
      return true;
    });
    EXPECT_TRUE(st.ok()) << st.ToString();
    return out;
  }

  storage::testing::TempDir dir_;
  std::unique_ptr<TableStore> store_;
};

TEST_F(TableStoreTest, AQueryWalksOneHashKeyInRangeKeyOrderEitherWayWithinBounds) {
  for (int64_t n : {5, -3, 10, 100, 7}) ASSERT_TRUE(Put({{"customer", S("ann")}, {"order", N(n)}}).ok());
  ASSERT_TRUE(Put({{"customer", S("bob")}, {"order", N(1)}}).ok());
  ReadRange r;
  r.hash = S("ann");
  EXPECT_EQ(Orders(r), (std::vector<int64_t>{-3, 5, 7, 10, 100}));
  r.forward = false;
  EXPECT_EQ(Orders(r), (std::vector<int64_t>{100, 10, 7, 5, -3}));
  r.forward = true;
  r.low = KeyBytes(N(5));
  r.high = KeyBytes(N(10));
  r.high_exclusive = true;
  EXPECT_EQ(Orders(r), (std::vector<int64_t>{5, 7}));
  r.exclusive_start = Item{{"customer", S("ann")}, {"order", N(5)}};
  EXPECT_EQ(Orders(r), (std::vector<int64_t>{7}));
}

TEST_F(TableStoreTest, AScanResumesAfterItsExclusiveStartAcrossHashKeys) {
  for (const char* c : {"a", "b", "c"}) {
    for (int64_t n : {1, 2}) ASSERT_TRUE(Put({{"customer", S(c)}, {"order", N(n)}}).ok());
  }
  ReadRange r;
  r.exclusive_start = Item{{"customer", S("b")}, {"order", N(1)}};
  std::vector<std::string> seen;
  ASSERT_TRUE(store_->Read("orders", r, [&](const Item& item) {
    seen.push_back(item.at("customer").scalar + item.at("order").scalar);
    return true;
  }).ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"b2", "c1", "c2"}));
}

TEST_F(TableStoreTest, AnIndexHoldsOnlyItemsWithItsKeysAndFollowsUpdates) {
  ASSERT_TRUE(Put({{"customer", S("ann")}, {"order", N(1)}, {"status", S("open")}}).ok());
  ASSERT_TRUE(Put({{"customer", S("bob")}, {"order", N(2)}, {"status", S("open")}}).ok());
  ASSERT_TRUE(Put({{"customer", S("cat")}, {"order", N(3)}}).ok());  // no status: not indexed
  ReadRange r;
  r.index = "byStatus";
  r.hash = S("open");
  EXPECT_EQ(Orders(r), (std::vector<int64_t>{1, 2}));
  ASSERT_TRUE(Put({{"customer", S("ann")}, {"order", N(1)}, {"status", S("closed")}}).ok());
  EXPECT_EQ(Orders(r), (std::vector<int64_t>{2}));
  r.hash = S("closed");
  EXPECT_EQ(Orders(r), (std::vector<int64_t>{1}));
}

TEST_F(TableStoreTest, AFailedOpInATransactionWritesNothingAndReportsEachOp) {
  std::vector<WriteOp> ops(2);
  ops[0].table = ops[1].table = "orders";
  ops[0].key = {{"customer", S("ann")}, {"order", N(1)}};
  ops[0].apply = [](const std::optional<Item>&) -> Result<std::optional<Item>> {
    return std::optional<Item>(Item{{"customer", S("ann")}, {"order", N(1)}});
  };
  ops[1].key = {{"customer", S("bob")}, {"order", N(1)}};
  ops[1].apply = [](const std::optional<Item>&) -> Result<std::optional<Item>> {
    return Status(Code::kFailedPrecondition, "The conditional request failed");
  };
  std::vector<Status> failures;
  auto r = store_->Write(std::move(ops), &failures);
  ASSERT_FALSE(r.has_value());
  ASSERT_EQ(failures.size(), 2u);
  EXPECT_TRUE(failures[0].ok());
  EXPECT_EQ(failures[1].code(), Code::kFailedPrecondition);
  auto got = store_->Get("orders", {{"customer", S("ann")}, {"order", N(1)}});
  ASSERT_TRUE(got.has_value());
  EXPECT_FALSE(got->has_value());
  EXPECT_EQ(store_->StreamBounds("orders", "2026-01-01T00:00:00.000")->second, 0);
}

TEST_F(TableStoreTest, EveryChangeAddsAStreamRecordWithItsImagesInOrderAndSurvivesReopening) {
  ASSERT_TRUE(Put({{"customer", S("ann")}, {"order", N(1)}, {"v", N(1)}}).ok());
  ASSERT_TRUE(Put({{"customer", S("ann")}, {"order", N(1)}, {"v", N(2)}}).ok());
  ASSERT_TRUE(Put({{"customer", S("ann")}, {"order", N(1)}, {"v", N(2)}}).ok());  // no change: no record
  std::vector<WriteOp> del(1);
  del[0].table = "orders";
  del[0].key = {{"customer", S("ann")}, {"order", N(1)}};
  del[0].apply = [](const std::optional<Item>&) -> Result<std::optional<Item>> { return std::optional<Item>(); };
  ASSERT_TRUE(store_->Write(std::move(del), nullptr).has_value());
  Reopen();
  auto records = store_->ReadStream("orders", "2026-01-01T00:00:00.000", 0, 100);
  ASSERT_TRUE(records.has_value());
  ASSERT_EQ(records->size(), 3u);
  EXPECT_EQ((*records)[0].event_name, "INSERT");
  EXPECT_FALSE((*records)[0].old_image.has_value());
  EXPECT_EQ((*records)[0].new_image->at("v"), N(1));
  EXPECT_EQ((*records)[1].event_name, "MODIFY");
  EXPECT_EQ((*records)[1].old_image->at("v"), N(1));
  EXPECT_EQ((*records)[1].new_image->at("v"), N(2));
  EXPECT_EQ((*records)[2].event_name, "REMOVE");
  EXPECT_EQ((*records)[2].old_image->at("v"), N(2));
  EXPECT_EQ((*records)[2].keys.size(), 2u);
  EXPECT_LT((*records)[0].sequence, (*records)[1].sequence);
  EXPECT_LT((*records)[1].sequence, (*records)[2].sequence);
  auto after_first = store_->ReadStream("orders", "2026-01-01T00:00:00.000", (*records)[0].sequence, 1);
  ASSERT_EQ(after_first->size(), 1u);
  EXPECT_EQ(after_first->front().event_name, "MODIFY");
}

TEST_F(TableStoreTest, ItemsPastTheirTtlAreFoundOnlyWhileTtlIsOn) {
  ASSERT_TRUE(Put({{"customer", S("old")}, {"order", N(1)}, {"expires", N(1000)}}).ok());
  ASSERT_TRUE(Put({{"customer", S("new")}, {"order", N(1)}, {"expires", N(5000)}}).ok());
  EXPECT_TRUE(store_->ExpiredItems(2000, 10)->empty()) << "TTL is off";
  TableDef def = *store_->GetTable("orders");
  def.ttl_enabled = true;
  def.ttl_attribute = "expires";
  ASSERT_TRUE(store_->UpdateTable(def).ok());
  auto expired = store_->ExpiredItems(2000, 10);
  ASSERT_TRUE(expired.has_value());
  ASSERT_EQ(expired->size(), 1u);
  EXPECT_EQ(expired->front().second.at("customer"), S("old"));
}

TEST_F(TableStoreTest, ANewIndexIsFilledFromTheItemsAlreadyThere) {
  ASSERT_TRUE(Put({{"customer", S("ann")}, {"order", N(1)}, {"region", S("eu")}}).ok());
  TableDef def = *store_->GetTable("orders");
  SecondaryIndex by_region;
  by_region.name = "byRegion";
  by_region.key = {"region", "", Type::kS, Type::kS};
  def.indexes.push_back(by_region);
  ASSERT_TRUE(store_->UpdateTable(def).ok());
  ReadRange r;
  r.index = "byRegion";
  r.hash = S("eu");
  EXPECT_EQ(Orders(r), (std::vector<int64_t>{1}));
}

TEST_F(TableStoreTest, DeletingATableRemovesItsItemsButNotItsStream) {
  ASSERT_TRUE(Put({{"customer", S("ann")}, {"order", N(1)}}).ok());
  ASSERT_TRUE(store_->DeleteTable("orders").has_value());
  EXPECT_EQ(store_->GetTable("orders").error().code(), Code::kNotFound);
  EXPECT_EQ(store_->ReadStream("orders", "2026-01-01T00:00:00.000", 0, 10)->size(), 1u);
  TableDef again;
  again.name = "orders";
  again.key = {"customer", "order", Type::kS, Type::kN};
  EXPECT_EQ(store_->CreateTable(again).code(), Code::kOk);
  EXPECT_EQ(store_->TableCounts("orders")->first, 0);
}

TEST_F(TableStoreTest, ConcurrentWritesAreGroupCommittedAndAFailedOneIsUndoneAlone) {
  // 8 threads × 50 writes; every third one fails its "condition" after writing
  // nothing, and must not take the others of its group down with it.
  constexpr int kThreads = 8, kWrites = 50;
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kWrites; ++i) {
        const int n = t * kWrites + i;
        std::vector<WriteOp> ops(1);
        ops[0].table = "orders";
        ops[0].key = {{"customer", S("c")}, {"order", N(n)}};
        ops[0].apply = [n](const std::optional<Item>&) -> Result<std::optional<Item>> {
          if (n % 3 == 0) return Status(Code::kFailedPrecondition, "The conditional request failed");
          return std::optional<Item>(Item{{"customer", S("c")}, {"order", N(n)}});
        };
        auto r = store_->Write(std::move(ops), nullptr);
        if (!r.has_value()) {
          EXPECT_EQ(r.error().code(), Code::kFailedPrecondition);
          ++failed;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  const int total = kThreads * kWrites;
  EXPECT_EQ(failed.load(), (total + 2) / 3);
  ReadRange r;
  r.hash = S("c");
  std::vector<int64_t> orders = Orders(r);
  ASSERT_EQ(static_cast<int>(orders.size()), total - failed.load());
  for (int64_t n : orders) EXPECT_NE(n % 3, 0);
  // One stream record per stored item, with distinct increasing sequence numbers.
  auto records = store_->ReadStream("orders", "2026-01-01T00:00:00.000", 0, 1000);
  ASSERT_EQ(records->size(), orders.size());
  std::set<int64_t> sequences;
  for (const auto& rec : *records) sequences.insert(rec.sequence);
  EXPECT_EQ(sequences.size(), records->size());
  Reopen();
  EXPECT_EQ(Orders(r).size(), orders.size());
}

}  // namespace
}  // namespace nimbus::dynamodb
