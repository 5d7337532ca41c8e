#include "storage/disk_space.h"

#include <gtest/gtest.h>

namespace nimbus::storage {
namespace {

TEST(DiskSpaceTest, LetsAWriteThroughWhileTheReserveRemains) {
  DiskSpace disk(::testing::TempDir(), 0);
  ASSERT_TRUE(disk.Free().has_value());
  EXPECT_TRUE(disk.CheckRoomFor(1).ok());
}

TEST(DiskSpaceTest, RefusesAWriteThatWouldEatIntoTheReserveWithAClearMessage) {
  DiskSpace probe(::testing::TempDir(), 0);
  const uint64_t free = probe.Free().value();
  // A reserve just above what is free: any write is refused.
  DiskSpace disk(::testing::TempDir(), free + (1ull << 30));
  Status st = disk.CheckRoomFor(0);
  EXPECT_EQ(st.code(), Code::kUnavailable);
  EXPECT_EQ(st.detail(), "InsufficientStorage");
  EXPECT_NE(st.message().find("No space left on device: the data directory has"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("delete objects, items, messages or functions to make room"), std::string::npos);
  // And a write larger than what is free above the reserve.
  DiskSpace roomy(::testing::TempDir(), 0);
  EXPECT_FALSE(roomy.CheckRoomFor(free + (1ull << 40)).ok());
}

TEST(DiskSpaceTest, AnUnreadableDirectoryDoesNotBlockWrites) {
  DiskSpace disk("/nonexistent/nimbus-disk-space-test", DiskSpace::kDefaultReserve);
  EXPECT_FALSE(disk.Free().has_value());
  EXPECT_TRUE(disk.CheckRoomFor(1 << 20).ok());
}

}  // namespace
}  // namespace nimbus::storage
