#include "metrics/cloudwatch_api.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cmath>
#include <ctime>
#include <optional>
#include <set>
#include <utility>
#include <variant>
#include <vector>

#include "base/encoding.h"
#include "http/sigv4_scope.h"
#include "metrics/cbor.h"

namespace nimbus::metrics {
namespace {

namespace json = boost::json;

constexpr std::string_view kTargetPrefix = "GraniteServiceVersion20100801.";
constexpr std::string_view kRpcPath = "/service/GraniteServiceVersion20100801/operation/";
constexpr std::string_view kXmlns = "http://monitoring.amazonaws.com/doc/2010-08-01/";
constexpr std::string_view kErrorNamespace = "com.amazonaws.cloudwatch#";
constexpr std::string_view kNamespace = "AWS/Lambda";

constexpr int64_t kMaxStatisticsDatapoints = 1440;    // GetMetricStatistics, per call
constexpr int64_t kMaxMetricDataDatapoints = 100800;  // GetMetricData, per page
constexpr size_t kMaxMetricDataQueries = 500;
constexpr size_t kListMetricsPage = 500;
constexpr int kMaxQueryMembers = 1000;  // query protocol: the largest "member.N"
constexpr int64_t kRetentionSeconds = 15 * 24 * 3600;
constexpr int64_t kLatestTime = 253402300799;  // 9999-12-31T23:59:59Z

// Candidates for ListMetrics; those MetricsStore knows (UnitOf) are listed.
// clang-format off
constexpr std::string_view kMetricNames[] = {
    "Invocations", "Errors", "Throttles", "Duration", "ConcurrentExecutions", "ColdStarts",
    "InitDuration", "DeadLetterErrors", "DestinationDeliveryFailures", "AsyncEventAge",
    "AsyncEventsReceived", "AsyncEventsDropped"};
constexpr std::string_view kStatistics[] = {"SampleCount", "Average", "Sum", "Minimum", "Maximum"};
constexpr std::string_view kUnits[] = {
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes",
    "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count",
    "Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second",
    "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second", "Gigabits/Second",
    "Terabits/Second", "Count/Second", "None"};
// clang-format on

// Output members holding epoch seconds (timestamps on the wire) and maps.
const std::set<std::string, std::less<>> kTimestampFields = {"Timestamp", "Timestamps"};
const std::set<std::string, std::less<>> kMapFields = {"ExtendedStatistics"};

template <size_t N>
bool OneOf(const std::string_view (&set)[N], std::string_view s) {
  return std::find(std::begin(set), std::end(set), s) != std::end(set);
}

// A CloudWatch error: the modelled shape (__type), the query protocol's code, and
// whether the sender is at fault.
struct ApiError {
  std::string type;
  std::string code;
  std::string message;
  int status = 400;
};

ApiError InvalidParameterValue(std::string message) {
  return {"InvalidParameterValueException", "InvalidParameterValue", std::move(message)};
}
ApiError MissingParameter(std::string_view name) {
  return {"MissingRequiredParameterException", "MissingParameter",
          fmt::format("The parameter {} is required.", name)};
}
ApiError InvalidParameterCombination(std::string message) {
  return {"InvalidParameterCombinationException", "InvalidParameterCombination",
          std::move(message)};
}
// GetMetricData reports bad input with this (unmodelled) error.
ApiError ValidationError(std::string message) {
  return {"ValidationError", "ValidationError", std::move(message)};
}
ApiError InvalidNextToken() {
  return {"InvalidNextToken", "InvalidNextToken", "The NextToken is not valid."};
}
ApiError InternalFault(const Status& st) {
  return {"InternalServiceFault", "InternalServiceError", std::string(st.message()), 500};
}

enum class Protocol { kQuery, kJson, kCbor };

// One parsed request.
struct Call {
  Protocol protocol = Protocol::kJson;
  std::string action;
  json::object input;
  std::string request_id = NewUuid();
};

// --- Time ----------------------------------------------------------------------

int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

// "2024-01-02T03:04:05Z", with optional fractional seconds and a Z, ±HH:MM or
// ±HHMM offset (none: UTC), 'T' or a space; a date alone is its midnight.
std::optional<double> ParseIso8601(std::string_view s) {
  size_t i = 0;
  auto digits = [&](size_t n) -> std::optional<int> {
    if (i + n > s.size()) return std::nullopt;
    int v = 0;
    for (size_t k = 0; k < n; ++k) {
      if (!std::isdigit(static_cast<unsigned char>(s[i + k]))) return std::nullopt;
      v = v * 10 + (s[i + k] - '0');
    }
    i += n;
    return v;
  };
  auto expect = [&](char c) {
    if (i < s.size() && s[i] == c) {
      ++i;
      return true;
    }
    return false;
  };
  auto year = digits(4);
  if (!year || !expect('-')) return std::nullopt;
  auto month = digits(2);
  if (!month || !expect('-')) return std::nullopt;
  auto day = digits(2);
  if (!day || *month < 1 || *month > 12 || *day < 1 || *day > 31) return std::nullopt;
  double seconds = static_cast<double>(DaysFromCivil(*year, static_cast<unsigned>(*month),
                                                     static_cast<unsigned>(*day))) *
                   86400;
  if (i == s.size()) return seconds;
  if (!expect('T') && !expect('t') && !expect(' ')) return std::nullopt;
  auto hh = digits(2);
  if (!hh || !expect(':')) return std::nullopt;
  auto mm = digits(2);
  if (!mm) return std::nullopt;
  int ss = 0;
  if (expect(':')) {
    auto v = digits(2);
    if (!v) return std::nullopt;
    ss = *v;
  }
  if (*hh > 23 || *mm > 59 || ss > 60) return std::nullopt;
  seconds += *hh * 3600 + *mm * 60 + ss;
  if (expect('.')) {
    double scale = 0.1;
    size_t start = i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
      seconds += (s[i] - '0') * scale;
      scale /= 10;
      ++i;
    }
    if (i == start) return std::nullopt;
  }
  if (i == s.size() || expect('Z') || expect('z')) {
    return i == s.size() ? std::optional(seconds) : std::nullopt;
  }
  const bool minus = s[i] == '-';
  if (!expect('+') && !expect('-')) return std::nullopt;
  auto oh = digits(2);
  if (!oh) return std::nullopt;
  expect(':');
  auto om = digits(2);
  if (!om || i != s.size()) return std::nullopt;
  const int offset = *oh * 3600 + *om * 60;
  return minus ? seconds + offset : seconds - offset;
}

std::string IsoSeconds(int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm;
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::optional<int64_t> ParseInt64(std::string_view s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// --- Input ---------------------------------------------------------------------

// Query-protocol parameters as the JSON input they stand for:
// "Dimensions.member.1.Name=FunctionName" → {"Dimensions": [{"Name": "FunctionName"}]}.
// Values stay strings; Reader reads numbers and booleans from strings too.
// nullopt: a list index out of range.
std::optional<json::object> QueryToJson(
    const std::vector<std::pair<std::string, std::string>>& params) {
  json::value root = json::object();
  for (const auto& [key, value] : params) {
    std::vector<std::string_view> segments;
    std::string_view rest = key;
    while (true) {
      size_t dot = rest.find('.');
      segments.push_back(rest.substr(0, dot));
      if (dot == std::string_view::npos) break;
      rest.remove_prefix(dot + 1);
    }
    json::value* node = &root;
    for (size_t i = 0; i < segments.size(); ++i) {
      // A list needs a name: a key starting "member." (no parameter is a list at
      // the top) is an ordinary, unknown name. Indexing the root made it an array,
      // and the as_object() below threw, ending the process.
      if (i > 0 && segments[i] == "member" && i + 1 < segments.size()) {
        auto index = ParseInt64(segments[i + 1]);
        if (!index || *index < 1 || *index > kMaxQueryMembers) return std::nullopt;
        if (!node->is_array()) *node = json::array();
        json::array& a = node->as_array();
        if (a.size() < static_cast<size_t>(*index)) a.resize(static_cast<size_t>(*index));
        node = &a[static_cast<size_t>(*index) - 1];
        ++i;
        continue;
      }
      if (!node->is_object()) *node = json::object();
      node = &node->as_object()[segments[i]];
    }
    *node = json::string(value);
  }
  return std::move(root.as_object());
}

// Reads members of one input structure, whichever protocol carried it, and keeps
// the first problem in `*error` (later reads return nothing). `path` names the
// structure in messages the query protocol's way ("MetricDataQueries.member.1.").
// GetMetricData reports every problem as ValidationError; the other operations
// as MissingParameter / InvalidParameterValue.
class Reader {
 public:
  Reader(const json::object& o, std::string path, bool validation_errors,
         std::optional<ApiError>* error)
      : o_(o), path_(std::move(path)), validation_errors_(validation_errors), error_(error) {}

  std::string Path(std::string_view name) const { return path_ + std::string(name); }

  std::optional<std::string> String(std::string_view name, bool required = false) {
    const json::value* v = Get(name, required);
    if (v == nullptr) return std::nullopt;
    if (!v->is_string()) return Invalid(name, "must be a string");
    return std::string(v->as_string());
  }

  std::optional<int64_t> Int(std::string_view name, bool required = false) {
    const json::value* v = Get(name, required);
    if (v == nullptr) return std::nullopt;
    if (v->is_int64()) return v->as_int64();
    if (v->is_uint64() && v->as_uint64() <= static_cast<uint64_t>(INT64_MAX)) {
      return static_cast<int64_t>(v->as_uint64());
    }
    if (v->is_double() && std::trunc(v->as_double()) == v->as_double() &&
        std::abs(v->as_double()) < 9e15) {
      return static_cast<int64_t>(v->as_double());
    }
    if (v->is_string()) {
      if (auto n = ParseInt64(v->as_string())) return n;
    }
    return Invalid(name, "must be an integer");
  }

  std::optional<bool> Bool(std::string_view name) {
    const json::value* v = Get(name, false);
    if (v == nullptr) return std::nullopt;
    if (v->is_bool()) return v->as_bool();
    if (v->is_string() && (v->as_string() == "true" || v->as_string() == "false")) {
      return v->as_string() == "true";
    }
    return Invalid(name, "must be true or false");
  }

  // Epoch seconds: a number (JSON, CBOR) or an ISO 8601 string (query protocol).
  std::optional<double> Time(std::string_view name, bool required = false) {
    const json::value* v = Get(name, required);
    if (v == nullptr) return std::nullopt;
    std::optional<double> t;
    if (v->is_number()) {
      t = v->to_number<double>();
    } else if (v->is_string()) {
      std::string_view s = v->as_string();
      t = ParseIso8601(s);
      if (!t) {
        double d = 0;
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
        if (ec == std::errc() && p == s.data() + s.size()) t = d;
      }
    }
    if (!t || !std::isfinite(*t) || *t < 0 || *t > kLatestTime) {
      return Invalid(name, "must be a timestamp");
    }
    return t;
  }

  // A list of strings: JSON array / query "<name>.member.N".
  std::vector<std::string> Strings(std::string_view name) {
    std::vector<std::string> out;
    const json::array* a = Array(name);
    if (a == nullptr) return out;
    for (size_t i = 0; i < a->size(); ++i) {
      if (!(*a)[i].is_string()) {
        Fail(Problem(fmt::format("{}.member.{}", name, i + 1), "must be a string"));
        return {};
      }
      out.emplace_back((*a)[i].as_string());
    }
    return out;
  }

  // A list of structures.
  std::vector<Reader> Structs(std::string_view name) {
    std::vector<Reader> out;
    const json::array* a = Array(name);
    if (a == nullptr) return out;
    for (size_t i = 0; i < a->size(); ++i) {
      std::string path = fmt::format("{}{}.member.{}", path_, name, i + 1);
      if (!(*a)[i].is_object()) {
        Fail(Problem(path.substr(path_.size()), "must be a structure"));
        return {};
      }
      out.emplace_back((*a)[i].as_object(), path + ".", validation_errors_, error_);
    }
    return out;
  }

  std::optional<Reader> Struct(std::string_view name, bool required = false) {
    const json::value* v = Get(name, required);
    if (v == nullptr) return std::nullopt;
    if (!v->is_object()) {
      Fail(Problem(name, "must be a structure"));
      return std::nullopt;
    }
    return Reader(v->as_object(), Path(name) + ".", validation_errors_, error_);
  }

  bool Has(std::string_view name) const {
    const json::value* v = o_.if_contains(name);
    return v != nullptr && !v->is_null();
  }

  // A problem with member `name` of this structure, the operation's way.
  ApiError Problem(std::string_view name, std::string_view why) const {
    std::string message = fmt::format("The value for parameter {} {}.", Path(name), why);
    return validation_errors_ ? ValidationError(std::move(message))
                              : InvalidParameterValue(std::move(message));
  }
  void Fail(ApiError e) {
    if (!*error_) *error_ = std::move(e);
  }
  bool failed() const { return error_->has_value(); }

 private:
  const json::value* Get(std::string_view name, bool required) {
    if (failed()) return nullptr;
    const json::value* v = o_.if_contains(name);
    if (v != nullptr && !v->is_null()) return v;
    if (required) {
      std::string path = Path(name);
      Fail(validation_errors_ ? ValidationError(fmt::format("The parameter {} is required.", path))
                              : MissingParameter(path));
    }
    return nullptr;
  }

  const json::array* Array(std::string_view name) {
    const json::value* v = Get(name, false);
    if (v == nullptr) return nullptr;
    if (v->is_array()) return &v->as_array();
    // The query protocol sends an empty list as "<name>=".
    if (v->is_string() && v->as_string().empty()) return nullptr;
    Fail(Problem(name, "must be a list"));
    return nullptr;
  }

  std::nullopt_t Invalid(std::string_view name, std::string_view why) {
    Fail(Problem(name, why));
    return std::nullopt;
  }

  const json::object& o_;
  std::string path_;
  bool validation_errors_;
  std::optional<ApiError>* error_;
};

// --- Output --------------------------------------------------------------------

std::string FormatNumber(const json::value& v) {
  if (v.is_int64()) return std::to_string(v.as_int64());
  if (v.is_uint64()) return std::to_string(v.as_uint64());
  return fmt::format("{}", v.as_double());
}

// CloudWatch's XML: lists as <member> elements, maps as <entry><key/><value/>.
void AppendXml(std::string& out, std::string_view name, const json::value& v, bool timestamp) {
  out += fmt::format("<{}>", name);
  if (v.is_array()) {
    for (const auto& e : v.as_array()) AppendXml(out, "member", e, timestamp);
  } else if (v.is_object() && kMapFields.contains(name)) {
    for (const auto& [k, x] : v.as_object()) {
      out += fmt::format("<entry><key>{}</key>", XmlEscape(k));
      AppendXml(out, "value", x, false);
      out += "</entry>";
    }
  } else if (v.is_object()) {
    for (const auto& [k, x] : v.as_object()) {
      AppendXml(out, k, x, kTimestampFields.contains(std::string_view(k)));
    }
  } else if (v.is_string()) {
    out += XmlEscape(v.as_string());
  } else if (v.is_bool()) {
    out += v.as_bool() ? "true" : "false";
  } else if (v.is_number()) {
    out += timestamp ? IsoSeconds(v.to_number<int64_t>()) : FormatNumber(v);
  }
  out += fmt::format("</{}>", name);
}

http::Response Reply(const Call& c, const json::object& result) {
  http::Response r;
  r.headers.Set("x-amzn-RequestId", c.request_id);
  switch (c.protocol) {
    case Protocol::kJson:
      r.headers.Set("Content-Type", "application/x-amz-json-1.0");
      r.body = json::serialize(result);
      break;
    case Protocol::kCbor:
      r.headers.Set("smithy-protocol", "rpc-v2-cbor");
      r.headers.Set("Content-Type", "application/cbor");
      r.body = JsonToCbor(result, kTimestampFields);
      break;
    case Protocol::kQuery: {
      r.headers.Set("Content-Type", "text/xml");
      std::string& out = r.body;
      out =
          fmt::format(R"(<?xml version="1.0" encoding="UTF-8"?><{}Response xmlns="{}"><{}Result>)",
                      c.action, kXmlns, c.action);
      for (const auto& [k, v] : result) {
        AppendXml(out, k, v, kTimestampFields.contains(std::string_view(k)));
      }
      out += fmt::format(
          "</{0}Result><ResponseMetadata><RequestId>{1}</RequestId>"
          "</ResponseMetadata></{0}Response>",
          c.action, c.request_id);
      break;
    }
  }
  return r;
}

http::Response ErrorReply(const Call& c, const ApiError& e) {
  http::Response r;
  r.status = e.status;
  r.headers.Set("x-amzn-RequestId", c.request_id);
  const char* fault = e.status >= 500 ? "Receiver" : "Sender";
  if (c.protocol == Protocol::kQuery) {
    r.headers.Set("Content-Type", "text/xml");
    r.body = fmt::format(
        R"(<?xml version="1.0" encoding="UTF-8"?><ErrorResponse xmlns="{}"><Error><Type>{}</Type>)"
        "<Code>{}</Code><Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
        kXmlns, fault, e.code, XmlEscape(e.message), c.request_id);
    return r;
  }
  // The SDKs take the query protocol's code from this header (awsQueryCompatible).
  r.headers.Set("x-amzn-query-error", fmt::format("{};{}", e.code, fault));
  json::object body{{"__type", std::string(kErrorNamespace) + e.type}, {"message", e.message}};
  if (c.protocol == Protocol::kCbor) {
    r.headers.Set("smithy-protocol", "rpc-v2-cbor");
    r.headers.Set("Content-Type", "application/cbor");
    r.body = JsonToCbor(body);
  } else {
    r.headers.Set("Content-Type", "application/x-amz-json-1.0");
    r.body = json::serialize(body);
  }
  return r;
}

// --- Metrics -------------------------------------------------------------------

struct Dimension {
  std::string name, value;
};

// The store's series for a metric's dimensions: {FunctionName} → every invocation
// of the function; {FunctionName, Resource} → those through "name:qualifier".
// nullopt for any other set (no such metric here).
std::optional<SeriesKey> SeriesOf(const std::vector<Dimension>& dimensions) {
  std::optional<std::string> function, resource;
  for (const auto& d : dimensions) {
    if (d.name == "FunctionName" && !function) {
      function = d.value;
    } else if (d.name == "Resource" && !resource) {
      resource = d.value;
    } else {
      return std::nullopt;
    }
  }
  // No dimensions: the account's metrics, every function together.
  if (!function && !resource) return SeriesKey{"", ""};
  if (!function || function->empty() || (resource && resource->empty())) return std::nullopt;
  return SeriesKey{*function, resource.value_or("")};
}

// "p99", "p99.9", "p99.99", "p0" .. "p100".
bool IsPercentile(std::string_view s) {
  if (s.size() < 2 || s[0] != 'p') return false;
  s.remove_prefix(1);
  size_t dot = s.find('.');
  std::string_view whole = s.substr(0, dot);
  std::string_view fraction =
      dot == std::string_view::npos ? std::string_view() : s.substr(dot + 1);
  auto all_digits = [](std::string_view d) {
    return std::all_of(d.begin(), d.end(),
                       [](char ch) { return std::isdigit(static_cast<unsigned char>(ch)); });
  };
  if (whole.empty() || whole.size() > 3 || !all_digits(whole)) return false;
  if (dot != std::string_view::npos &&
      (fraction.empty() || fraction.size() > 2 || !all_digits(fraction)))
    return false;
  const int w = std::stoi(std::string(whole));
  if (w > 100) return false;
  return w < 100 ||
         std::all_of(fraction.begin(), fraction.end(), [](char ch) { return ch == '0'; });
}

std::optional<double> StatOf(const Datapoint& d, const std::string& stat) {
  if (stat == "SampleCount") return d.sample_count;
  if (stat == "Average") return d.average;
  if (stat == "Sum") return d.sum;
  if (stat == "Minimum") return d.minimum;
  if (stat == "Maximum") return d.maximum;
  auto it = d.percentiles.find(stat);
  if (it == d.percentiles.end()) return std::nullopt;
  return it->second;
}

json::array DimensionsJson(const SeriesKey& key) {
  if (key.function.empty()) return json::array{};  // the account's series
  json::array out{json::object{{"Name", "FunctionName"}, {"Value", key.function}}};
  if (!key.resource.empty()) {
    out.push_back(json::object{{"Name", "Resource"}, {"Value", key.resource}});
  }
  return out;
}

// Pagination tokens: the offset into the operation's results, as text.
std::optional<size_t> ParseToken(const std::optional<std::string>& token) {
  if (!token) return 0;
  auto n = ParseInt64(*token);
  if (!n || *n < 0) return std::nullopt;
  return static_cast<size_t>(*n);
}

class Executor {
 public:
  Executor(MetricsStore& store, const Clock& clock, const CloudWatchApiOptions& options,
           const Call& c)
      : store_(store), clock_(clock), options_(options), c_(c) {}

  http::Response Run() {
    if (c_.action == "GetMetricStatistics") return GetMetricStatistics();
    if (c_.action == "GetMetricData") return GetMetricData();
    if (c_.action == "ListMetrics") return ListMetrics();
    return ErrorReply(
        c_,
        {"UnknownOperationException", "InvalidAction",
         fmt::format("The action {} is not valid for this web service: Nimbus serves "
                     "GetMetricStatistics, GetMetricData and ListMetrics for namespace AWS/Lambda.",
                     c_.action.empty() ? "(none)" : c_.action)});
  }

 private:
  // Dimensions of a metric: each with a Name and a Value.
  std::vector<Dimension> Dimensions(Reader& in) {
    std::vector<Dimension> out;
    for (Reader& d : in.Structs("Dimensions")) {
      auto name = d.String("Name", true);
      auto value = d.String("Value", true);
      if (name && value) out.push_back({std::move(*name), std::move(*value)});
    }
    if (out.size() > 30) in.Fail(in.Problem("Dimensions", "must not have more than 30 members"));
    return out;
  }

  // The datapoints of `metric` under `series`, or none when this server has no
  // such metric (another namespace, an unknown name or dimension set, another unit).
  Result<std::vector<Datapoint>> Query(const std::string& ns, const std::string& metric,
                                       const std::vector<Dimension>& dimensions,
                                       const std::optional<std::string>& unit, int64_t start_s,
                                       int64_t end_s, int64_t period_s,
                                       std::vector<std::string> percentiles) {
    auto series = SeriesOf(dimensions);
    auto metric_unit = UnitOf(metric);
    if (ns != kNamespace || !series || !metric_unit || (unit && *unit != *metric_unit)) {
      return std::vector<Datapoint>{};
    }
    MetricQuery q;
    q.metric_name = metric;
    q.series = std::move(*series);
    q.start_s = start_s;
    q.end_s = end_s;
    q.period_s = period_s;
    q.percentiles = std::move(percentiles);
    return store_.Query(q);
  }

  // StartTime and EndTime as whole seconds: the start rounded down to its minute
  // (as CloudWatch does for data under 15 days old), the end up to its second.
  // False when the start is not before the end.
  static bool Window(double start, double end, int64_t* start_s, int64_t* end_s) {
    if (start >= end) return false;
    *start_s = static_cast<int64_t>(std::floor(start / 60)) * 60;
    *end_s = static_cast<int64_t>(std::ceil(end));
    return true;
  }
  static constexpr std::string_view kStartAfterEnd =
      "The parameter StartTime must be less than the parameter EndTime.";

  http::Response GetMetricStatistics() {
    std::optional<ApiError> error;
    Reader in(c_.input, "", false, &error);
    auto ns = in.String("Namespace", true);
    auto metric = in.String("MetricName", true);
    auto start = in.Time("StartTime", true);
    auto end = in.Time("EndTime", true);
    auto period = in.Int("Period", true);
    auto dimensions = Dimensions(in);
    auto statistics = in.Strings("Statistics");
    auto extended = in.Strings("ExtendedStatistics");
    auto unit = in.String("Unit");
    if (error) return ErrorReply(c_, *error);
    for (size_t i = 0; i < statistics.size(); ++i) {
      if (!OneOf(kStatistics, statistics[i])) {
        return ErrorReply(
            c_, InvalidParameterValue(fmt::format(
                    "The value {} for parameter Statistics.member.{} is not valid: it is one of "
                    "SampleCount, Average, Sum, Minimum and Maximum.",
                    statistics[i], i + 1)));
      }
    }
    for (size_t i = 0; i < extended.size(); ++i) {
      if (!IsPercentile(extended[i])) {
        return ErrorReply(
            c_, InvalidParameterValue(fmt::format(
                    "The value {} for parameter ExtendedStatistics.member.{} is not supported: "
                    "Nimbus serves percentiles, p0.0 to p100.",
                    extended[i], i + 1)));
      }
    }
    if (statistics.empty() == extended.empty()) {
      return ErrorReply(c_,
                        InvalidParameterCombination(
                            "Must specify either Statistics or ExtendedStatistics, but not both."));
    }
    if (statistics.size() > 5) {
      return ErrorReply(c_, InvalidParameterValue(
                                "The collection Statistics must not have more than 5 members."));
    }
    if (extended.size() > 10) {
      return ErrorReply(
          c_, InvalidParameterValue(
                  "The collection ExtendedStatistics must not have more than 10 members."));
    }
    if (unit && !OneOf(kUnits, *unit)) {
      return ErrorReply(c_, InvalidParameterValue(fmt::format(
                                "The value {} for parameter Unit is not a valid unit.", *unit)));
    }
    if (*period < 60 || *period % 60 != 0) {
      return ErrorReply(
          c_, InvalidParameterValue(
                  "The parameter Period must be a multiple of 60 (Nimbus keeps Lambda metrics at "
                  "1-minute resolution)."));
    }
    int64_t start_s = 0, end_s = 0;
    if (!Window(*start, *end, &start_s, &end_s)) {
      return ErrorReply(c_, InvalidParameterValue(std::string(kStartAfterEnd)));
    }
    const int64_t span = end_s - start_s;
    const int64_t requested = span / *period + (span % *period != 0 ? 1 : 0);
    if (requested > kMaxStatisticsDatapoints) {
      return ErrorReply(
          c_,
          InvalidParameterCombination(fmt::format(
              "You have requested up to {} datapoints, which exceeds the limit of {}. You may "
              "reduce the datapoints requested by increasing Period, or decreasing the time range.",
              requested, kMaxStatisticsDatapoints)));
    }
    auto points = Query(*ns, *metric, dimensions, unit, start_s, end_s, *period, extended);
    if (!points.has_value()) return ErrorReply(c_, InternalFault(points.error()));
    json::array datapoints;
    for (const Datapoint& d : *points) {
      json::object o{{"Timestamp", d.timestamp_s}};
      for (const auto& s : statistics) o[s] = *StatOf(d, s);
      o["Unit"] = d.unit;
      if (!extended.empty()) {
        json::object values;
        for (const auto& p : extended) {
          if (auto v = StatOf(d, p)) values[p] = *v;
        }
        o["ExtendedStatistics"] = std::move(values);
      }
      datapoints.push_back(std::move(o));
    }
    return Reply(c_, {{"Label", *metric}, {"Datapoints", std::move(datapoints)}});
  }

  // One MetricDataQuery, read and checked.
  struct DataQuery {
    std::string id, label, ns, metric, stat;
    std::vector<Dimension> dimensions;
    std::optional<std::string> unit;
    int64_t period = 0;
    bool return_data = true;
  };

  std::optional<DataQuery> ReadDataQuery(Reader& q, std::set<std::string>& ids) {
    DataQuery out;
    auto id = q.String("Id", true);
    auto label = q.String("Label");
    auto return_data = q.Bool("ReturnData");
    if (q.failed()) return std::nullopt;
    if (q.Has("Expression")) {
      q.Fail(ValidationError(fmt::format(
          "The parameter {} is not supported: Nimbus does not evaluate metric math or Metrics "
          "Insights expressions; ask for each metric with a MetricStat and combine the values "
          "yourself.",
          q.Path("Expression"))));
      return std::nullopt;
    }
    const bool valid_id = !id->empty() && id->size() <= 255 &&
                          std::islower(static_cast<unsigned char>((*id)[0])) &&
                          std::all_of(id->begin(), id->end(), [](char ch) {
                            return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_';
                          });
    if (!valid_id) {
      q.Fail(
          ValidationError(fmt::format("The value {} for parameter {} is not valid: an Id starts "
                                      "with a lowercase letter and holds only letters, digits "
                                      "and underscores.",
                                      *id, q.Path("Id"))));
      return std::nullopt;
    }
    if (!ids.insert(*id).second) {
      q.Fail(ValidationError(fmt::format(
          "The value {} for parameter {} is used by more than one query.", *id, q.Path("Id"))));
      return std::nullopt;
    }
    auto stat = q.Struct("MetricStat", true);
    if (!stat) return std::nullopt;
    auto metric = stat->Struct("Metric", true);
    auto period = stat->Int("Period", true);
    auto statistic = stat->String("Stat", true);
    auto unit = stat->String("Unit");
    if (!metric) return std::nullopt;
    auto ns = metric->String("Namespace", true);
    auto name = metric->String("MetricName", true);
    out.dimensions = Dimensions(*metric);
    if (q.failed()) return std::nullopt;
    if (*period < 60 || *period % 60 != 0) {
      q.Fail(
          ValidationError(fmt::format("The value {} for parameter {} is not valid: it must be a "
                                      "multiple of 60 (Nimbus keeps Lambda metrics at 1-minute "
                                      "resolution).",
                                      *period, stat->Path("Period"))));
      return std::nullopt;
    }
    if (!OneOf(kStatistics, *statistic) && !IsPercentile(*statistic)) {
      q.Fail(
          ValidationError(fmt::format("The value {} for parameter {} is not supported: Nimbus "
                                      "serves SampleCount, Average, Sum, Minimum, Maximum and "
                                      "percentiles (p0.0 to p100).",
                                      *statistic, stat->Path("Stat"))));
      return std::nullopt;
    }
    if (unit && !OneOf(kUnits, *unit)) {
      q.Fail(ValidationError(fmt::format("The value {} for parameter {} is not a valid unit.",
                                         *unit, stat->Path("Unit"))));
      return std::nullopt;
    }
    out.id = *id;
    out.label = label.value_or(*name);
    out.ns = *ns;
    out.metric = *name;
    out.stat = *statistic;
    out.unit = unit;
    out.period = *period;
    out.return_data = return_data.value_or(true);
    return out;
  }

  http::Response GetMetricData() {
    std::optional<ApiError> error;
    Reader in(c_.input, "", true, &error);
    auto start = in.Time("StartTime", true);
    auto end = in.Time("EndTime", true);
    auto scan_by = in.String("ScanBy");
    auto max_datapoints = in.Int("MaxDatapoints");
    auto token = in.String("NextToken");
    if (!in.Has("MetricDataQueries")) {
      in.Fail(ValidationError("The parameter MetricDataQueries is required."));
    }
    std::vector<Reader> readers = in.Structs("MetricDataQueries");
    if (error) return ErrorReply(c_, *error);
    if (readers.empty()) {
      return ErrorReply(
          c_, ValidationError("The parameter MetricDataQueries must hold at least one query."));
    }
    if (readers.size() > kMaxMetricDataQueries) {
      return ErrorReply(c_,
                        ValidationError(fmt::format(
                            "The collection MetricDataQueries must not have more than {} members.",
                            kMaxMetricDataQueries)));
    }
    std::vector<DataQuery> queries;
    std::set<std::string> ids;
    for (Reader& r : readers) {
      auto q = ReadDataQuery(r, ids);
      if (!q) return ErrorReply(c_, error.value_or(ValidationError("The query is not valid.")));
      queries.push_back(std::move(*q));
    }
    const bool descending = scan_by.value_or("TimestampDescending") == "TimestampDescending";
    if (scan_by && !descending && *scan_by != "TimestampAscending") {
      return ErrorReply(
          c_, ValidationError(fmt::format(
                  "The value {} for parameter ScanBy is not valid: it is TimestampDescending or "
                  "TimestampAscending.",
                  *scan_by)));
    }
    if (max_datapoints && *max_datapoints < 1) {
      return ErrorReply(c_, ValidationError("The parameter MaxDatapoints must be greater than 0."));
    }
    const auto page = static_cast<size_t>(
        std::min(max_datapoints.value_or(kMaxMetricDataDatapoints), kMaxMetricDataDatapoints));
    auto offset = ParseToken(token);
    if (!offset) return ErrorReply(c_, InvalidNextToken());
    int64_t start_s = 0, end_s = 0;
    if (!Window(*start, *end, &start_s, &end_s)) {
      return ErrorReply(c_, ValidationError(std::string(kStartAfterEnd)));
    }

    // Every query's datapoints in scan order; the page is datapoints
    // [offset, offset + page) of them all, query after query.
    json::array results;
    size_t first = 0;  // the index of the query's first datapoint among all
    for (const DataQuery& q : queries) {
      if (!q.return_data) continue;
      std::vector<std::string> percentiles;
      if (IsPercentile(q.stat)) percentiles.push_back(q.stat);
      auto points =
          Query(q.ns, q.metric, q.dimensions, q.unit, start_s, end_s, q.period, percentiles);
      if (!points.has_value()) return ErrorReply(c_, InternalFault(points.error()));
      std::vector<std::pair<int64_t, double>> values;
      for (const Datapoint& d : *points) {
        if (auto v = StatOf(d, q.stat)) values.emplace_back(d.timestamp_s, *v);
      }
      if (descending) std::reverse(values.begin(), values.end());
      json::array timestamps, numbers;
      for (size_t i = 0; i < values.size(); ++i) {
        if (first + i >= *offset && first + i < *offset + page) {
          timestamps.push_back(values[i].first);
          numbers.push_back(values[i].second);
        }
      }
      first += values.size();
      results.push_back(
          json::object{{"Id", q.id},
                       {"Label", q.label},
                       {"Timestamps", std::move(timestamps)},
                       {"Values", std::move(numbers)},
                       {"StatusCode", first <= *offset + page ? "Complete" : "PartialData"}});
    }
    if (*offset > first) return ErrorReply(c_, InvalidNextToken());
    json::object out{{"MetricDataResults", std::move(results)}, {"Messages", json::array()}};
    if (*offset + page < first) out["NextToken"] = std::to_string(*offset + page);
    return Reply(c_, out);
  }

  http::Response ListMetrics() {
    std::optional<ApiError> error;
    Reader in(c_.input, "", false, &error);
    auto ns = in.String("Namespace");
    auto metric = in.String("MetricName");
    auto token = in.String("NextToken");
    auto recently = in.String("RecentlyActive");
    auto linked = in.Bool("IncludeLinkedAccounts");
    auto owner = in.String("OwningAccount");
    std::vector<Dimension> filters;
    for (Reader& d : in.Structs("Dimensions")) {
      auto name = d.String("Name", true);
      auto value = d.String("Value");
      if (name) filters.push_back({std::move(*name), value.value_or("")});
    }
    if (error) return ErrorReply(c_, *error);
    if (filters.size() > 10) {
      return ErrorReply(c_, InvalidParameterValue(
                                "The collection Dimensions must not have more than 10 members."));
    }
    if (recently && *recently != "PT3H") {
      return ErrorReply(
          c_,
          InvalidParameterValue(fmt::format(
              "The value {} for parameter RecentlyActive is not valid: it is PT3H.", *recently)));
    }
    auto offset = ParseToken(token);
    if (!offset) {
      return ErrorReply(c_,
                        InvalidParameterValue("The value for parameter NextToken is not valid."));
    }

    json::array metrics;
    // Every metric here is the account's own (no linked accounts).
    if ((!ns || *ns == kNamespace) && (!owner || *owner == options_.account_id)) {
      const int64_t now =
          std::chrono::duration_cast<std::chrono::seconds>(clock_.Now().time_since_epoch()).count();
      auto series = store_.Series(now - (recently ? 3 * 3600 : kRetentionSeconds), now + 60);
      if (!series.has_value()) return ErrorReply(c_, InternalFault(series.error()));
      for (const SeriesKey& key : *series) {
        json::array dimensions = DimensionsJson(key);
        const bool matches = std::all_of(filters.begin(), filters.end(), [&](const Dimension& f) {
          return std::any_of(dimensions.begin(), dimensions.end(), [&](const json::value& d) {
            return d.at("Name").as_string() == f.name &&
                   (f.value.empty() || d.at("Value").as_string() == f.value);
          });
        });
        if (!matches) continue;
        for (std::string_view name : kMetricNames) {
          if (!UnitOf(std::string(name)) || (metric && *metric != name)) continue;
          metrics.push_back(json::object{
              {"Namespace", kNamespace}, {"MetricName", name}, {"Dimensions", dimensions}});
        }
      }
    }
    if (*offset > metrics.size()) {
      return ErrorReply(c_,
                        InvalidParameterValue("The value for parameter NextToken is not valid."));
    }
    json::array page;
    for (size_t i = *offset; i < metrics.size() && i < *offset + kListMetricsPage; ++i) {
      page.push_back(metrics[i]);
    }
    json::object out{{"Metrics", std::move(page)}};
    if (linked.value_or(false)) {
      out["OwningAccounts"] =
          json::array(out["Metrics"].as_array().size(), json::value(options_.account_id));
    }
    if (*offset + kListMetricsPage < metrics.size()) {
      out["NextToken"] = std::to_string(*offset + kListMetricsPage);
    }
    return Reply(c_, out);
  }

  MetricsStore& store_;
  const Clock& clock_;
  const CloudWatchApiOptions& options_;
  const Call& c_;
};

// Parses any of the three protocols; an error reply when the body is malformed.
std::variant<Call, http::Response> Parse(const http::Request& r) {
  Call c;
  std::string_view path = r.path();
  if (size_t at = path.rfind(kRpcPath); at != std::string_view::npos) {
    c.protocol = Protocol::kCbor;
    c.action = std::string(path.substr(at + kRpcPath.size()));
    if (r.body.empty()) return c;
    auto v = CborToJson(r.body);
    if (!v.has_value() || !v->is_object()) {
      return ErrorReply(c, {"SerializationException", "SerializationException",
                            v.has_value() ? "The request body is not a CBOR map."
                                          : std::string(v.error().message())});
    }
    c.input = std::move(v->as_object());
    return c;
  }
  if (auto target = r.headers.Get("X-Amz-Target"); target && target->starts_with(kTargetPrefix)) {
    c.protocol = Protocol::kJson;
    c.action = std::string(target->substr(kTargetPrefix.size()));
    if (r.body.empty()) return c;
    boost::system::error_code ec;
    json::value v = json::parse(r.body, ec);
    if (ec || !v.is_object()) {
      return ErrorReply(c, {"SerializationException", "SerializationException",
                            "The request body is not a JSON object."});
    }
    c.input = std::move(v.as_object());
    return c;
  }
  c.protocol = Protocol::kQuery;
  std::vector<std::pair<std::string, std::string>> params = http::ParseQuery(r.query());
  // The form body (application/x-www-form-urlencoded): '+' is a space there.
  std::string form = r.body;
  std::replace(form.begin(), form.end(), '+', ' ');
  for (auto& p : http::ParseQuery(form)) params.push_back(std::move(p));
  for (const auto& [k, v] : params) {
    if (k == "Action") c.action = v;
  }
  auto input = QueryToJson(params);
  if (!input) {
    return ErrorReply(c, InvalidParameterValue(fmt::format(
                             "A list in the request has more than {} members.", kMaxQueryMembers)));
  }
  c.input = std::move(*input);
  return c;
}

}  // namespace

CloudWatchApi::CloudWatchApi(MetricsStore& store, BlockingPool& pool, const Clock& clock,
                             CloudWatchApiOptions options)
    : store_(store), pool_(pool), clock_(clock), options_(std::move(options)) {}

bool CloudWatchApi::Matches(const http::Request& request) {
  if (auto scope = http::ParseCredentialScope(request)) return scope->service == "monitoring";
  if (auto target = request.headers.Get("X-Amz-Target");
      target && target->starts_with(kTargetPrefix))
    return true;
  return request.path().starts_with(kRpcPath);
}

void CloudWatchApi::Handle(http::Request&& request, http::Responder responder) {
  auto call = std::make_shared<std::pair<http::Request, http::Responder>>(std::move(request),
                                                                          std::move(responder));
  pool_.Submit([this, call] { call->second.Respond(HandleSync(call->first)); });
}

http::Response CloudWatchApi::HandleSync(const http::Request& request) {
  auto parsed = Parse(request);
  if (std::holds_alternative<http::Response>(parsed)) {
    return std::get<http::Response>(std::move(parsed));
  }
  return Executor(store_, clock_, options_, std::get<Call>(parsed)).Run();
}

}  // namespace nimbus::metrics
