// CBOR request bodies of the CloudWatch front end's RPC v2 CBOR protocol
// (metrics/cbor.h), decoded into JSON as GetMetricData's are. Checked: what
// decodes encodes back (JsonToCbor) to CBOR that decodes to the same JSON.
//
// Input: the CBOR body.
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>

#include "fuzz_input.h"
#include "metrics/cbor.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace json = boost::json;
  auto decoded = nimbus::metrics::CborToJson(nimbus::fuzz::AsText(data, size));
  if (!decoded.has_value()) return 0;
  const std::string text = json::serialize(*decoded);
  auto again = nimbus::metrics::CborToJson(nimbus::metrics::JsonToCbor(*decoded));
  NIMBUS_FUZZ_CHECK(again.has_value(), "encoded JSON decodes");
  NIMBUS_FUZZ_CHECK(json::serialize(*again) == text, "decode(encode(json)) is json");
  // The response side: timestamps written as tag 1 over a double.
  static const std::set<std::string, std::less<>> kTimestamps = {"StartTime", "EndTime",
                                                                 "Timestamps"};
  NIMBUS_FUZZ_CHECK(
      nimbus::metrics::CborToJson(nimbus::metrics::JsonToCbor(*decoded, kTimestamps)).has_value(),
      "encoded JSON with timestamps decodes");
  return 0;
}
