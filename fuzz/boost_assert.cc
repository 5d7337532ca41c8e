// Boost's assertion handler for the fuzz build, which defines
// BOOST_ENABLE_ASSERT_HANDLER (CMakePresets.json): a failed BOOST_ASSERT aborts
// as it would without a handler, so that libFuzzer reports it, except the
// assertions listed in kKnownWrong, which Boost itself has since found to be
// wrong. Linked into every fuzz target.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace {

struct KnownWrong {
  const char* file_suffix;
  const char* expression;
};

constexpr KnownWrong kKnownWrong[] = {
    // The final chunk "0\r\n" may reach parse_chunk_header again with only 3 or 4
    // bytes when a read ends right after it; the code handles it (need_more) and
    // release builds never check. Relaxed upstream in Boost 1.86
    // (boostorg/beast#2861); Nimbus pins Boost 1.81.
    {"boost/beast/http/impl/basic_parser.ipp", "n >= 5"},
};

bool IsKnownWrong(const char* expr, const char* file) {
  std::string_view f(file);
  for (const KnownWrong& k : kKnownWrong) {
    if (f.ends_with(k.file_suffix) && std::strcmp(expr, k.expression) == 0) return true;
  }
  return false;
}

}  // namespace

namespace boost {

void assertion_failed_msg(char const* expr, char const* msg, char const* function, char const* file,
                          long line) {
  if (IsKnownWrong(expr, file)) return;
  std::fprintf(stderr, "%s:%ld: %s: Boost assertion `%s' failed%s%s\n", file, line, function, expr,
               msg != nullptr ? ": " : "", msg != nullptr ? msg : "");
  std::abort();
}

void assertion_failed(char const* expr, char const* function, char const* file, long line) {
  assertion_failed_msg(expr, nullptr, function, file, line);
}

}  // namespace boost
