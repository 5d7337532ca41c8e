#include "async/retry_policy.h"

#include <gtest/gtest.h>

namespace nimbus::async {
namespace {

using namespace std::chrono_literals;

TEST(RetryPolicyTest, FunctionErrorsWaitOneMinuteThenTwo) {
  RetryPolicy p;
  EXPECT_EQ(p.FunctionErrorDelay(1), 60s);
  EXPECT_EQ(p.FunctionErrorDelay(2), 120s);
}

TEST(RetryPolicyTest, BackoffDoublesFromOneSecondAndStopsAtFiveMinutes) {
  RetryPolicy p;
  EXPECT_EQ(p.BackoffDelay(1), 1s);
  EXPECT_EQ(p.BackoffDelay(2), 2s);
  EXPECT_EQ(p.BackoffDelay(9), 256s);
  EXPECT_EQ(p.BackoffDelay(10), 300s);
  EXPECT_EQ(p.BackoffDelay(1000), 300s);
}

TEST(RetryPolicyTest, TheScaleMultipliesEveryDelay) {
  RetryPolicy p{0.01};
  EXPECT_EQ(p.FunctionErrorDelay(1), 600ms);
  EXPECT_EQ(p.FunctionErrorDelay(2), 1200ms);
  EXPECT_EQ(p.BackoffDelay(1), 10ms);
  EXPECT_EQ(p.BackoffDelay(50), 3000ms);
}

}  // namespace
}  // namespace nimbus::async
