// DynamoDB JSON attribute values (dynamodb/value.h): an item as PutItem's
// "Item" carries it, and the numbers in it (38-digit decimals).
//
// Input: JSON text, read as an item (a map of attribute values); the whole input
// is also tried as a number's text. Checked: an accepted item writes back as the
// same item; every number prints as text that parses to itself; the sort-key
// bytes of numbers order as the numbers do; Add is commutative and its result in
// range.
#include <boost/json.hpp>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "dynamodb/value.h"
#include "fuzz_input.h"

namespace {

namespace ddb = nimbus::dynamodb;
namespace json = boost::json;

void CollectNumbers(const ddb::Value& v, std::vector<ddb::Number>& out) {
  if (out.size() >= 8) return;
  switch (v.type) {
    case ddb::Type::kN: {
      auto n = ddb::Number::Parse(v.scalar);
      NIMBUS_FUZZ_CHECK(n.has_value(), "an N value holds a valid number");
      NIMBUS_FUZZ_CHECK(n->ToString() == v.scalar, "an N value holds the canonical text");
      out.push_back(*n);
      break;
    }
    case ddb::Type::kNS:
      for (const auto& s : v.set) {
        auto n = ddb::Number::Parse(s);
        NIMBUS_FUZZ_CHECK(n.has_value(), "an NS element is a valid number");
        if (out.size() < 8) out.push_back(*n);
      }
      break;
    case ddb::Type::kL:
      for (const auto& e : v.list) CollectNumbers(e, out);
      break;
    case ddb::Type::kM:
      for (const auto& [name, e] : v.map) CollectNumbers(e, out);
      break;
    default:
      break;
  }
}

int Sign(std::strong_ordering o) { return o < 0 ? -1 : o > 0 ? 1 : 0; }
int Sign(int c) { return c < 0 ? -1 : c > 0 ? 1 : 0; }

void CheckNumber(const ddb::Number& n) {
  auto again = ddb::Number::Parse(n.ToString());
  NIMBUS_FUZZ_CHECK(again.has_value(), "a number's text parses");
  NIMBUS_FUZZ_CHECK(*again == n, "a number's text parses to the same number");
  NIMBUS_FUZZ_CHECK(n.significant_digits() <= 38, "at most 38 digits");
  ddb::Value v = ddb::Value::N(n);
  NIMBUS_FUZZ_CHECK(ddb::KeyBytes(v) == n.SortKey(), "key bytes of an N value are its sort key");
}

void CheckPair(const ddb::Number& a, const ddb::Number& b) {
  NIMBUS_FUZZ_CHECK(Sign(a <=> b) == Sign(a.SortKey().compare(b.SortKey())),
                    "sort keys order as numbers");
  auto ab = ddb::Number::Add(a, b), ba = ddb::Number::Add(b, a);
  NIMBUS_FUZZ_CHECK(ab.has_value() == ba.has_value(), "Add is commutative (errors)");
  if (ab.has_value()) {
    NIMBUS_FUZZ_CHECK(*ab == *ba, "Add is commutative");
    CheckNumber(*ab);
  }
  auto diff = ddb::Number::Add(a, a.Negated());
  NIMBUS_FUZZ_CHECK(diff.has_value() && diff->is_zero(), "a + -a is zero");
  auto cmp = ddb::CompareScalars(ddb::Value::N(a), ddb::Value::N(b));
  NIMBUS_FUZZ_CHECK(cmp.has_value() && *cmp == Sign(a <=> b), "CompareScalars of numbers");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text = nimbus::fuzz::AsText(data, size);
  std::vector<ddb::Number> numbers;
  if (auto n = ddb::Number::Parse(text)) numbers.push_back(*n);

  boost::system::error_code ec;
  json::value j = json::parse(text, ec);  // the API's parse: default options
  if (!ec) {
    if (auto item = ddb::ItemFromJson(j)) {
      (void)ddb::ItemSize(*item);
      json::object back_json = ddb::ItemToJson(*item);
      auto back = ddb::ItemFromJson(json::parse(json::serialize(back_json)));
      NIMBUS_FUZZ_CHECK(back.has_value(), "an accepted item writes back as valid DynamoDB JSON");
      NIMBUS_FUZZ_CHECK(*back == *item, "an accepted item reads back the same");
      for (const auto& [name, v] : *item) {
        CollectNumbers(v, numbers);
        (void)ddb::ValueSize(v);
        if (v.type == ddb::Type::kS || v.type == ddb::Type::kN || v.type == ddb::Type::kB) {
          (void)ddb::KeyBytes(v);
          (void)ddb::ValueForMessage(v);
          for (const auto& [other_name, w] : *item) (void)ddb::CompareScalars(v, w);
        }
      }
    } else if (j.is_object() && !j.as_object().empty()) {
      (void)ddb::ValueFromJson(j);
    }
  }
  for (const auto& n : numbers) CheckNumber(n);
  for (const auto& a : numbers) {
    for (const auto& b : numbers) CheckPair(a, b);
  }
  return 0;
}
