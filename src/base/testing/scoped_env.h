// ScopedEnv: sets (or, with nullopt, unsets) an environment variable for the
// lifetime of the object, then restores what was there. For tests of code that
// reads the process environment; not thread-safe (setenv is not).
#pragma once

#include <cstdlib>
#include <optional>
#include <string>

namespace nimbus::testing {

class ScopedEnv {
 public:
  ScopedEnv(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      ::setenv(name, value->c_str(), 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

}  // namespace nimbus::testing
