// RegistryFixture: a GoogleTest fixture that opens a Registry over a fresh TempDir with a
// FakeClock, and can close and reopen it over the same directory to test persistence.
// Test-only; shared by control's registry tests. Thread-compatible, like any fixture.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "base/testing/fake_clock.h"
#include "control/registry.h"
#include "storage/testing/temp_dir.h"

namespace nimbus::control::testing {

inline constexpr char kRole[] = "arn:aws:iam::123456789012:role/lambda-role";

// The whole content of the file at `p`, or "" when it cannot be read.
inline std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class RegistryFixture : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  // Destroys the open registry, if any, and opens one over dir_ with Options(); fails the
  // test when Open does.
  void Reopen() {
    registry_.reset();
    auto r = Registry::Open(Options(), clock_);
    ASSERT_TRUE(r.has_value()) << r.error().ToString();
    registry_ = std::move(r).value();
  }

  // The options Reopen() opens with: dir_ and the default region. A fixture that needs more
  // (a concurrency limit, a random source) overrides this.
  virtual RegistryOptions Options() { return RegistryOptions{dir_.path(), Region{}}; }

  Registry& registry() { return *registry_; }

  storage::testing::TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<Registry> registry_;
};

}  // namespace nimbus::control::testing
