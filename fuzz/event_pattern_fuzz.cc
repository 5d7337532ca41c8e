// EventBridge event patterns (events/event_pattern.h): validated as PutRule
// validates them, then matched as PutEvents matches each event against each
// rule's pattern.
//
// Input: "<pattern JSON>\n%%\n<event JSON>". An event that is not JSON is
// matched as the string it is.
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>

#include "events/event_pattern.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace json = boost::json;
  auto parts = nimbus::fuzz::SplitParts(data, size, 2);
  if (!nimbus::events::ValidatePattern(parts[0]).ok()) return 0;
  // A validated pattern is stored as its text and parsed again for each event.
  boost::system::error_code ec;
  json::value pattern = json::parse(parts[0], ec);
  NIMBUS_FUZZ_CHECK(!ec, "a validated pattern parses");
  json::value event = json::parse(parts[1], ec);
  if (ec) event = json::string(parts[1]);
  (void)nimbus::events::Matches(pattern, event);
  (void)nimbus::events::Matches(pattern, pattern);
  (void)nimbus::events::Matches(pattern, json::object{});
  return 0;
}
