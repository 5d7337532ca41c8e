#include "base/time_format.h"

#include <gtest/gtest.h>

namespace nimbus {
namespace {

using std::chrono::milliseconds;
using std::chrono::system_clock;

TEST(IsoUtcMillis, WritesUtcWithThreeDigitsOfMilliseconds) {
  EXPECT_EQ(IsoUtcMillis(system_clock::time_point(milliseconds(1706546475998))),
            "2024-01-29T16:41:15.998Z");
  EXPECT_EQ(IsoUtcMillis(system_clock::time_point(milliseconds(0))), "1970-01-01T00:00:00.000Z");
}

TEST(IsoUtcMillis, TruncatesBelowAMillisecond) {
  EXPECT_EQ(IsoUtcMillis(system_clock::time_point(std::chrono::microseconds(1999))),
            "1970-01-01T00:00:00.001Z");
}

}  // namespace
}  // namespace nimbus
