#include "server/server.h"

#include <boost/json.hpp>
#include <fmt/format.h>
#include <openssl/crypto.h>

#include <charconv>
#include <future>
#include <thread>

#include "api/lambda_api.h"
#include "auth/authenticator.h"
#include "auth/keys_api.h"
#include "async/async_service.h"
#include "base/blocking_pool.h"
#include "base/encoding.h"
#include "base/log.h"
#include "base/reactor.h"
#include "control/function_name.h"
#include "control/policy.h"
#include "control/registry.h"
#include "dynamodb/dynamodb_api.h"
#include "console/console.h"
#include "storage/disk_space.h"
#include "metrics/cloudwatch_api.h"
#include "metrics/metrics_store.h"
#include "metrics/recorder.h"
#include "metrics/span_exporter.h"
#include "http/client.h"
#include "http/server.h"
#include "invoke/local_invoker.h"
#include "obs/log_store.h"
#include "http/sigv4_scope.h"
#include "obs/logs_api.h"
#include "s3/object_store.h"
#include "s3/s3_api.h"
#include "sqs/queue_store.h"
#include "sqs/sqs_api.h"
#include "esm/event_source_mappings.h"
#include "gateway/function_urls.h"
#include "gateway/http_apis.h"
#include "events/event_bridge.h"
#include "server/refusal.h"

namespace nimbus::server {

namespace {

// Function logs go from environments to the LogStore (non-blocking Append).
class LogStoreSink final : public invoke::LogSink {
 public:
  explicit LogStoreSink(obs::LogStore& store) : store_(store) {}
  void Append(const std::string& group, const std::string& stream, int64_t timestamp_ms,
              std::string message) override {
    store_.Append(group, stream, timestamp_ms, std::move(message));
  }

 private:
  obs::LogStore& store_;
};

http::Response NotFoundResponse(const http::Request& request) {
  http::Response r = http::Response::Json(
      404, fmt::format(R"({{"Type":"User","Message":"No API serves {} {}"}})", request.method,
                       std::string(request.path())));
  r.headers.Set("x-amzn-ErrorType", "UnknownOperationException");
  r.headers.Set("x-amzn-RequestId", NewUuid());
  return r;
}

// Asynchronous invocations on behalf of a service (S3 notifications, EventBridge
// targets): S3 destinations are validated against the registry; events are queued
// on the async dispatcher. The dispatcher is the reactor's: events are posted to it,
// and Detach() (on the reactor, before the dispatcher goes) makes later ones
// dropped with a log line.
class S3FunctionTargets final : public s3::EventTargets {
 public:
  S3FunctionTargets(control::Registry& registry, Reactor& reactor)
      : registry_(registry), reactor_(reactor) {}

  // REQUIRES: on the reactor.
  void Attach(async::AsyncInvoker* async) { async_ = async; }
  void Detach() { async_ = nullptr; }

  // Set once the queues are open, before serving.
  void set_queues(sqs::QueueStore* queues) { queues_ = queues; }

  Status ValidateQueue(const std::string& queue_arn) override {
    const std::string name = queue_arn.substr(queue_arn.rfind(':') + 1);
    auto q = queues_ != nullptr ? queues_->GetQueue(name) : Result<sqs::QueueInfo>(NotFound("queue"));
    if (!q.has_value()) return NotFound(fmt::format("The destination queue does not exist: {}", queue_arn));
    if (q->fifo()) return InvalidArgument("FIFO queues are not supported as S3 event destinations");
    auto policy = q->attributes.find("Policy");
    if (policy == q->attributes.end() ||
        !control::PolicyAllows(policy->second, "s3.amazonaws.com", "sqs:SendMessage")) {
      return Status(Code::kPermissionDenied, fmt::format("Permissions on the destination queue do not allow S3 to "
                                                         "publish notifications from this bucket ({})",
                                                         queue_arn));
    }
    return Status::Ok();
  }

  void SendToQueue(const std::string& queue_arn, std::string message, std::string trace_header) override {
    if (queues_ == nullptr) return;
    sqs::SendRequest send;
    send.body = std::move(message);
    send.trace_header = std::move(trace_header);
    auto r = queues_->Send(queue_arn.substr(queue_arn.rfind(':') + 1), send,
                           std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count());
    if (!r.has_value()) log::Warn("event to {}: {}", queue_arn, r.error().ToString());
  }

  Status ValidateFunction(const std::string& function_arn) override {
    auto f = registry_.Resolve(function_arn);
    if (!f.has_value()) return NotFound(fmt::format("Function not found: {}", function_arn));
    auto policy = registry_.GetPolicy(function_arn, "");
    if (!policy.has_value() || !control::PolicyAllows(policy->document, "s3.amazonaws.com", "lambda:InvokeFunction")) {
      return Status(Code::kPermissionDenied,
                    fmt::format("Not authorized to invoke function [{}]", function_arn));
    }
    return Status::Ok();
  }

  void InvokeAsync(const std::string& function_arn, std::string event, std::string trace_header) override {
    reactor_.Post([this, function_arn, event = std::move(event), trace_header = std::move(trace_header)]() mutable {
      if (async_ == nullptr) {
        log::Warn("event to {} dropped: the server is stopping", function_arn);
        return;
      }
      auto ref = control::ParseFunctionRef(function_arn);
      auto f = registry_.ResolveForInvoke(function_arn);
      if (!ref.has_value() || !f.has_value()) {
        log::Warn("event to {} dropped: {}", function_arn,
                  (!ref.has_value() ? ref.error() : f.error()).ToString());
        return;
      }
      async::AsyncInvokeRequest request{
          .function = *f,
          .function_name = ref->name,
          .qualifier = ref->qualifier.value_or(""),
          .request_id = NewUuid(),
          .invoked_function_arn = function_arn,
          .payload = std::move(event),
          .trace_id = std::move(trace_header),  // stored with the event: every attempt continues it
      };
      async_->Enqueue(std::move(request), [function_arn](Status st) {
        if (!st.ok()) log::Warn("event to {}: {}", function_arn, st.ToString());
      });
    });
  }

 private:
  control::Registry& registry_;
  Reactor& reactor_;
  async::AsyncInvoker* async_ = nullptr;  // confined to the reactor
  sqs::QueueStore* queues_ = nullptr;     // thread-safe; set before serving
};

// The services this server answers, by the service of a request's SigV4 scope.
bool Served(std::string_view service) {
  return service == "lambda" || service == "logs" || service == "s3" || service == "sqs" ||
         service == "apigateway" || service == "events" || service == "dynamodb" || service == "monitoring";
}

// A request signed for another AWS service (an S3 or SQS client pointed here).
http::Response UnsupportedServiceResponse(std::string_view service) {
  std::string message = fmt::format(
      "This Nimbus server does not serve the {} API (the request is signed for service '{}'); "
      "it serves lambda, logs, s3, sqs, events, dynamodb, monitoring (CloudWatch metrics) and apigateway (HTTP APIs)",
      service, service);
  if (service == "s3") {
    // S3 clients read XML errors; NotImplemented is S3's own code for this (and
    // the SDKs do not retry a 501).
    http::Response r;
    r.status = 501;
    r.headers.Set("Content-Type", "application/xml");
    r.body = fmt::format(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NotImplemented</Code>"
        "<Message>{}</Message></Error>",
        message);
    return r;
  }
  // 400, not 5xx: the SDKs would retry a server error.
  http::Response r = http::Response::Json(
      400, fmt::format(R"({{"__type":"UnknownServiceException","Type":"User","Message":"{}"}})",
                       message));
  r.headers.Set("x-amzn-ErrorType", "UnknownServiceException");
  r.headers.Set("x-amzn-RequestId", NewUuid());
  return r;
}

}  // namespace

// Member order is construction order; destruction runs in reverse, so the
// reactor stops before the components its callbacks use are destroyed, and the
// blocking pool (which may still be destroying sandboxes) drains last but one.
struct Server::Impl {
  ServerOptions options;
  const Clock& clock;
  sandbox::SandboxFactory& sandboxes;

  // The data directory's reserve for deletes; asked by the stores' writers on
  // the blocking pool, so it outlives the pool. Immutable.
  std::unique_ptr<storage::DiskSpace> disk;
  std::unique_ptr<auth::Authenticator> authenticator;  // thread-safe
  // Thread-safe; declared before `blocking`, which drains its writes before it goes.
  std::unique_ptr<auth::KeysApi> keys_api;
  std::unique_ptr<BlockingPool> blocking;
  std::unique_ptr<obs::LogStore> logs;
  std::unique_ptr<LogStoreSink> log_sink;
  std::unique_ptr<control::Registry> registry;
  std::unique_ptr<obs::LogsApi> logs_api;
  std::unique_ptr<s3::ObjectStore> objects;
  std::unique_ptr<S3FunctionTargets> s3_targets;  // attached to `async` on the reactor
  std::unique_ptr<s3::S3Api> s3_api;
  std::unique_ptr<sqs::QueueStore> queues;
  std::unique_ptr<dynamodb::TableStore> tables;  // thread-safe
  std::unique_ptr<sqs::SqsApi> sqs_api;  // parked long polls confined to the reactor
  std::unique_ptr<esm::EventSourceMappings> esm;  // pollers confined to the reactor
  std::unique_ptr<gateway::FunctionUrls> urls;
  std::unique_ptr<gateway::HttpApis> http_apis;
  std::unique_ptr<events::EventBridge> events;  // minute ticks on the reactor
  std::unique_ptr<dynamodb::DynamoDbApi> dynamodb_api;
  std::unique_ptr<Reactor::Timer> dynamodb_sweep;  // confined to the reactor
  bool dynamodb_sweeping = true;                    // confined to the reactor
  std::unique_ptr<Reactor::Timer> code_collection;  // confined to the reactor
  bool collecting_code = true;                       // confined to the reactor
  std::unique_ptr<metrics::MetricsStore> metrics;     // thread-safe
  std::unique_ptr<metrics::SpanExporter> spans;       // thread-safe; null without --otlp-endpoint
  std::unique_ptr<metrics::CloudWatchApi> cloudwatch_api;  // work on the blocking pool
  std::unique_ptr<console::Console> console;              // immutable
  std::unique_ptr<Reactor> reactor;
  std::unique_ptr<metrics::Recorder> recorder;        // confined to the reactor
  std::unique_ptr<invoke::LocalInvoker> invoker;  // confined to the reactor
  std::unique_ptr<async::AsyncService> async;     // confined to the reactor (opened before)
  std::unique_ptr<api::LambdaApi> lambda_api;     // confined to the reactor
  std::unique_ptr<http::Listener> listener;       // confined to the reactor
  uint16_t port = 0;
  bool stopped = false;

  Impl(const Clock& c, sandbox::SandboxFactory& s, ServerOptions o)
      : options(std::move(o)), clock(c), sandboxes(s) {}

  void Route(http::Request&& request, http::Responder responder) {
    // A function URL (its host, or the /lambda-url/ path): the function answers.
    if (!gateway::FunctionUrls::UrlIdOf(request).empty()) {
      urls->HandleInvoke(std::move(request), std::move(responder));
      return;
    }
    // An HTTP API (Host <id>.execute-api.localhost or /execute-api/<id>/).
    if (!gateway::HttpApis::ApiIdOf(request).empty()) {
      http_apis->HandleInvoke(std::move(request), std::move(responder));
      return;
    }
    // The console's sign-in: public, like its files (auth::Authenticator).
    if (auth::Authenticator::IsConsoleSessionRequest(request)) {
      responder.Respond(authenticator->HandleConsoleSession(request));
      return;
    }
    // The SDKs sign every request: its scope names the API it is for.
    if (auto scope = http::ParseCredentialScope(request); scope && !Served(scope->service)) {
      responder.Respond(UnsupportedServiceResponse(scope->service));
      return;
    }
    const Api api = Classify(request);
    if (api != Api::kNone) {
      // Every API request is verified (auth::Authenticator), then dispatched.
      const std::string_view service = SigningName(api);
      if (request.body_too_large) {
        // Its body was not read, so neither can its signature be checked: refused
        // before anything else, as AWS's front ends refuse it.
        auth::Refusal too_large =
            service == "s3" ? auth::Refusal{400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size", {}}
                            : auth::Refusal{413, "RequestEntityTooLargeException",
                                            fmt::format("Request must be smaller than {} bytes", api::kMaxCodeRequestBytes),
                                            {}};
        responder.Respond(RefusalResponse(service, request, too_large));
        return;
      }
      auth::AuthOutcome who = authenticator->Authenticate(request, service);
      if (!who.ok()) {
        responder.Respond(RefusalResponse(service, request, who.refusal));
        return;
      }
      if (auto denied = authenticator->Authorize(*who.principal, request, service)) {
        responder.Respond(RefusalResponse(service, request, *denied));
        return;
      }
      Dispatch(api, std::move(request), std::move(responder));
      return;
    }
    // Public: the console's files (its API calls are verified as any other,
    // signed in with a session cookie),
    // the health check, and /metrics (Basic auth with an admin key unless in dev mode).
    if (console::Console::Matches(request)) {
      if (!console->serves_from_disk()) {
        responder.Respond(console->Handle(request));
        return;
      }
      auto call = std::make_shared<std::pair<http::Request, http::Responder>>(std::move(request),
                                                                              std::move(responder));
      blocking->Submit([this, call] { call->second.Respond(console->Handle(call->first)); });
      return;
    }
    if (request.method == "GET" && request.path() == "/metrics") {
      if (!MetricsReaderAllowed(request)) {
        http::Response r = http::Response::Text(
            401, "401 Unauthorized: /metrics needs HTTP Basic authentication with an admin access key "
                 "(user: the access key id, password: its secret; see <data-dir>/credentials.json)\n");
        r.headers.Set("WWW-Authenticate", "Basic realm=\"nimbus\", charset=\"UTF-8\"");
        responder.Respond(std::move(r));
        return;
      }
      std::string text = invoke::RenderPrometheus(invoker->stats()) + recorder->RenderPrometheus() +
                         fmt::format("# HELP nimbus_async_events_pending Asynchronous events accepted and not "
                                     "finished (waiting, retrying or running).\n"
                                     "# TYPE nimbus_async_events_pending gauge\nnimbus_async_events_pending {}\n",
                                     async->pending());
      // Queue depths read SQLite: on the blocking pool.
      auto held = std::make_shared<http::Responder>(std::move(responder));
      blocking->Submit([this, text = std::move(text), held]() mutable {
        text += QueueDepths();
        http::Response r = http::Response::Text(200, std::move(text));
        r.headers.Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
        held->Respond(std::move(r));
      });
      return;
    }
    if (request.method == "GET" && request.path() == "/health") {
      responder.Respond(http::Response::Json(200, R"({"status":"ok"})"));
      return;
    }
    // An unsigned request for no known route: without a signature its API cannot
    // be told (an S3 path or an SQS query form look like any other), so it is
    // refused for its missing authentication, as AWS's front ends do.
    if (authenticator->mode() == auth::Mode::kVerify && !http::ParseCredentialScope(request)) {
      responder.Respond(RefusalResponse(
          "", request,
          auth::Refusal{403, "MissingAuthenticationToken",
                        fmt::format("Missing Authentication Token: {} {} must be signed with an access key "
                                    "(AWS SigV4)",
                                    request.method, std::string(request.path())),
                        {}}));
      return;
    }
    responder.Respond(NotFoundResponse(request));
  }

  // The APIs behind the port, each verified for its SigV4 signing name.
  enum class Api {
    kNone, kCloudWatch, kLogs, kEvents, kDynamoDb, kHttpApis, kUrlConfigs, kEventSourceMappings,
    kSqs, kS3, kEventInvokeConfig, kLambda, kUsage, kKeys,
  };

  // The API `request` is for; the order settles overlapping prefixes.
  static Api Classify(const http::Request& request) {
    if (metrics::CloudWatchApi::Matches(request)) return Api::kCloudWatch;
    if (obs::LogsApi::Matches(request)) return Api::kLogs;
    if (events::EventBridge::Matches(request)) return Api::kEvents;
    if (dynamodb::DynamoDbApi::Matches(request)) return Api::kDynamoDb;
    if (gateway::HttpApis::MatchesApi(request)) return Api::kHttpApis;
    if (gateway::FunctionUrls::MatchesApi(request)) return Api::kUrlConfigs;
    // Before LambdaApi, whose /2015-03-31/ prefix would otherwise answer them.
    if (esm::EventSourceMappings::Matches(request)) return Api::kEventSourceMappings;
    if (sqs::SqsApi::Matches(request)) return Api::kSqs;
    // Signed for s3, or addressed to a bucket's virtual host.
    if (s3::S3Api::Matches(request)) return Api::kS3;
    // Before LambdaApi, whose /2019-09-25/ prefix would otherwise answer them.
    if (async::EventInvokeConfigApi::Matches(request)) return Api::kEventInvokeConfig;
    if (api::LambdaApi::Matches(request)) return Api::kLambda;
    // Nimbus' own, signed as Lambda requests (the CLI's `nimbus usage`, the console).
    if (request.method == "GET" && request.path() == "/nimbus/usage") return Api::kUsage;
    // `nimbus keys`: admin-only, as Authorize refuses invoke-only keys everything but invoking.
    if (auth::KeysApi::Matches(request)) return Api::kKeys;
    return Api::kNone;
  }

  static std::string_view SigningName(Api api) {
    switch (api) {
      case Api::kCloudWatch: return "monitoring";
      case Api::kLogs: return "logs";
      case Api::kEvents: return "events";
      case Api::kDynamoDb: return "dynamodb";
      case Api::kHttpApis: return "apigateway";
      case Api::kSqs: return "sqs";
      case Api::kS3: return "s3";
      case Api::kUrlConfigs:
      case Api::kEventSourceMappings:
      case Api::kEventInvokeConfig:
      case Api::kLambda:
      case Api::kUsage:
      case Api::kKeys:
      case Api::kNone: break;
    }
    return "lambda";
  }

  void Dispatch(Api api, http::Request&& request, http::Responder responder) {
    switch (api) {
      case Api::kCloudWatch: return cloudwatch_api->Handle(std::move(request), std::move(responder));
      case Api::kLogs: return logs_api->Handle(std::move(request), std::move(responder));
      case Api::kEvents: return events->Handle(std::move(request), std::move(responder));
      case Api::kDynamoDb: return dynamodb_api->Handle(std::move(request), std::move(responder));
      case Api::kHttpApis: return http_apis->HandleApi(std::move(request), std::move(responder));
      case Api::kUrlConfigs: return urls->HandleApi(std::move(request), std::move(responder));
      case Api::kEventSourceMappings: return esm->Handle(std::move(request), std::move(responder));
      case Api::kSqs: return sqs_api->Handle(std::move(request), std::move(responder));
      case Api::kS3: return s3_api->Handle(std::move(request), std::move(responder));
      case Api::kEventInvokeConfig: return async->config_api().Handle(std::move(request), std::move(responder));
      case Api::kLambda: return lambda_api->Handle(std::move(request), std::move(responder));
      case Api::kUsage: return Usage(std::move(request), std::move(responder));
      case Api::kKeys: return keys_api->Handle(std::move(request), std::move(responder));
      case Api::kNone: break;
    }
    responder.Respond(NotFoundResponse(request));
  }

  // Prometheus scrapes /metrics with HTTP Basic authentication: an admin key's id
  // and secret. Dev mode lets anyone read it.
  bool MetricsReaderAllowed(const http::Request& request) const {
    if (authenticator->mode() == auth::Mode::kAnyCredentials) return true;
    const std::string_view header = request.headers.Get("Authorization").value_or("");
    constexpr std::string_view kBasic = "Basic ";
    if (header.size() <= kBasic.size() || !http::EqualsIgnoreCase(header.substr(0, kBasic.size()), kBasic)) return false;
    auto decoded = Base64Decode(header.substr(kBasic.size()));
    if (!decoded) return false;
    const size_t colon = decoded->find(':');
    if (colon == std::string::npos) return false;
    const std::string_view id = std::string_view(*decoded).substr(0, colon);
    const std::string_view secret = std::string_view(*decoded).substr(colon + 1);
    auto key = authenticator->keys().Find(id);
    if (!key || authenticator->keys().PolicyOf(id) != auth::Policy::kAdmin) return false;
    return key->secret_access_key.size() == secret.size() &&
           CRYPTO_memcmp(key->secret_access_key.data(), secret.data(), secret.size()) == 0;
  }

  // Every 2 s: expired items (TTL) deleted and day-old stream records trimmed, on
  // the blocking pool. REQUIRES: on the reactor.
  void ScheduleDynamoDbSweep() {
    dynamodb_sweep = reactor->RunAfter(std::chrono::seconds(2), [this] {
      blocking->Submit([this] {
        dynamodb_api->Sweep(std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count());
        reactor->Post([this] {
          if (dynamodb_sweeping) ScheduleDynamoDbSweep();
        });
      });
    });
  }

  // Every 5 minutes: the registry collects unreferenced code on the blocking
  // pool, so a code directory's grace period (20 minutes) ends even when no
  // further delete or update triggers a collection. REQUIRES: on the reactor.
  void ScheduleCodeCollection() {
    code_collection = reactor->RunAfter(std::chrono::minutes(5), [this] {
      blocking->Submit([this] {
        registry->CollectGarbage();
        reactor->Post([this] {
          if (collecting_code) ScheduleCodeCollection();
        });
      });
    });
  }

  // GET /nimbus/usage?start=<epoch s>&end=<epoch s>[&function=NAME]: requests,
  // billed milliseconds, GB-seconds and their cost per function over the period
  // (default: the last 24 hours), under the configured price model.
  void Usage(http::Request&& request, http::Responder responder) {
    auto query = http::ParseQuery(request.query());
    const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(clock.Now().time_since_epoch()).count();
    auto number = [&](const char* name, int64_t fallback) -> std::optional<int64_t> {
      auto v = http::QueryParam(query, name);
      if (!v) return fallback;
      int64_t n = 0;
      auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
      if (ec != std::errc() || p != v->data() + v->size()) return std::nullopt;
      return n;
    };
    auto start = number("start", now - 24 * 3600), end = number("end", now + 60);
    if (!start || !end || *end < *start) {
      responder.Respond(http::Response::Json(
          400, R"({"__type":"InvalidParameterValueException","message":"start and end must be epoch seconds with start <= end"})"));
      return;
    }
    std::string function = http::QueryParam(query, "function").value_or("");
    auto held = std::make_shared<http::Responder>(std::move(responder));
    blocking->Submit([this, start = *start, end = *end, function, held] {
      http::Responder& responder = *held;
      auto rows = metrics->Usage(start, end, function);
      if (!rows.has_value()) {
        responder.Respond(http::Response::Json(500, boost::json::serialize(boost::json::object{
                                                        {"__type", "ServiceException"}, {"message", rows.error().message()}})));
        return;
      }
      boost::json::array functions;
      uint64_t requests = 0, billed = 0;
      double gbs = 0, cost = 0;
      for (const auto& r : *rows) {
        const double c = r.gb_seconds * options.price_per_gb_second +
                         static_cast<double>(r.requests) * options.price_per_million_requests / 1e6;
        functions.push_back(boost::json::object{{"FunctionName", r.function},
                                                {"Requests", r.requests},
                                                {"BilledDurationMs", r.billed_ms},
                                                {"GBSeconds", r.gb_seconds},
                                                {"Cost", c}});
        requests += r.requests;
        billed += r.billed_ms;
        gbs += r.gb_seconds;
        cost += c;
      }
      boost::json::object body{
          {"Start", start}, {"End", end},
          {"PriceModel", boost::json::object{{"PerGBSecond", options.price_per_gb_second},
                                             {"PerMillionRequests", options.price_per_million_requests}}},
          {"Functions", std::move(functions)},
          {"Total", boost::json::object{{"Requests", requests}, {"BilledDurationMs", billed}, {"GBSeconds", gbs}, {"Cost", cost}}}};
      responder.Respond(http::Response::Json(200, boost::json::serialize(body)));
    });
  }

  // Sends to the queue `queue_arn` (this region and account; standard queues only,
  // as Lambda's destinations and dead-letter queues must be) on the blocking pool;
  // `done` on the reactor, after which the queue's mappings are woken.
  void SendToQueue(const std::string& queue_arn, std::string body, async::QueueAttributes attributes,
                   std::function<void(Status)> done) {
    auto held = std::make_shared<std::function<void(Status)>>(std::move(done));
    blocking->Submit([this, queue_arn, body = std::move(body), attributes = std::move(attributes), held] {
      const std::string prefix = fmt::format("arn:aws:sqs:{}:{}:", options.region.name, options.region.account_id);
      const std::string name = queue_arn.starts_with(prefix) ? queue_arn.substr(prefix.size()) : "";
      Status st;
      auto q = name.empty() ? Result<sqs::QueueInfo>(NotFound(fmt::format("queue {}", queue_arn))) : queues->GetQueue(name);
      if (!q.has_value()) {
        st = q.error();
      } else if (q->fifo()) {
        st = InvalidArgument(fmt::format("{} is a FIFO queue; Lambda sends to standard queues only", queue_arn));
      } else {
        sqs::SendRequest send;
        send.body = body;
        for (const auto& [k, v] : attributes) send.attributes[k] = sqs::MessageAttributeValue{v.first, v.second, ""};
        auto sent = queues->Send(name, send, std::chrono::duration_cast<std::chrono::milliseconds>(
                                                 clock.Now().time_since_epoch()).count());
        if (!sent.has_value()) st = sent.error();
      }
      reactor->Post([this, held, st, name] {
        if (st.ok() && esm) esm->OnMessageSent(name);
        (*held)(st);
      });
    });
  }

  // Every SQS queue's messages by state, as Prometheus text. Blocking.
  std::string QueueDepths() {
    std::string out =
        "# HELP nimbus_sqs_messages Messages in each queue by state (visible, in_flight, delayed).\n"
        "# TYPE nimbus_sqs_messages gauge\n";
    auto names = queues->ListQueues("");
    if (!names.has_value()) return out;
    const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(clock.Now().time_since_epoch()).count();
    for (const auto& name : *names) {
      auto c = queues->Counts(name, now);
      if (!c.has_value()) continue;
      out += fmt::format("nimbus_sqs_messages{{queue=\"{0}\",state=\"visible\"}} {1}\n"
                         "nimbus_sqs_messages{{queue=\"{0}\",state=\"in_flight\"}} {2}\n"
                         "nimbus_sqs_messages{{queue=\"{0}\",state=\"delayed\"}} {3}\n",
                         name, c->visible, c->in_flight, c->delayed);
    }
    return out;
  }

  // Runs `fn` on the reactor and waits for it.
  template <typename F>
  void RunOnReactor(F fn) {
    std::promise<void> done;
    reactor->Post([&] {
      fn();
      done.set_value();
    });
    done.get_future().wait();
  }
};

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { Shutdown(); }

Result<std::unique_ptr<Server>> Server::Start(const Clock& clock,
                                              sandbox::SandboxFactory& sandboxes,
                                              ServerOptions options) {
  auto impl = std::make_unique<Impl>(clock, sandboxes, std::move(options));
  Impl& s = *impl;
  std::error_code ec;
  std::filesystem::create_directories(s.options.data_dir, ec);
  if (ec) {
    return Status(Code::kUnavailable, fmt::format("data directory {}: {}",
                                                  s.options.data_dir.string(), ec.message()));
  }
  if (s.options.auth_mode == auth::Mode::kAnyCredentials && !auth::IsLoopbackHost(s.options.listen_host)) {
    return InvalidArgument(fmt::format(
        "--auth=dev accepts any credentials, so it is allowed only when listening on a loopback address "
        "(127.0.0.1, ::1, localhost), not {}; drop --auth=dev to verify requests with the keys in {}",
        s.options.listen_host, (s.options.data_dir / "credentials.json").string()));
  }
  NIMBUS_ASSIGN_OR_RETURN(
      s.authenticator,
      auth::Authenticator::Open(s.options.data_dir / "credentials.json", clock,
                                auth::AuthenticatorOptions{s.options.auth_mode, s.options.region.account_id,
                                                           s.options.region.name}));
  if (s.authenticator->keys().created()) {
    log::Info("created an admin access key in {} (mode 0600): sign requests with it, e.g. "
              "export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY from it",
              s.authenticator->keys().path().string());
  } else {
    log::Info("access keys from {}", s.authenticator->keys().path().string());
  }
  if (s.options.auth_mode == auth::Mode::kAnyCredentials) {
    log::Warn("auth: dev mode (--auth=dev): requests are not verified; anyone who can reach {} is an admin",
              s.options.listen_host);
  }
  s.blocking = std::make_unique<BlockingPool>("blocking", s.options.blocking_threads);
  s.keys_api = std::make_unique<auth::KeysApi>(s.authenticator->keys(), *s.blocking, clock);

  obs::LogStoreOptions log_options;
  log_options.dir = s.options.data_dir / "logs";
  NIMBUS_ASSIGN_OR_RETURN(s.logs, obs::LogStore::Open(clock, log_options));
  s.log_sink = std::make_unique<LogStoreSink>(*s.logs);

  s.disk = std::make_unique<storage::DiskSpace>(s.options.data_dir, s.options.disk_reserve_bytes);
  control::RegistryOptions registry_options;
  registry_options.data_dir = s.options.data_dir;
  registry_options.region = s.options.region;
  registry_options.account_concurrency_limit = s.options.max_concurrency;
  registry_options.disk = s.disk.get();
  NIMBUS_ASSIGN_OR_RETURN(s.registry, control::Registry::Open(registry_options, clock));

  obs::LogsApiOptions logs_api_options;
  logs_api_options.region = s.options.region.name;
  logs_api_options.account_id = s.options.region.account_id;
  s.logs_api = std::make_unique<obs::LogsApi>(*s.logs, *s.blocking, logs_api_options);
  auto objects = s3::ObjectStore::Open(s.options.data_dir / "s3");
  if (!objects.has_value()) return objects.error().WithContext("open the object store");
  s.objects = std::move(objects.value());


  NIMBUS_ASSIGN_OR_RETURN(s.metrics, metrics::MetricsStore::Open(s.options.data_dir / "metrics.db"));
  s.console = std::make_unique<console::Console>(console::ConsoleOptions{s.options.console_dir});
  s.cloudwatch_api = std::make_unique<metrics::CloudWatchApi>(
      *s.metrics, *s.blocking, clock, metrics::CloudWatchApiOptions{s.options.region.name, s.options.region.account_id});
  s.reactor = std::make_unique<Reactor>("reactor-0");
  if (!s.options.otlp_endpoint.empty()) {
    auto collector = http::ParseEndpoint(s.options.otlp_endpoint);
    if (!collector.has_value()) return collector.error().WithContext("--otlp-endpoint");
    s.spans = std::make_unique<metrics::SpanExporter>(
        std::move(*collector), metrics::SpanExporterOptions{s.options.region.name, s.options.region.account_id});
  }
  metrics::RecorderOptions recorder_options;
  recorder_options.flush_every = s.options.metrics_flush_every;
  recorder_options.spans = s.spans.get();
  s.recorder = std::make_unique<metrics::Recorder>(*s.reactor, *s.blocking, clock, *s.metrics, recorder_options);
  invoke::InvokerOptions invoker_options;
  invoker_options.observer = s.recorder.get();
  invoker_options.environment.runtime_dir = s.options.runtime_dir;
  invoker_options.environment.region = s.options.region;
  invoker_options.environment.api_port = s.options.sandbox_api_port;
  invoker_options.environment.credentials = s.authenticator->function_credentials();
  // Requests from functions take the same route as the port's (on the reactor).
  invoker_options.environment.api_handler = [&s](http::Request&& r, http::Responder resp) {
    s.Route(std::move(r), std::move(resp));
  };
  invoker_options.keep_alive = s.options.keep_alive;
  invoker_options.max_concurrency = s.options.max_concurrency;
  invoker_options.stem_cells_per_runtime = s.options.stem_cells_per_runtime;
  s.invoker = invoke::NewLocalInvoker(
      {*s.reactor, *s.blocking, clock, sandboxes, *s.log_sink}, invoker_options);
  async::AsyncServiceOptions async_options;
  async_options.db_path = s.options.data_dir / "async.db";
  async_options.retry_scale = s.options.async_retry_scale;
  async_options.max_in_flight = s.options.async_max_in_flight;
  async_options.region = s.options.region;
  control::Registry& registry = *s.registry;
  NIMBUS_ASSIGN_OR_RETURN(
      s.async, async::AsyncService::Open(
                   {*s.reactor, clock, *s.invoker,
                    // Each attempt follows an alias's weights, as a sync invoke does.
                    [&registry](std::string_view name, std::string_view qualifier) {
                      return registry.ResolveForInvoke(name, qualifier);
                    },
                    // Destinations and dead-letter queues that are SQS queues.
                    [&s](const std::string& queue_arn, std::string body, async::QueueAttributes attributes,
                         std::function<void(Status)> done) {
                      s.SendToQueue(queue_arn, std::move(body), std::move(attributes), std::move(done));
                    },
                    // Lambda's async metrics, by CloudWatch name (on the reactor).
                    [&s](const std::string& function, async::AsyncMetric metric, double value) {
                      using M = async::AsyncMetric;
                      const std::string_view name = metric == M::kEventsReceived    ? "AsyncEventsReceived"
                                                    : metric == M::kEventAge        ? "AsyncEventAge"
                                                    : metric == M::kEventsDropped   ? "AsyncEventsDropped"
                                                    : metric == M::kDeadLetterErrors ? "DeadLetterErrors"
                                                                                     : "DestinationDeliveryFailures";
                      s.recorder->OnAsyncMetric(function, name, value);
                    }},
                   async_options));
  s.lambda_api = std::make_unique<api::LambdaApi>(api::LambdaApi::Deps{
      *s.registry, *s.invoker, *s.blocking, *s.reactor, clock, s.options.region,
      &s.async->invoker(), s.disk.get(),
      // Code.Location: presigned, as the API is verified.
      [&s](std::string_view host, std::string_view target) {
        auto url = s.authenticator->PresignGet(host, target, std::chrono::minutes(10));
        return url.has_value() ? *url : fmt::format("http://{}{}", host, target);
      }});
  // The reactor is not running yet: attaching from here is safe.
  s.s3_targets = std::make_unique<S3FunctionTargets>(*s.registry, *s.reactor);
  s.s3_targets->Attach(&s.async->invoker());
  s.s3_api = std::make_unique<s3::S3Api>(
      *s.objects, *s.blocking, s3::S3ApiOptions{s.options.region.name, s.s3_targets.get(), s.disk.get()});

  NIMBUS_ASSIGN_OR_RETURN(
      s.queues, sqs::QueueStore::Open(s.options.data_dir / "sqs.db",
                                      fmt::format("arn:aws:sqs:{}:{}:", s.options.region.name,
                                                  s.options.region.account_id)));
  s.s3_targets->set_queues(s.queues.get());
  NIMBUS_ASSIGN_OR_RETURN(s.tables, dynamodb::OpenSqliteTableStore(s.options.data_dir / "dynamodb.db"));
  NIMBUS_ASSIGN_OR_RETURN(
      s.esm, esm::EventSourceMappings::Open(
                 s.options.data_dir / "esm.db",
                 {*s.reactor, *s.blocking, *s.registry, *s.invoker, *s.queues, s.options.region, s.tables.get()}));
  s.dynamodb_api = std::make_unique<dynamodb::DynamoDbApi>(
      *s.tables, *s.blocking,
      dynamodb::DynamoDbApiOptions{s.options.region.name, s.options.region.account_id,
                                   // Stream mappings read the new records at once.
                                   [&s](const std::string& table) {
                                     s.reactor->Post([&s, table] {
                                       if (s.esm) s.esm->OnStreamRecords(table);
                                     });
                                   },
                                   s.disk.get()});
  NIMBUS_ASSIGN_OR_RETURN(s.urls, gateway::FunctionUrls::Open(
                                      s.options.data_dir / "urls.db",
                                      {*s.reactor, *s.blocking, *s.registry, *s.invoker, s.options.region,
                                       [&s](http::Request& r) -> std::optional<std::string> {
                                         // Only a signature: a URL's CORS may admit other origins'
                                         // headers, so the console's session does not count here.
                                         r.headers.Remove(auth::Authenticator::kConsoleHeader);
                                         auth::AuthOutcome who = s.authenticator->Authenticate(r, "lambda");
                                         if (!who.ok()) return std::nullopt;
                                         return who.principal->access_key_id;
                                       }}));
  S3FunctionTargets* targets = s.s3_targets.get();
  NIMBUS_ASSIGN_OR_RETURN(
      s.events, events::EventBridge::Open(
                    s.options.data_dir / "events.db",
                    {*s.reactor, *s.blocking, *s.registry, *s.queues, s.options.region,
                     [targets](const std::string& arn, std::string event, std::string trace_header) {
                       targets->InvokeAsync(arn, std::move(event), std::move(trace_header));
                     }}));
  NIMBUS_ASSIGN_OR_RETURN(s.http_apis, gateway::HttpApis::Open(
                                           s.options.data_dir / "apis.db",
                                           {*s.reactor, *s.blocking, *s.registry, *s.invoker, s.options.region}));
  s.sqs_api = std::make_unique<sqs::SqsApi>(
      *s.queues, *s.blocking, *s.reactor,
      sqs::SqsApiOptions{s.options.region.name, s.options.region.account_id,
                         [&s](const std::string& queue) { s.esm->OnMessageSent(queue); }, s.disk.get()});

  // Listen before the reactor runs: a bind failure is reported to the caller.
  http::ListenerOptions listener_options;
  listener_options.max_body_bytes = api::kMaxCodeRequestBytes + 1024;
  NIMBUS_ASSIGN_OR_RETURN(
      s.listener,
      http::Listen(*s.reactor, s.options.listen_host, s.options.listen_port,
                   [&s](http::Request&& r, http::Responder resp) {
                     s.Route(std::move(r), std::move(resp));
                   },
                   listener_options));
  s.port = s.listener->port();
  s.urls->set_port(s.port);
  s.http_apis->set_port(s.port);
  // The invoker starts with the persisted concurrency settings (reserved limits
  // and provisioned environments), before any request is served. The reactor
  // thread is not running yet, so calling the invoker from here is safe.
  control::ConcurrencySettings concurrency = s.registry->ListConcurrencySettings();
  for (const auto& [name, reserved] : concurrency.reserved) {
    s.invoker->SetReservedConcurrency(name, reserved);
  }
  for (const auto& p : concurrency.provisioned) {
    s.invoker->SetProvisionedConcurrency(p.version, p.qualifier, p.count);
  }
  s.reactor->Start();
  // Events still on disk from the last run (queued, waiting or in flight when it
  // stopped or crashed) are delivered again.
  s.reactor->Post([&s] {
    s.async->Start();
    s.esm->Start();
    s.events->Start();
    s.recorder->Start();
    s.ScheduleDynamoDbSweep();
    s.ScheduleCodeCollection();
  });
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

uint16_t Server::port() const { return impl_->port; }

const std::filesystem::path& Server::credentials_file() const { return impl_->authenticator->keys().path(); }

std::string Server::endpoint() const {
  const std::string& h = impl_->options.listen_host;
  bool v6 = h.find(':') != std::string::npos;
  return fmt::format("http://{}{}{}:{}", v6 ? "[" : "", h, v6 ? "]" : "", impl_->port);
}

async::AsyncStats Server::async_stats() const {
  Impl& s = *impl_;
  async::AsyncStats stats;
  if (s.stopped || !s.async) return stats;
  s.RunOnReactor([&] { stats = s.async->stats(); });
  return stats;
}

void Server::Shutdown() {
  Impl& s = *impl_;
  if (s.stopped) return;
  s.stopped = true;
  // 1. Stop accepting connections and let in-flight invocations finish
  //    (bounded); requests arriving meanwhile on open connections are refused
  //    by the invoker as unavailable.
  std::promise<void> drained;
  s.reactor->Post([&] {
    s.listener->StopAccepting();
    s.async->Stop([] {});  // no new attempts; queued events stay on disk
    s.invoker->Shutdown(s.options.shutdown_grace, [&] { drained.set_value(); });
  });
  drained.get_future().wait();
  // 2. Let the last responses reach their clients (bounded: 2 s), then close
  //    every connection.
  for (int i = 0; i < 200; ++i) {
    std::promise<size_t> busy;
    s.reactor->Post([&] { busy.set_value(s.listener->busy_count()); });
    if (busy.get_future().get() == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // 3. Make the outcomes of the last async attempts durable (their events are
  //    deleted), then destroy the data plane on its own thread and stop the reactor.
  std::promise<void> async_flushed;
  s.reactor->Post([&] { s.async->Stop([&] { async_flushed.set_value(); }); });
  async_flushed.get_future().wait();
  s.RunOnReactor([&] {
    s.listener.reset();
    s.lambda_api.reset();
    if (s.s3_targets) s.s3_targets->Detach();
    if (s.sqs_api) s.sqs_api->Shutdown();
    if (s.esm) s.esm->Stop();
    if (s.events) s.events->Stop();
    s.dynamodb_sweeping = false;
    s.dynamodb_sweep.reset();
    s.collecting_code = false;
    s.code_collection.reset();
    s.async.reset();
    s.invoker.reset();
    s.recorder->Stop();  // the last minutes written
  });
  s.reactor->Stop();
  // 4. Finish queued blocking work: sandbox teardown (processes, cgroups),
  //    control-plane writes, log reads.
  s.blocking.reset();
  Status flushed = s.logs->Flush();
  if (!flushed.ok()) log::Warn("flush logs: {}", flushed.ToString());
}

}  // namespace nimbus::server
