#include "control/policy.h"

#include <cctype>
#include <string>

#include <boost/json.hpp>

#include "base/encoding.h"

namespace nimbus::control {
namespace {

namespace json = boost::json;

// Whether `x` (a string or an array of strings) holds a value `pred` accepts.
template <typename Pred>
bool AnyOf(const json::value* x, Pred pred) {
  if (x == nullptr) return false;
  if (x->is_string()) return pred(std::string_view(x->as_string()));
  if (!x->is_array()) return false;
  for (const auto& e : x->as_array()) {
    if (e.is_string() && pred(std::string_view(e.as_string()))) return true;
  }
  return false;
}

}  // namespace

bool PolicyAllows(std::string_view document, std::string_view principal, std::string_view action) {
  boost::system::error_code ec;
  json::value v = json::parse(document, ec);
  if (ec || !v.is_object()) return false;
  const json::value* statements = v.as_object().if_contains("Statement");
  if (statements == nullptr) return false;
  json::array list = statements->is_array() ? statements->as_array() : json::array{*statements};
  for (const auto& s : list) {
    if (!s.is_object()) continue;
    const auto& o = s.as_object();
    const json::value* effect = o.if_contains("Effect");
    if (effect == nullptr || !effect->is_string() || effect->as_string() != "Allow") continue;
    // Actions compare case-insensitively ("SQS:SendMessage"); "<service>:*" and "*" cover all.
    const std::string want = AsciiLower(action);
    const std::string service = want.substr(0, want.find(':') + 1) + "*";
    bool allowed = AnyOf(o.if_contains("Action"), [&](std::string_view a) {
      std::string got = AsciiLower(a);
      return got == want || got == service || got == "*";
    });
    const json::value* p = o.if_contains("Principal");
    bool anyone = p != nullptr && p->is_string() && p->as_string() == "*";
    bool matches = anyone;
    if (p != nullptr && p->is_object()) {
      anyone = AnyOf(p->as_object().if_contains("AWS"), [](std::string_view x) { return x == "*"; });
      matches = anyone || AnyOf(p->as_object().if_contains("Service"),
                                [&](std::string_view x) { return x == principal; });
    }
    if (allowed && matches) return true;
  }
  return false;
}

}  // namespace nimbus::control
