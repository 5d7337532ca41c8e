// Helpers shared by the fuzz targets: splitting one input into the several
// strings a target needs, and the check that stops a run on a broken invariant.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

namespace nimbus::fuzz {

// A line "%%" separates the parts of a multi-part input, so seed files stay
// readable ("pattern\n%%\nevent"). Returns exactly `n` parts: missing ones are
// empty, and the last one keeps any further separators.
inline std::vector<std::string_view> SplitParts(const uint8_t* data, size_t size, size_t n) {
  static constexpr std::string_view kSeparator = "\n%%\n";
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> parts;
  parts.reserve(n);
  while (parts.size() + 1 < n) {
    size_t at = rest.find(kSeparator);
    if (at == std::string_view::npos) break;
    parts.push_back(rest.substr(0, at));
    rest.remove_prefix(at + kSeparator.size());
  }
  parts.push_back(rest);
  parts.resize(n);
  return parts;
}

inline std::string_view AsText(const uint8_t* data, size_t size) {
  return std::string_view(reinterpret_cast<const char*>(data), size);
}

}  // namespace nimbus::fuzz

// Aborts (a crash libFuzzer reports and saves) when an invariant of the code
// under test does not hold. Unlike NIMBUS_CHECK it names the target's claim.
#define NIMBUS_FUZZ_CHECK(cond, what)                                                         \
  do {                                                                                        \
    if (!(cond)) {                                                                            \
      std::fprintf(stderr, "NIMBUS_FUZZ_CHECK failed at %s:%d: %s: %s\n", __FILE__, __LINE__, \
                   #cond, what);                                                              \
      std::abort();                                                                           \
    }                                                                                         \
  } while (0)
