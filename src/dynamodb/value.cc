#include "dynamodb/value.h"

#include <algorithm>
#include <cstring>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "base/encoding.h"

namespace nimbus::dynamodb {
namespace {

namespace json = boost::json;

constexpr size_t kMaxDigits = 38;
// 0.1 × 10^-129 = 1E-130 is the smallest magnitude; 0.99…9 × 10^126 the largest.
constexpr int kMinExponent = -129;
constexpr int kMaxExponent = 126;

Status NotANumber() { return InvalidArgument("A value provided cannot be converted into a number"); }

// |a| vs |b| for integer digit strings of equal length.
int CompareDigits(const std::string& a, const std::string& b) { return a.compare(b) < 0 ? -1 : a == b ? 0 : 1; }

// a + b for non-negative integer digit strings of equal length; one longer on carry.
std::string AddDigits(const std::string& a, const std::string& b) {
  std::string out(a.size() + 1, '0');
  int carry = 0;
  for (size_t i = a.size(); i-- > 0;) {
    int s = (a[i] - '0') + (b[i] - '0') + carry;
    out[i + 1] = static_cast<char>('0' + s % 10);
    carry = s / 10;
  }
  out[0] = static_cast<char>('0' + carry);
  return out;
}

// a - b for non-negative integer digit strings of equal length, a >= b.
std::string SubtractDigits(const std::string& a, const std::string& b) {
  std::string out(a.size(), '0');
  int borrow = 0;
  for (size_t i = a.size(); i-- > 0;) {
    int d = (a[i] - '0') - (b[i] - '0') - borrow;
    borrow = d < 0;
    out[i] = static_cast<char>('0' + (d + 10) % 10);
  }
  return out;
}

Status EmptyValue() {
  return InvalidArgument("Supplied AttributeValue is empty, must contain exactly one of the supported datatypes");
}

// Sorted, unique elements of a set, or the duplicates error DynamoDB gives.
Result<std::vector<std::string>> SetFromJson(const json::value& v, Type type) {
  const char* what = type == Type::kSS ? "string" : type == Type::kNS ? "number" : "binary";
  if (!v.is_array()) return InvalidArgument(fmt::format("The {} set must be a list", what));
  const auto& a = v.as_array();
  if (a.empty()) {
    return InvalidArgument(fmt::format("One or more parameter values were invalid: An {} set  may not be empty", what));
  }
  std::vector<std::string> out;
  std::vector<std::string> shown;
  for (const auto& e : a) {
    if (!e.is_string()) return InvalidArgument(fmt::format("The elements of a {} set must be strings", what));
    std::string text(e.as_string());
    shown.push_back(text);
    if (type == Type::kNS) {
      NIMBUS_ASSIGN_OR_RETURN(Number n, Number::Parse(text));
      out.push_back(n.ToString());
    } else if (type == Type::kBS) {
      auto bytes = Base64Decode(text);
      if (!bytes) return InvalidArgument("Invalid Base64 value in a binary set");
      out.push_back(std::move(*bytes));
    } else {
      out.push_back(std::move(text));
    }
  }
  if (type == Type::kNS) {
    std::sort(out.begin(), out.end(), [](const std::string& x, const std::string& y) {
      return *Number::Parse(x) < *Number::Parse(y);
    });
  } else {
    std::sort(out.begin(), out.end());
  }
  if (std::adjacent_find(out.begin(), out.end()) != out.end()) {
    std::string list;
    for (size_t i = 0; i < shown.size(); ++i) list += (i ? ", " : "") + shown[i];
    return InvalidArgument(fmt::format("One or more parameter values were invalid: Input collection [{}] contains duplicates.", list));
  }
  return out;
}

size_t NumberSize(const std::string& text) {
  auto n = Number::Parse(text);
  return n.has_value() ? (n->significant_digits() + 1) / 2 + 1 : text.size();
}

}  // namespace

// ----- Number -----

Result<Number> Number::Parse(std::string_view text) {
  size_t i = 0;
  bool negative = false;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) negative = text[i++] == '-';
  std::string digits;
  int before_point = 0;
  bool point = false, any = false;
  for (; i < text.size(); ++i) {
    char c = text[i];
    if (c >= '0' && c <= '9') {
      any = true;
      // Leading zeros carry no value: drop them (those after the point shift the exponent).
      if (digits.empty() && c == '0') {
        if (point) --before_point;
        continue;
      }
      digits.push_back(c);
      if (!point) ++before_point;
    } else if (c == '.' && !point) {
      point = true;
    } else {
      break;
    }
  }
  if (!any) return NotANumber();
  long exponent = 0;
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    bool exp_negative = false;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) exp_negative = text[i++] == '-';
    if (i == text.size()) return NotANumber();
    for (; i < text.size(); ++i) {
      if (text[i] < '0' || text[i] > '9') return NotANumber();
      exponent = std::min(exponent * 10 + (text[i] - '0'), 100000L);
    }
    if (exp_negative) exponent = -exponent;
  }
  if (i != text.size()) return NotANumber();
  while (!digits.empty() && digits.back() == '0') digits.pop_back();
  if (digits.empty()) return Number();
  // Integer digits counted while leading zeros were skipped: 0.00ab → before_point -2.
  long e = before_point + exponent;
  if (e > 100000) e = 100000;
  if (e < -100000) e = -100000;
  return Checked(negative, std::move(digits), static_cast<int>(e));
}

Result<Number> Number::Checked(bool negative, std::string digits, int exponent) {
  Number n;
  if (digits.empty()) return n;
  if (digits.size() > kMaxDigits) {
    return InvalidArgument("Attempting to store more than 38 significant digits in a Number");
  }
  if (exponent > kMaxExponent) {
    return InvalidArgument("Number overflow. Attempting to store a number with magnitude larger than supported range");
  }
  if (exponent < kMinExponent) {
    return InvalidArgument("Number underflow. Attempting to store a number with magnitude smaller than supported range");
  }
  n.negative_ = negative;
  n.digits_ = std::move(digits);
  n.exponent_ = exponent;
  return n;
}

Number Number::FromInt(int64_t v) { return *Parse(std::to_string(v)); }

std::string Number::ToString() const {
  if (digits_.empty()) return "0";
  std::string out = negative_ ? "-" : "";
  const int len = static_cast<int>(digits_.size());
  if (exponent_ <= 0) {
    out += "0.";
    out.append(static_cast<size_t>(-exponent_), '0');
    out += digits_;
  } else if (exponent_ >= len) {
    out += digits_;
    out.append(static_cast<size_t>(exponent_ - len), '0');
  } else {
    out += digits_.substr(0, static_cast<size_t>(exponent_));
    out += '.';
    out += digits_.substr(static_cast<size_t>(exponent_));
  }
  return out;
}

Number Number::Negated() const {
  Number n = *this;
  if (!n.digits_.empty()) n.negative_ = !n.negative_;
  return n;
}

Result<Number> Number::Add(const Number& a, const Number& b) {
  if (a.is_zero()) return b;
  if (b.is_zero()) return a;
  // Both as integers scaled by 10^low: digits, then zeros down to `low`.
  const int a_low = a.exponent_ - static_cast<int>(a.digits_.size());
  const int b_low = b.exponent_ - static_cast<int>(b.digits_.size());
  const int low = std::min(a_low, b_low);
  const int high = std::max(a.exponent_, b.exponent_);
  auto scaled = [&](const Number& n) {
    std::string s(static_cast<size_t>(high - n.exponent_), '0');
    s += n.digits_;
    s.append(static_cast<size_t>(n.exponent_ - static_cast<int>(n.digits_.size()) - low), '0');
    return s;
  };
  std::string x = scaled(a), y = scaled(b);
  std::string sum;
  bool negative;
  if (a.negative_ == b.negative_) {
    sum = AddDigits(x, y);
    negative = a.negative_;
  } else if (CompareDigits(x, y) >= 0) {
    sum = SubtractDigits(x, y);
    negative = a.negative_;
  } else {
    sum = SubtractDigits(y, x);
    negative = b.negative_;
  }
  // sum × 10^low: normalize to 0.d… × 10^e.
  size_t lead = sum.find_first_not_of('0');
  if (lead == std::string::npos) return Number();
  sum.erase(0, lead);
  const int exponent = static_cast<int>(sum.size()) + low;
  while (!sum.empty() && sum.back() == '0') sum.pop_back();
  return Checked(negative, std::move(sum), exponent);
}

std::strong_ordering operator<=>(const Number& a, const Number& b) {
  auto sign = [](const Number& n) { return n.digits_.empty() ? 0 : n.negative_ ? -1 : 1; };
  if (sign(a) != sign(b)) return sign(a) <=> sign(b);
  if (sign(a) == 0) return std::strong_ordering::equal;
  std::strong_ordering magnitude = a.exponent_ != b.exponent_ ? a.exponent_ <=> b.exponent_
                                                               : a.digits_.compare(b.digits_) <=> 0;
  if (sign(a) > 0) return magnitude;
  return 0 <=> magnitude;
}

std::string Number::SortKey() const {
  if (digits_.empty()) return std::string(1, '\x80');
  std::string out;
  // Exponent biased into two big-endian bytes.
  const auto biased = static_cast<uint16_t>(exponent_ + 0x8000);
  if (!negative_) {
    out.push_back('\x81');
    out.push_back(static_cast<char>(biased >> 8));
    out.push_back(static_cast<char>(biased & 0xff));
    for (char c : digits_) out.push_back(static_cast<char>(c - '0' + 1));
  } else {
    // Everything complemented, and a terminator above every digit byte so that a
    // prefix (smaller magnitude) sorts after its extensions.
    out.push_back('\x7f');
    out.push_back(static_cast<char>(~(biased >> 8)));
    out.push_back(static_cast<char>(~(biased & 0xff)));
    for (char c : digits_) out.push_back(static_cast<char>(10 - (c - '0')));
    out.push_back('\xff');
  }
  return out;
}

// ----- Value -----

std::string_view TypeName(Type t) {
  switch (t) {
    case Type::kS: return "S";
    case Type::kN: return "N";
    case Type::kB: return "B";
    case Type::kBool: return "BOOL";
    case Type::kNull: return "NULL";
    case Type::kM: return "M";
    case Type::kL: return "L";
    case Type::kSS: return "SS";
    case Type::kNS: return "NS";
    case Type::kBS: return "BS";
  }
  return "?";
}

Value::Value() = default;
Value::~Value() = default;

Value Value::S(std::string s) {
  Value v;
  v.type = Type::kS;
  v.scalar = std::move(s);
  return v;
}
Value Value::N(const Number& n) {
  Value v;
  v.type = Type::kN;
  v.scalar = n.ToString();
  return v;
}
Value Value::B(std::string bytes) {
  Value v;
  v.type = Type::kB;
  v.scalar = std::move(bytes);
  return v;
}
Value Value::Bool(bool b) {
  Value v;
  v.type = Type::kBool;
  v.boolean = b;
  return v;
}
Value Value::Null() { return Value(); }

Number Value::number() const {
  auto n = Number::Parse(scalar);
  return n.has_value() ? *n : Number();
}

const Value* Value::Member(std::string_view name) const {
  auto it = std::lower_bound(map.begin(), map.end(), name, [](const auto& e, std::string_view n) { return e.first < n; });
  return it != map.end() && it->first == name ? &it->second : nullptr;
}

Value* Value::MutableMember(std::string_view name) { return const_cast<Value*>(std::as_const(*this).Member(name)); }

void Value::SetMember(std::string name, Value v) {
  auto it = std::lower_bound(map.begin(), map.end(), name, [](const auto& e, const std::string& n) { return e.first < n; });
  if (it != map.end() && it->first == name) {
    it->second = std::move(v);
  } else {
    map.emplace(it, std::move(name), std::move(v));
  }
}

bool Value::RemoveMember(std::string_view name) {
  auto it = std::lower_bound(map.begin(), map.end(), name, [](const auto& e, std::string_view n) { return e.first < n; });
  if (it == map.end() || it->first != name) return false;
  map.erase(it);
  return true;
}

bool operator==(const Value& a, const Value& b) {
  if (a.type != b.type) return false;
  switch (a.type) {
    case Type::kS:
    case Type::kB:
    case Type::kN: return a.scalar == b.scalar;  // numbers are canonical
    case Type::kBool: return a.boolean == b.boolean;
    case Type::kNull: return true;
    case Type::kSS:
    case Type::kNS:
    case Type::kBS: return a.set == b.set;
    case Type::kL: return a.list == b.list;
    case Type::kM: return a.map == b.map;
  }
  return false;
}

Result<Value> ValueFromJson(const json::value& j) {
  if (!j.is_object() || j.as_object().empty()) return EmptyValue();
  const auto& o = j.as_object();
  if (o.size() > 1) {
    return InvalidArgument(
        "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes");
  }
  const auto& [key, x] = *o.begin();
  Value v;
  if (key == "S") {
    if (!x.is_string()) return InvalidArgument("The S value of an AttributeValue must be a string");
    return Value::S(std::string(x.as_string()));
  }
  if (key == "N") {
    if (!x.is_string()) return InvalidArgument("The N value of an AttributeValue must be a string");
    NIMBUS_ASSIGN_OR_RETURN(Number n, Number::Parse(x.as_string()));
    return Value::N(n);
  }
  if (key == "B") {
    if (!x.is_string()) return InvalidArgument("The B value of an AttributeValue must be a base64 string");
    auto bytes = Base64Decode(x.as_string());
    if (!bytes) return InvalidArgument("Invalid Base64 value for the B type of an AttributeValue");
    return Value::B(std::move(*bytes));
  }
  if (key == "BOOL") {
    if (!x.is_bool()) return InvalidArgument("The BOOL value of an AttributeValue must be true or false");
    return Value::Bool(x.as_bool());
  }
  if (key == "NULL") {
    if (!x.is_bool() || !x.as_bool()) {
      return InvalidArgument("One or more parameter values were invalid: Null attribute value types must have the value of true");
    }
    return Value::Null();
  }
  if (key == "M") {
    if (!x.is_object()) return InvalidArgument("The M value of an AttributeValue must be a map");
    v.type = Type::kM;
    for (const auto& [name, member] : x.as_object()) {
      NIMBUS_ASSIGN_OR_RETURN(Value m, ValueFromJson(member));
      v.map.emplace_back(std::string(name), std::move(m));
    }
    std::sort(v.map.begin(), v.map.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    return v;
  }
  if (key == "L") {
    if (!x.is_array()) return InvalidArgument("The L value of an AttributeValue must be a list");
    v.type = Type::kL;
    for (const auto& e : x.as_array()) {
      NIMBUS_ASSIGN_OR_RETURN(Value m, ValueFromJson(e));
      v.list.push_back(std::move(m));
    }
    return v;
  }
  if (key == "SS" || key == "NS" || key == "BS") {
    v.type = key == "SS" ? Type::kSS : key == "NS" ? Type::kNS : Type::kBS;
    NIMBUS_ASSIGN_OR_RETURN(v.set, SetFromJson(x, v.type));
    return v;
  }
  return InvalidArgument(fmt::format("Supplied AttributeValue has an unknown datatype {}, must contain exactly one of "
                                     "the supported datatypes", std::string_view(key)));
}

Result<Item> ItemFromJson(const json::value& j) {
  if (!j.is_object()) return InvalidArgument("An item must be a map of attribute names to AttributeValues");
  Item item;
  for (const auto& [name, v] : j.as_object()) {
    NIMBUS_ASSIGN_OR_RETURN(Value value, ValueFromJson(v));
    item.emplace(std::string(name), std::move(value));
  }
  return item;
}

json::value ValueToJson(const Value& v) {
  switch (v.type) {
    case Type::kS: return json::object{{"S", v.scalar}};
    case Type::kN: return json::object{{"N", v.scalar}};
    case Type::kB: return json::object{{"B", Base64Encode(v.scalar)}};
    case Type::kBool: return json::object{{"BOOL", v.boolean}};
    case Type::kNull: return json::object{{"NULL", true}};
    case Type::kM: {
      json::object m;
      for (const auto& [name, member] : v.map) m[name] = ValueToJson(member);
      return json::object{{"M", std::move(m)}};
    }
    case Type::kL: {
      json::array l;
      for (const auto& e : v.list) l.push_back(ValueToJson(e));
      return json::object{{"L", std::move(l)}};
    }
    case Type::kSS:
    case Type::kNS:
    case Type::kBS: {
      json::array s;
      for (const auto& e : v.set) s.push_back(json::string(v.type == Type::kBS ? Base64Encode(e) : e));
      return json::object{{std::string(TypeName(v.type)), std::move(s)}};
    }
  }
  return json::object{{"NULL", true}};
}

json::object ItemToJson(const Item& item) {
  json::object o;
  for (const auto& [name, v] : item) o[name] = ValueToJson(v);
  return o;
}

size_t ValueSize(const Value& v) {
  switch (v.type) {
    case Type::kS:
    case Type::kB: return v.scalar.size();
    case Type::kN: return NumberSize(v.scalar);
    case Type::kBool:
    case Type::kNull: return 1;
    case Type::kSS:
    case Type::kBS: {
      size_t n = 0;
      for (const auto& e : v.set) n += e.size();
      return n;
    }
    case Type::kNS: {
      size_t n = 0;
      for (const auto& e : v.set) n += NumberSize(e);
      return n;
    }
    case Type::kL: {
      size_t n = 3;
      for (const auto& e : v.list) n += ValueSize(e) + 1;
      return n;
    }
    case Type::kM: {
      size_t n = 3;
      for (const auto& [name, e] : v.map) n += name.size() + ValueSize(e) + 1;
      return n;
    }
  }
  return 0;
}

size_t ItemSize(const Item& item) {
  size_t n = 0;
  for (const auto& [name, v] : item) n += name.size() + ValueSize(v);
  return n;
}

std::string KeyBytes(const Value& v) {
  if (v.type == Type::kN) return v.number().SortKey();
  return v.scalar;
}

std::string ValueForMessage(const Value& v) {
  return fmt::format("{{{}:{}}}", TypeName(v.type), v.type == Type::kB ? Base64Encode(v.scalar) : v.scalar);
}

std::optional<int> CompareScalars(const Value& a, const Value& b) {
  if (a.type != b.type) return std::nullopt;
  if (a.type == Type::kN) {
    auto c = a.number() <=> b.number();
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  if (a.type == Type::kS || a.type == Type::kB) {
    int c = a.scalar.compare(b.scalar);
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  return std::nullopt;
}

}  // namespace nimbus::dynamodb
