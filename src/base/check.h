// NIMBUS_CHECK: invariants that hold in every build. A failed check is a bug: it
// prints the condition, location and streamed message to stderr and aborts.
#pragma once

#include <sstream>

namespace nimbus::internal {

class CheckFailure {
 public:
  CheckFailure(const char* cond, const char* file, int line);
  [[noreturn]] ~CheckFailure();
  std::ostream& stream() { return os_; }

 private:
  std::ostringstream os_;
};

// Lets `NIMBUS_CHECK(c) << x` compile to nothing when c holds.
struct Voidify {
  void operator&(std::ostream&) {}
};

}  // namespace nimbus::internal

#define NIMBUS_CHECK(cond)                   \
  (cond) ? (void)0                           \
         : ::nimbus::internal::Voidify() &   \
               ::nimbus::internal::CheckFailure(#cond, __FILE__, __LINE__).stream()

#ifdef NDEBUG
#define NIMBUS_DCHECK(cond) \
  true ? (void)0 : ::nimbus::internal::Voidify() & std::ostringstream()
#else
#define NIMBUS_DCHECK(cond) NIMBUS_CHECK(cond)
#endif
