// dynamodb values: the data model of the DynamoDB-compatible table service (issue
// #6): numbers with DynamoDB's 38-digit decimal precision, attribute values of
// every type, items, their DynamoDB-JSON form, their size as DynamoDB counts it,
// and the byte encoding of key values that sorts as DynamoDB sorts keys.
//
// Value types; thread-compatible.
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json/value.hpp>

#include "base/status.h"

namespace nimbus::dynamodb {

// A DynamoDB number: at most 38 significant decimal digits, magnitude zero or
// within [1E-130, 1E126). Exact: no binary floating point anywhere.
class Number {
 public:
  Number() = default;  // zero
  // Accepts what DynamoDB accepts: optional sign, digits with an optional point,
  // optional exponent ("-1.5", ".5", "1e3", "007"). Errors are kInvalidArgument
  // with DynamoDB's ValidationException messages.
  static Result<Number> Parse(std::string_view text);
  static Number FromInt(int64_t v);

  // Plain decimal notation, no exponent, no superfluous zeros: "1000", "0.00015", "-2.5".
  std::string ToString() const;
  bool is_zero() const { return digits_.empty(); }
  bool negative() const { return negative_; }
  size_t significant_digits() const { return digits_.size(); }

  // Exact sum; kInvalidArgument when the result needs more than 38 digits or
  // leaves the range.
  static Result<Number> Add(const Number& a, const Number& b);
  Number Negated() const;

  friend std::strong_ordering operator<=>(const Number& a, const Number& b);
  friend bool operator==(const Number& a, const Number& b) = default;

  // Bytes whose memcmp order is numeric order.
  std::string SortKey() const;

 private:
  // Checks the digit and range limits; the value is normalized.
  static Result<Number> Checked(bool negative, std::string digits, int exponent);

  // value = (negative ? -1 : 1) × 0.d1d2…dn × 10^exponent_; digits_ has no leading
  // or trailing zeros and is empty for zero (then negative_ is false, exponent_ 0).
  bool negative_ = false;
  std::string digits_;
  int exponent_ = 0;
};

enum class Type { kS, kN, kB, kBool, kNull, kM, kL, kSS, kNS, kBS };

// "S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS".
std::string_view TypeName(Type t);

struct Value {
  // Defined in value.cc, where Value is complete: `map` holds pairs of Value
  // itself, and clang with libstdc++ cannot instantiate their vector's destructor
  // from inside std::pair<std::string, Value> (GCC defers it).
  Value();
  ~Value();
  Value(const Value&) = default;
  Value(Value&&) noexcept = default;
  Value& operator=(const Value&) = default;
  Value& operator=(Value&&) noexcept = default;

  Type type = Type::kNull;
  // S: the text; N: the canonical number text (Number::ToString); B: raw bytes.
  std::string scalar;
  bool boolean = false;
  // SS, NS (canonical texts), BS (raw bytes): sorted, unique.
  std::vector<std::string> set;
  std::vector<Value> list;                           // L
  std::vector<std::pair<std::string, Value>> map;    // M, sorted by name, unique

  static Value S(std::string s);
  static Value N(const Number& n);
  static Value B(std::string bytes);
  static Value Bool(bool b);
  static Value Null();

  // The number of an N value. REQUIRES: type == kN.
  Number number() const;
  // The member `name` of an M value, or nullptr.
  const Value* Member(std::string_view name) const;
  Value* MutableMember(std::string_view name);
  // Sets (replacing) member `name` of an M value, keeping the order.
  void SetMember(std::string name, Value v);
  bool RemoveMember(std::string_view name);

  friend bool operator==(const Value& a, const Value& b);
};

// An item: attribute name → value.
using Item = std::map<std::string, Value>;

// Parses one AttributeValue ({"S": "x"}, {"N": "1"}, {"M": {...}}, ...). Errors are
// kInvalidArgument with DynamoDB's messages (without the "ValidationException" type).
Result<Value> ValueFromJson(const boost::json::value& json);
Result<Item> ItemFromJson(const boost::json::value& json);
boost::json::value ValueToJson(const Value& v);
boost::json::object ItemToJson(const Item& item);

// The item's size in bytes as DynamoDB counts it for the 400 KB limit and
// capacity: names plus values (numbers ~1 byte per 2 digits + 1; maps and lists
// 3 bytes + 1 per element).
size_t ValueSize(const Value& v);
size_t ItemSize(const Item& item);

// Order-preserving bytes of a key value (S, N or B): memcmp order is DynamoDB's
// key order (UTF-8 bytes for S, numeric for N, unsigned bytes for B).
// REQUIRES: v is S, N or B.
std::string KeyBytes(const Value& v);

// "{N:5}", "{S:x}": a scalar as DynamoDB writes an operand in its messages (B in base64).
std::string ValueForMessage(const Value& v);

// DynamoDB's comparison of two scalars of the same type (S, N, B) for conditions
// and sort keys: <0, 0, >0. Values of different types are unordered: nullopt.
std::optional<int> CompareScalars(const Value& a, const Value& b);

}  // namespace nimbus::dynamodb
