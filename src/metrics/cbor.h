// cbor: CBOR (RFC 8949) as JSON values, for the Smithy RPC v2 CBOR protocol the
// CloudWatch front end speaks (cloudwatch_api.h), so one boost::json tree serves
// all three of its protocols. Items are decoded and encoded by libcbor (its
// streaming decoder and its encoder primitives; no item trees, so a hostile body
// cannot make it allocate for lengths it does not contain); this file maps them
// to and from JSON. Pure functions, thread-safe.
#pragma once

#include <set>
#include <string>
#include <string_view>

#include <boost/json/value.hpp>

#include "base/status.h"

namespace nimbus::metrics {

// Decodes one CBOR data item (all of `data`) into JSON: maps → objects (text keys
// only), arrays, text strings, byte strings → base64 strings, integers, floats →
// doubles, true/false, null/undefined → null, definite or indefinite lengths.
// Tags are dropped and their item kept, so a tag-1 (epoch) timestamp becomes its
// number of seconds. kInvalidArgument for malformed or truncated input, bytes after
// the item, a key that is not text, an integer below INT64_MIN, or nesting deeper
// than 64.
Result<boost::json::value> CborToJson(std::string_view data);

// Encodes `value` with definite lengths: integers as CBOR integers, doubles as
// 64-bit floats. Members of objects named in `timestamp_keys` that are numbers
// (or arrays of numbers) are epoch seconds, written as tag 1 over a double.
std::string JsonToCbor(const boost::json::value& value,
                       const std::set<std::string, std::less<>>& timestamp_keys = {});

}  // namespace nimbus::metrics
