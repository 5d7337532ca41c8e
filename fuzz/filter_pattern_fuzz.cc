// CloudWatch Logs filter patterns (obs/filter_pattern.h): parsed as
// FilterLogEvents parses its filterPattern, matched against log messages (which
// a function writes: hostile too).
//
// Input: "<pattern>\n%%\n<message>".
#include <cstddef>
#include <cstdint>

#include "fuzz_input.h"
#include "obs/filter_pattern.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto parts = nimbus::fuzz::SplitParts(data, size, 2);
  auto pattern = nimbus::obs::FilterPattern::Parse(parts[0]);
  if (!pattern.has_value()) return 0;
  bool everything = pattern->matches_everything();
  bool matched = pattern->Matches(parts[1]);
  NIMBUS_FUZZ_CHECK(!everything || matched, "a match-everything pattern matches every message");
  (void)pattern->Matches("");
  (void)pattern->Matches(parts[0]);
  return 0;
}
