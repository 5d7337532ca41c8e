#include "async/event_invoke_config_api.h"

#include <fmt/format.h>

#include <boost/json.hpp>
#include <regex>

#include "api/lambda_api.h"
#include "control/function_name.h"

namespace nimbus::async {
namespace {

// The model's DestinationArn pattern, quoted in validation errors.
constexpr std::string_view kDestinationArnPattern =
    "$|kafka://([^.]([a-zA-Z0-9\\-_.]{0,248}))|arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\\-])+:([a-z]{2}"
    "((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1})?:(\\d{12})?:(.*)";

bool MatchesDestinationPattern(const std::string& arn) {
  static const std::regex kPattern(
      "kafka://([^.]([a-zA-Z0-9\\-_.]{0,248}))|arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\\-])+:([a-z]{2}"
      "((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1})?:(\\d{12})?:(.*)");
  return arn.empty() || std::regex_match(arn, kPattern);
}

struct Target {
  std::string function;
  std::string qualifier;  // "$LATEST" for none
};

// The parsed body of Put/Update. Absent fields are nullopt.
struct ConfigRequest {
  std::optional<int64_t> maximum_retry_attempts;
  std::optional<int64_t> maximum_event_age_seconds;
  bool has_destination_config = false;
  std::optional<std::string> on_success;  // set when OnSuccess was given
  std::optional<std::string> on_failure;
};

api::ApiError Validation(const std::vector<std::string>& errors) {
  return {400, "ValidationException",
          fmt::format("{} validation error{} detected: {}", errors.size(),
                      errors.size() == 1 ? "" : "s", fmt::join(errors, "; "))};
}

api::ApiError InvalidParameter(std::string message) {
  return {400, "InvalidParameterValueException", std::move(message)};
}

api::ApiResult<std::optional<int64_t>> IntMember(const boost::json::object& o,
                                                 std::string_view name) {
  auto it = o.find(name);
  if (it == o.end() || it->value().is_null()) return std::optional<int64_t>();
  if (it->value().is_int64()) return std::optional<int64_t>(it->value().as_int64());
  if (it->value().is_uint64()) {
    return std::optional<int64_t>(static_cast<int64_t>(it->value().as_uint64()));
  }
  return api::InvalidRequestContent(
      fmt::format("Could not parse request body into json: {} must be an integer", name));
}

api::ApiResult<std::optional<std::string>> DestinationMember(const boost::json::object& config,
                                                             std::string_view name) {
  auto it = config.find(name);
  if (it == config.end() || it->value().is_null()) return std::optional<std::string>();
  if (!it->value().is_object()) {
    return api::InvalidRequestContent(
        fmt::format("Could not parse request body into json: {} must be an object", name));
  }
  const boost::json::object& d = it->value().as_object();
  auto dest = d.find("Destination");
  if (dest == d.end() || dest->value().is_null()) return std::optional<std::string>("");
  if (!dest->value().is_string()) {
    return api::InvalidRequestContent(
        "Could not parse request body into json: Destination must be a string");
  }
  return std::optional<std::string>(std::string(dest->value().as_string()));
}

api::ApiResult<ConfigRequest> ParseConfigRequest(const std::string& body) {
  boost::json::error_code ec;
  boost::json::value v = boost::json::parse(body.empty() ? std::string_view("{}") : body, ec);
  if (ec) return api::RequestNotJson(ec.message());
  if (!v.is_object()) return api::RequestNotJson("the body is not a JSON object");
  const boost::json::object& o = v.as_object();
  ConfigRequest r;
  auto retries = IntMember(o, "MaximumRetryAttempts");
  if (!retries.ok()) return retries.error();
  r.maximum_retry_attempts = *retries;
  auto age = IntMember(o, "MaximumEventAgeInSeconds");
  if (!age.ok()) return age.error();
  r.maximum_event_age_seconds = *age;
  if (auto it = o.find("DestinationConfig"); it != o.end() && !it->value().is_null()) {
    if (!it->value().is_object()) {
      return api::InvalidRequestContent(
          "Could not parse request body into json: DestinationConfig must be an object");
    }
    r.has_destination_config = true;
    const boost::json::object& dc = it->value().as_object();
    auto s = DestinationMember(dc, "OnSuccess");
    if (!s.ok()) return s.error();
    r.on_success = *s;
    auto f = DestinationMember(dc, "OnFailure");
    if (!f.ok()) return f.error();
    r.on_failure = *f;
  }
  // The model's constraints, all reported at once as the service framework does.
  std::vector<std::string> errors;
  if (r.maximum_retry_attempts && *r.maximum_retry_attempts > 2) {
    errors.push_back(fmt::format("Value '{}' at 'maximumRetryAttempts' failed to satisfy constraint: "
                                 "Member must have value less than or equal to 2",
                                 *r.maximum_retry_attempts));
  }
  if (r.maximum_retry_attempts && *r.maximum_retry_attempts < 0) {
    errors.push_back(fmt::format("Value '{}' at 'maximumRetryAttempts' failed to satisfy constraint: "
                                 "Member must have value greater than or equal to 0",
                                 *r.maximum_retry_attempts));
  }
  if (r.maximum_event_age_seconds && *r.maximum_event_age_seconds > 21600) {
    errors.push_back(fmt::format(
        "Value '{}' at 'maximumEventAgeInSeconds' failed to satisfy constraint: "
        "Member must have value less than or equal to 21600",
        *r.maximum_event_age_seconds));
  }
  if (r.maximum_event_age_seconds && *r.maximum_event_age_seconds < 60) {
    errors.push_back(fmt::format(
        "Value '{}' at 'maximumEventAgeInSeconds' failed to satisfy constraint: "
        "Member must have value greater than or equal to 60",
        *r.maximum_event_age_seconds));
  }
  for (auto [dest, where] : {std::pair{&r.on_success, "onSuccess"}, {&r.on_failure, "onFailure"}}) {
    if (!*dest) continue;
    if ((*dest)->size() > 350) {
      errors.push_back(fmt::format("Value '{}' at 'destinationConfig.{}.destination' failed to "
                                   "satisfy constraint: Member must have length less than or "
                                   "equal to 350",
                                   **dest, where));
    } else if (!MatchesDestinationPattern(**dest)) {
      errors.push_back(fmt::format("Value '{}' at 'destinationConfig.{}.destination' failed to "
                                   "satisfy constraint: Member must satisfy regular expression "
                                   "pattern: {}",
                                   **dest, where, kDestinationArnPattern));
    }
  }
  if (!errors.empty()) return Validation(errors);
  if (!r.maximum_retry_attempts && !r.maximum_event_age_seconds && !r.has_destination_config) {
    return InvalidParameter("You must specify at least one of error handling or destination setting.");
  }
  return r;
}

// The service of a destination ARN ("lambda", "sqs", ...), or "".
std::string ServiceOf(const std::string& arn) {
  if (!arn.starts_with("arn:")) return "";
  size_t a = arn.find(':', 4);
  if (a == std::string::npos) return "";
  size_t b = arn.find(':', a + 1);
  return b == std::string::npos ? "" : arn.substr(a + 1, b - a - 1);
}

std::string DestinationConfigText(const std::string& on_success, const std::string& on_failure) {
  auto part = [](std::string_view kind, const std::string& d) {
    return d.empty() ? std::string("null") : fmt::format("{}(destination={})", kind, d);
  };
  return fmt::format("DestinationConfig(onSuccess={}, onFailure={})", part("OnSuccess", on_success),
                     part("OnFailure", on_failure));
}

}  // namespace

std::string FunctionEventInvokeConfigJson(const EventInvokeConfig& c,
                                          const control::Region& region) {
  boost::json::object o;
  o["FunctionArn"] = control::QualifiedFunctionArn(region, c.function, c.qualifier);
  if (c.maximum_retry_attempts) o["MaximumRetryAttempts"] = *c.maximum_retry_attempts;
  if (c.maximum_event_age_seconds) o["MaximumEventAgeInSeconds"] = *c.maximum_event_age_seconds;
  boost::json::object on_success, on_failure;
  if (!c.on_success.empty()) on_success["Destination"] = c.on_success;
  if (!c.on_failure.empty()) on_failure["Destination"] = c.on_failure;
  o["DestinationConfig"] =
      boost::json::object{{"OnSuccess", std::move(on_success)}, {"OnFailure", std::move(on_failure)}};
  // LastModified is the model's timestamp type: epoch seconds, with milliseconds.
  std::string rest = boost::json::serialize(o);
  return fmt::format(R"({{"LastModified":{}.{:03},{})", c.last_modified_ms / 1000,
                     c.last_modified_ms % 1000, rest.substr(1));
}

EventInvokeConfigApi::EventInvokeConfigApi(Deps deps) : deps_(std::move(deps)) {}

bool EventInvokeConfigApi::Matches(const http::Request& request) {
  // Every request the server routes is asked (each Invoke too): reject without
  // decoding the path unless its first segment is "2019-09-25" or has an escape.
  std::string_view path = request.path();
  std::string_view first = path.substr(path.starts_with('/') ? 1 : 0);
  first = first.substr(0, first.find('/'));
  if (first != "2019-09-25" && first.find('%') == std::string_view::npos) return false;
  auto segs = http::DecodedPathSegments(path);
  if (!segs) return false;
  const auto& s = *segs;
  return (s.size() == 4 || (s.size() == 5 && s[4] == "list")) && s[0] == "2019-09-25" &&
         s[1] == "functions" && s[3] == "event-invoke-config";
}

void EventInvokeConfigApi::Handle(http::Request&& request, http::Responder responder) {
  auto shared = std::make_shared<http::Responder>(std::move(responder));
  HandleAsync(request, [shared](http::Response r) { shared->Respond(std::move(r)); });
}

void EventInvokeConfigApi::HandleAsync(const http::Request& request,
                                       std::function<void(http::Response)> respond) {
  const std::string request_id = deps_.new_request_id();
  auto reply = [respond, request_id](api::ApiResult<http::Response> r) {
    respond(api::WithStandardHeaders(r.ok() ? std::move(*r) : api::ErrorResponse(r.error()),
                                     request_id));
  };
  auto segs = http::DecodedPathSegments(request.path());
  if (!segs || !Matches(request)) {
    reply(api::UnknownOperation(request.method, request.path()));
    return;
  }
  const std::string& name = (*segs)[2];
  const bool list = segs->size() == 5;
  const std::string& m = request.method;
  auto query = http::ParseQuery(request.query());
  std::string query_qualifier = http::QueryParam(query, "Qualifier").value_or("");

  if (list) {
    if (m != "GET") {
      reply(api::UnknownOperation(m, request.path()));
      return;
    }
    auto f = deps_.resolve(name, "");
    if (!f.has_value()) {
      reply(f.error());
      return;
    }
    int64_t max_items = 50;
    if (auto mi = http::QueryParam(query, "MaxItems")) {
      char* end = nullptr;
      long long v = std::strtoll(mi->c_str(), &end, 10);
      if (mi->empty() || *end != '\0' || v < 1 || v > 50) {
        reply(Validation({fmt::format("Value '{}' at 'maxItems' failed to satisfy constraint: "
                                      "Member must have value {}",
                                      *mi, v < 1 ? "greater than or equal to 1"
                                                 : "less than or equal to 50")}));
        return;
      }
      max_items = v;
    }
    std::string marker = http::QueryParam(query, "Marker").value_or("");
    std::vector<EventInvokeConfig> all = deps_.configs.List((*f)->config.name);
    boost::json::array items;
    std::string next;
    for (const EventInvokeConfig& c : all) {
      if (!marker.empty() && c.qualifier <= marker) continue;
      if (static_cast<int64_t>(items.size()) == max_items) {
        next = boost::json::value_to<std::string>(items.back().as_object().at("FunctionArn"));
        next = next.substr(next.rfind(':') + 1);
        break;
      }
      items.push_back(boost::json::parse(FunctionEventInvokeConfigJson(c, deps_.region)));
    }
    boost::json::object body;
    body["FunctionEventInvokeConfigs"] = std::move(items);
    if (!next.empty()) body["NextMarker"] = next;
    reply(http::Response::Json(200, boost::json::serialize(body)));
    return;
  }

  // Which configuration: the function as resolved, at its qualifier.
  auto ref = control::ParseFunctionRef(name, query_qualifier);
  if (!ref.has_value()) {
    reply(ref.error());
    return;
  }
  Target target{ref->name, ref->qualifier.value_or("$LATEST")};
  const std::string qualified_arn =
      control::QualifiedFunctionArn(deps_.region, target.function, target.qualifier);
  auto no_config = [&] {
    return api::ApiError{404, "ResourceNotFoundException",
                         fmt::format("The function {} doesn't have an EventInvokeConfig",
                                     qualified_arn)};
  };

  if (m == "GET" || m == "DELETE") {
    auto f = deps_.resolve(name, query_qualifier);
    const EventInvokeConfig* existing =
        f.has_value() ? deps_.configs.Find((*f)->config.name, target.qualifier) : nullptr;
    if (existing == nullptr) {
      reply(f.has_value() || f.error().code() == Code::kNotFound ? no_config()
                                                                  : api::ToApiError(f.error()));
      return;
    }
    if (m == "GET") {
      reply(http::Response::Json(200, FunctionEventInvokeConfigJson(*existing, deps_.region)));
      return;
    }
    WriteBatch batch;
    batch.config_deletes.emplace_back(existing->function, existing->qualifier);
    deps_.journal.Write(std::move(batch), [this, target, reply](Status s) {
      if (!s.ok()) {
        reply(s);
        return;
      }
      deps_.configs.Remove(target.function, target.qualifier);
      reply(http::Response::Json(204, ""));
    });
    return;
  }
  if (m != "PUT" && m != "POST") {
    reply(api::UnknownOperation(m, request.path()));
    return;
  }
  auto parsed = ParseConfigRequest(request.body);
  if (!parsed.ok()) {
    reply(parsed.error());
    return;
  }
  auto f = deps_.resolve(name, query_qualifier);
  if (!f.has_value()) {
    reply(f.error());
    return;
  }
  target.function = (*f)->config.name;
  EventInvokeConfig config;
  const EventInvokeConfig* existing = deps_.configs.Find(target.function, target.qualifier);
  if (m == "POST") {
    if (existing == nullptr) {
      reply(no_config());
      return;
    }
    config = *existing;
  }
  config.function = target.function;
  config.qualifier = target.qualifier;
  const ConfigRequest& r = *parsed;
  if (m == "PUT" || r.maximum_retry_attempts) {
    config.maximum_retry_attempts =
        r.maximum_retry_attempts ? std::optional<int>(static_cast<int>(*r.maximum_retry_attempts))
                                 : std::nullopt;
  }
  if (m == "PUT" || r.maximum_event_age_seconds) {
    config.maximum_event_age_seconds = r.maximum_event_age_seconds;
  }
  if (m == "PUT" || r.on_success) config.on_success = r.on_success.value_or("");
  if (m == "PUT" || r.on_failure) config.on_failure = r.on_failure.value_or("");
  // Destinations Lambda can deliver to: another function, a queue, a topic, an
  // event bus, and (on failure only) a bucket.
  bool invalid = false;
  for (auto [dest, on_failure] : {std::pair{&config.on_success, false}, {&config.on_failure, true}}) {
    if (dest->empty()) continue;
    std::string service = ServiceOf(*dest);
    if (service == "lambda") {
      std::optional<LambdaArn> arn = ParseLambdaArn(*dest);
      if (arn && arn->name == target.function) {
        reply(InvalidParameter("You can't specify the function as a destination for itself."));
        return;
      }
      if (!arn || !deps_.resolve(*dest, "").has_value()) {
        reply(InvalidParameter(fmt::format("The destination ARN {} is invalid.", *dest)));
        return;
      }
    } else if (!(service == "sqs" || service == "sns" || service == "events" ||
                 (on_failure && service == "s3"))) {
      invalid = true;
    }
  }
  if (invalid) {
    reply(InvalidParameter(fmt::format("The provided destination config {} is invalid.",
                                       DestinationConfigText(config.on_success, config.on_failure))));
    return;
  }
  config.last_modified_ms = ToUnixMillis(deps_.clock.Now());
  WriteBatch batch;
  batch.config_puts.push_back(config);
  deps_.journal.Write(std::move(batch), [this, config, reply](Status s) {
    if (!s.ok()) {
      reply(s);
      return;
    }
    deps_.configs.Put(config);
    reply(http::Response::Json(200, FunctionEventInvokeConfigJson(config, deps_.region)));
  });
}

}  // namespace nimbus::async
