#include "events/event_pattern.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <ctime>
#include <limits>
#include <vector>

#include <fmt/format.h>

#include "base/encoding.h"

namespace nimbus::events {
namespace {

namespace json = boost::json;

bool WildcardMatch(std::string_view pattern, std::string_view text) {
  // '*' matches any run of characters (iterative, with backtracking to the last star).
  size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (p < pattern.size() && pattern[p] == text[t]) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

std::optional<double> Number(const json::value& v) {
  if (v.is_number()) return v.to_number<double>();
  return std::nullopt;
}

// Whether one filter (a value or a content filter object) accepts `v`;
// `v` is null for a missing field (only "exists": false accepts that).
bool FilterAccepts(const json::value& filter, const json::value* v) {
  if (!filter.is_object()) {
    if (v == nullptr) return false;
    return filter == *v;
  }
  const auto& f = filter.as_object();
  if (const auto* e = f.if_contains("exists")) return e->is_bool() && e->as_bool() == (v != nullptr);
  if (v == nullptr) return false;
  if (const auto* p = f.if_contains("prefix")) {
    if (p->is_string()) return v->is_string() && std::string_view(v->as_string()).starts_with(std::string_view(p->as_string()));
    if (p->is_object()) {
      const auto* ic = p->as_object().if_contains("equals-ignore-case");
      return ic && ic->is_string() && v->is_string() && AsciiLower(v->as_string()).starts_with(AsciiLower(ic->as_string()));
    }
    return false;
  }
  if (const auto* s = f.if_contains("suffix")) {
    return s->is_string() && v->is_string() && std::string_view(v->as_string()).ends_with(std::string_view(s->as_string()));
  }
  if (const auto* e = f.if_contains("equals-ignore-case")) {
    return e->is_string() && v->is_string() && AsciiLower(e->as_string()) == AsciiLower(v->as_string());
  }
  if (const auto* w = f.if_contains("wildcard")) {
    return w->is_string() && v->is_string() && WildcardMatch(std::string_view(w->as_string()), std::string_view(v->as_string()));
  }
  if (const auto* a = f.if_contains("anything-but")) {
    if (a->is_array()) {
      return std::none_of(a->as_array().begin(), a->as_array().end(), [&](const json::value& x) { return x == *v; });
    }
    if (a->is_object()) {
      if (const auto* p = a->as_object().if_contains("prefix"); p && p->is_string()) {
        return !(v->is_string() && std::string_view(v->as_string()).starts_with(std::string_view(p->as_string())));
      }
      return false;
    }
    return !(*a == *v);
  }
  if (const auto* n = f.if_contains("numeric")) {
    auto x = Number(*v);
    if (!x || !n->is_array()) return false;
    const auto& ops = n->as_array();
    for (size_t i = 0; i + 1 < ops.size(); i += 2) {
      if (!ops[i].is_string()) return false;
      auto bound = Number(ops[i + 1]);
      if (!bound) return false;
      std::string_view op = ops[i].as_string();
      bool ok = op == "=" ? *x == *bound
                : op == "<" ? *x < *bound
                : op == "<=" ? *x <= *bound
                : op == ">" ? *x > *bound
                : op == ">=" ? *x >= *bound
                            : false;
      if (!ok) return false;
    }
    return true;
  }
  return false;
}

// A leaf: an array of filters; the event value (or each element of an array
// value) must be accepted by one of them.
bool LeafMatches(const json::array& filters, const json::value* v) {
  auto any = [&](const json::value* x) {
    return std::any_of(filters.begin(), filters.end(), [&](const json::value& f) { return FilterAccepts(f, x); });
  };
  if (v != nullptr && v->is_array()) {
    for (const auto& e : v->as_array()) {
      if (any(&e)) return true;
    }
    return false;
  }
  return any(v);
}

Status ValidateNode(const json::value& node, const std::string& path) {
  if (!node.is_object()) return InvalidArgument(fmt::format("Event pattern is not valid. Reason: \"{}\" must be an object or an array", path));
  for (const auto& [k, v] : node.as_object()) {
    std::string p = path.empty() ? std::string(k) : path + "." + std::string(k);
    if (v.is_object()) {
      NIMBUS_RETURN_IF_ERROR(ValidateNode(v, p));
    } else if (v.is_array()) {
      for (const auto& f : v.as_array()) {
        if (!f.is_object()) continue;
        static const char* kFilters[] = {"prefix", "suffix", "anything-but", "numeric", "exists", "equals-ignore-case", "wildcard"};
        for (const auto& [fk, fv] : f.as_object()) {
          if (std::none_of(std::begin(kFilters), std::end(kFilters), [&fk = fk](const char* x) { return fk == x; })) {
            return InvalidArgument(fmt::format("Event pattern is not valid. Reason: Unrecognized match type {}", std::string(fk)));
          }
        }
      }
    } else {
      return InvalidArgument(fmt::format("Event pattern is not valid. Reason: Match value must be String, number, true, false, or null at {}", p));
    }
  }
  return Status::Ok();
}

// The value of `s` when it is all decimal digits and fits an int (atoi would
// accept trailing junk and overflow silently: cron(4294967296 ...) read as 0).
std::optional<int> Digits(std::string_view s) {
  int n = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || s.front() == '-') return std::nullopt;
  return n;
}

// Parses one cron field into allowed values in [lo, hi]; names for months/days.
std::optional<uint64_t> CronField(std::string_view field, int lo, int hi, const std::vector<std::string>& names) {
  uint64_t bits = 0;
  auto value = [&](std::string_view s) -> std::optional<int> {
    for (size_t i = 0; i < names.size(); ++i) {
      if (AsciiLower(s) == AsciiLower(names[i])) return lo + static_cast<int>(i);
    }
    auto n = Digits(s);
    if (!n || *n < lo || *n > hi) return std::nullopt;
    return n;
  };
  size_t start = 0;
  while (start <= field.size()) {
    size_t comma = field.find(',', start);
    std::string_view part = field.substr(start, comma == std::string_view::npos ? field.npos : comma - start);
    int step = 1;
    if (size_t slash = part.find('/'); slash != std::string_view::npos) {
      auto s = value(part.substr(slash + 1));
      if (!s || *s <= 0) return std::nullopt;
      step = *s;
      part = part.substr(0, slash);
    }
    int a = lo, b = hi;
    if (part != "*") {
      size_t dash = part.find('-');
      auto first = value(part.substr(0, dash));
      if (!first) return std::nullopt;
      a = *first;
      b = *first;
      if (dash != std::string_view::npos) {
        auto last = value(part.substr(dash + 1));
        if (!last || *last < a) return std::nullopt;
        b = *last;
      } else if (step != 1) {
        b = hi;  // "5/10": from 5 every 10
      }
    }
    for (int i = a; i <= b; i += step) bits |= uint64_t{1} << i;
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return bits;
}

}  // namespace

Status ValidatePattern(std::string_view pattern) {
  boost::system::error_code ec;
  json::value v = json::parse(pattern, ec);
  if (ec) return InvalidArgument(fmt::format("Event pattern is not valid. Reason: {}", ec.message()));
  if (!v.is_object() || v.as_object().empty()) return InvalidArgument("Event pattern is not valid. Reason: the pattern must be a non-empty JSON object");
  return ValidateNode(v, "");
}

bool Matches(const json::value& pattern, const json::value& event) {
  if (!pattern.is_object()) return false;
  const json::object* e = event.is_object() ? &event.as_object() : nullptr;
  for (const auto& [k, p] : pattern.as_object()) {
    const json::value* v = e != nullptr ? e->if_contains(k) : nullptr;
    if (p.is_object()) {
      if (v == nullptr || !Matches(p, *v)) return false;
    } else if (p.is_array()) {
      if (!LeafMatches(p.as_array(), v)) return false;
    } else {
      return false;
    }
  }
  return true;
}

Result<Schedule> ParseSchedule(std::string_view expression) {
  auto invalid = [] { return InvalidArgument("Parameter ScheduleExpression is not valid."); };
  Schedule s;
  if (expression.starts_with("rate(") && expression.ends_with(")")) {
    std::string_view inner = expression.substr(5, expression.size() - 6);
    size_t space = inner.find(' ');
    if (space == std::string_view::npos) return invalid();
    std::string_view num = inner.substr(0, space), unit = inner.substr(space + 1);
    auto parsed = Digits(num);
    if (!parsed || *parsed <= 0) return invalid();
    const int n = *parsed;
    // rate(1 minute) but rate(5 minutes), as EventBridge insists.
    int per = unit == (n == 1 ? "minute" : "minutes") ? 1
              : unit == (n == 1 ? "hour" : "hours") ? 60
              : unit == (n == 1 ? "day" : "days")   ? 1440
                                                    : 0;
    // rate(2000000 days) is more minutes than an int holds.
    if (per == 0 || n > std::numeric_limits<int>::max() / per) return invalid();
    s.rate_minutes = n * per;
    return s;
  }
  if (!expression.starts_with("cron(") || !expression.ends_with(")")) return invalid();
  std::vector<std::string_view> f;
  std::string_view inner = expression.substr(5, expression.size() - 6);
  while (!inner.empty()) {
    size_t space = inner.find(' ');
    if (space != 0) f.push_back(inner.substr(0, space));
    if (space == std::string_view::npos) break;
    inner.remove_prefix(space + 1);
  }
  if (f.size() != 6) return invalid();
  static const std::vector<std::string> kMonths = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
  static const std::vector<std::string> kDays = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};
  auto minutes = CronField(f[0], 0, 59, {});
  auto hours = CronField(f[1], 0, 23, {});
  auto months = CronField(f[3], 1, 12, kMonths);
  if (!minutes || !hours || !months) return invalid();
  s.minutes = *minutes;
  s.hours = *hours;
  s.months = *months;
  // Exactly one of day-of-month and day-of-week is "?".
  if ((f[2] == "?") == (f[4] == "?")) return invalid();
  if (f[2] != "?") {
    auto d = CronField(f[2], 1, 31, {});
    if (!d) return invalid();
    s.days_of_month = *d;
    s.any_day_of_month = f[2] == "*";
  }
  if (f[4] != "?") {
    auto d = CronField(f[4], 1, 7, kDays);  // EventBridge: 1 = SUN
    if (!d) return invalid();
    s.days_of_week = *d;
    s.any_day_of_week = f[4] == "*";
  }
  if (f[5] != "*") {
    size_t dash = f[5].find('-');
    auto year_min = Digits(f[5].substr(0, dash));
    auto year_max = dash == std::string_view::npos ? year_min : Digits(f[5].substr(dash + 1));
    if (!year_min || !year_max || *year_min < 1970 || *year_max < *year_min) return invalid();
    s.year_min = *year_min;
    s.year_max = *year_max;
  }
  return s;
}

bool FiresAt(const Schedule& s, int64_t minute, int64_t origin_minute) {
  if (s.rate_minutes > 0) return minute > origin_minute && (minute - origin_minute) % s.rate_minutes == 0;
  std::time_t t = static_cast<std::time_t>(minute * 60);
  std::tm tm;
  gmtime_r(&t, &tm);
  auto has = [](uint64_t bits, int v) { return (bits >> v) & 1; };
  if (!has(s.minutes, tm.tm_min) || !has(s.hours, tm.tm_hour) || !has(s.months, tm.tm_mon + 1)) return false;
  if (tm.tm_year + 1900 < s.year_min || tm.tm_year + 1900 > s.year_max) return false;
  if (s.days_of_month != 0 && !has(s.days_of_month, tm.tm_mday)) return false;
  if (s.days_of_week != 0 && !has(s.days_of_week, tm.tm_wday + 1)) return false;
  return true;
}

}  // namespace nimbus::events
