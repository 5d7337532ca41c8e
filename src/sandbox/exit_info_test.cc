#include <signal.h>

#include <gtest/gtest.h>

#include "sandbox/sandbox.h"

namespace nimbus::sandbox {
namespace {

TEST(ExitInfo, DescribesANormalExitWithItsStatusLikeGo) {
  EXPECT_EQ((ExitInfo{true, 1, 0}).Describe(), "exit status 1");
  EXPECT_EQ((ExitInfo{true, 0, 0}).Describe(), "exit status 0");
}

TEST(ExitInfo, DescribesADeathBySignalWithGoSignalNames) {
  EXPECT_EQ((ExitInfo{false, 0, SIGKILL}).Describe(), "signal: killed");
  EXPECT_EQ((ExitInfo{false, 0, SIGSEGV}).Describe(), "signal: segmentation fault");
  EXPECT_EQ((ExitInfo{false, 0, SIGABRT}).Describe(), "signal: aborted");
  EXPECT_EQ((ExitInfo{false, 0, SIGTERM}).Describe(), "signal: terminated");
  EXPECT_EQ((ExitInfo{false, 0, SIGSYS}).Describe(), "signal: bad system call");
}

TEST(ExitInfo, DescribesAnUnnamedSignalByNumber) {
  EXPECT_EQ((ExitInfo{false, 0, 40}).Describe(), "signal: signal 40");
}

}  // namespace
}  // namespace nimbus::sandbox
