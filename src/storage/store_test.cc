#include "storage/store.h"

#include <gtest/gtest.h>

#include "storage/testing/temp_dir.h"

namespace nimbus::storage {
namespace {

using testing::TempDir;

const std::vector<Migration> kV1 = {
    {1, "CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT NOT NULL)"},
};
const std::vector<Migration> kV2 = {
    {1, "CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT NOT NULL)"},
    {2, "ALTER TABLE kv ADD COLUMN n INTEGER NOT NULL DEFAULT 7"},
};

Status Put(Store& store, std::string_view k, std::string_view v) {
  NIMBUS_ASSIGN_OR_RETURN(Statement st, store.Prepare("INSERT INTO kv (k, v) VALUES (?, ?)"));
  NIMBUS_RETURN_IF_ERROR(st.BindText(1, k));
  NIMBUS_RETURN_IF_ERROR(st.BindText(2, v));
  return st.Run();
}

Result<std::string> GetV(Store& store, std::string_view k) {
  NIMBUS_ASSIGN_OR_RETURN(Statement st, store.Prepare("SELECT v FROM kv WHERE k = ?"));
  NIMBUS_RETURN_IF_ERROR(st.BindText(1, k));
  NIMBUS_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return NotFound(std::string(k));
  return st.ColumnText(0);
}

TEST(Store, OpensInWalModeWithFullSynchronousCommits) {
  TempDir dir;
  auto store = Store::Open(dir.path() / "db", kV1);
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  EXPECT_EQ((*store)->JournalMode().value(), "wal");
  EXPECT_EQ((*store)->Synchronous().value(), 2);  // FULL
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "db-wal"));
}

TEST(Store, KeepsCommittedRowsAcrossReopen) {
  TempDir dir;
  {
    auto store = Store::Open(dir.path() / "db", kV1);
    ASSERT_TRUE(store.has_value());
    ASSERT_TRUE(InTransaction(**store, [&] { return Put(**store, "a", "1"); }).ok());
  }
  auto store = Store::Open(dir.path() / "db", kV1);
  ASSERT_TRUE(store.has_value());
  EXPECT_EQ(GetV(**store, "a").value(), "1");
  // The WAL is still the journal after reopening: the mode is persistent.
  EXPECT_EQ((*store)->JournalMode().value(), "wal");
}

TEST(Store, RollsBackATransactionWhoseBodyFails) {
  TempDir dir;
  auto store = Store::Open(dir.path() / "db", kV1);
  ASSERT_TRUE(store.has_value());
  Status s = InTransaction(**store, [&]() -> Status {
    NIMBUS_RETURN_IF_ERROR(Put(**store, "a", "1"));
    return Put(**store, "a", "2");  // primary key violation
  });
  EXPECT_EQ(s.code(), Code::kConflict);
  EXPECT_EQ(GetV(**store, "a").status().code(), Code::kNotFound);
  // The connection is usable again.
  EXPECT_TRUE(InTransaction(**store, [&] { return Put(**store, "b", "2"); }).ok());
}

TEST(Store, RecordsTheSchemaVersionAndAppliesOnlyNewMigrations) {
  TempDir dir;
  {
    auto store = Store::Open(dir.path() / "db", kV1);
    ASSERT_TRUE(store.has_value());
    EXPECT_EQ((*store)->SchemaVersion().value(), 1);
    ASSERT_TRUE(Put(**store, "a", "1").ok());
  }
  auto store = Store::Open(dir.path() / "db", kV2);
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  EXPECT_EQ((*store)->SchemaVersion().value(), 2);
  auto st = (*store)->Prepare("SELECT v, n FROM kv WHERE k = 'a'");
  ASSERT_TRUE(st.has_value());
  ASSERT_TRUE(st->Step().value());
  EXPECT_EQ(st->ColumnText(0), "1");
  EXPECT_EQ(st->ColumnInt64(1), 7);
}

TEST(Store, RefusesADatabaseNewerThanItsMigrations) {
  TempDir dir;
  { ASSERT_TRUE(Store::Open(dir.path() / "db", kV2).has_value()); }
  auto store = Store::Open(dir.path() / "db", kV1);
  ASSERT_FALSE(store.has_value());
  EXPECT_NE(store.error().message().find("newer"), std::string::npos);
}

TEST(Store, LeavesTheDatabaseAtTheLastGoodVersionWhenAMigrationFails) {
  TempDir dir;
  std::vector<Migration> broken = kV1;
  broken.push_back({2, "CREATE TABLE t2 (x INTEGER); THIS IS NOT SQL"});
  auto store = Store::Open(dir.path() / "db", broken);
  ASSERT_FALSE(store.has_value());
  EXPECT_NE(store.error().message().find("migration 2"), std::string::npos);
  auto again = Store::Open(dir.path() / "db", kV1);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ((*again)->SchemaVersion().value(), 1);
  // t2 was rolled back with the failed migration.
  EXPECT_FALSE((*again)->Exec("SELECT * FROM t2").ok());
}

TEST(Store, ReportsAnUnopenablePath) {
  TempDir dir;
  auto store = Store::Open(dir.path() / "missing" / "db", kV1);
  EXPECT_FALSE(store.has_value());
}

}  // namespace
}  // namespace nimbus::storage
