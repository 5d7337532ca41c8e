#include "base/check.h"

#include <cstdio>
#include <cstdlib>

namespace nimbus::internal {

CheckFailure::CheckFailure(const char* cond, const char* file, int line) {
  os_ << "check failed: " << cond << " at " << file << ":" << line << ": ";
}

CheckFailure::~CheckFailure() {
  std::string s = os_.str();
  std::fprintf(stderr, "%s\n", s.c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace nimbus::internal
