// api: the Lambda control-plane REST front end (service "lambda", API version
// 2015-03-31). Requests are parsed at the edge into control's typed requests,
// run against control::Registry, and answered with the model's shapes; every
// error goes through api/errors.h. Invoke resolves the function in memory and
// hands it to invoke::Invoker.
//
// Threads: Handle() runs on the reactor that owns the connection. Registry calls
// that touch the disk run on the BlockingPool; their reply is posted back to
// the reactor, which also calls Invoker (confined to it). Every response carries
// x-amzn-RequestId and Content-Type: application/json (Invoke: the outcome's
// content type).
//
// Layers: HandleBlocking() (one control-plane request -> response, blocking) and
// PrepareInvoke()/InvokeResponse() are synchronous and unit-tested; HandleAsync()
// schedules them; Handle() adapts HandleAsync() to http::Responder.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "api/errors.h"
#include "async/async_invoker.h"
#include "base/blocking_pool.h"
#include "base/clock.h"
#include "base/reactor.h"
#include "control/function.h"
#include "control/registry.h"
#include "http/message.h"
#include "http/server.h"
#include "invoke/invoker.h"
#include "storage/disk_space.h"

namespace nimbus::api {

// Lambda's request limits.
inline constexpr size_t kMaxSyncInvokePayloadBytes = 6291456;  // 6 MiB
inline constexpr size_t kMaxAsyncInvokePayloadBytes = 1048576;  // 1 MiB (256 KB before late 2025)
// Base64 of the 50 MiB zip limit plus JSON framing: the figure Lambda quotes in
// "Request must be smaller than 69905067 bytes for the CreateFunction operation".
inline constexpr size_t kMaxCodeRequestBytes = 69905067;
inline constexpr size_t kMaxClientContextBytes = 3583;

// The route that serves code packages: GET /nimbus/code/<hex>.zip
inline constexpr std::string_view kCodePathPrefix = "/nimbus/code/";

// A change the invoker must apply after a control-plane operation (retire a
// version's environments, set reserved or provisioned concurrency). Run on the
// reactor thread, which owns the invoker.
using InvokerUpdate = std::function<void(invoke::Invoker&)>;

// A control-plane reply, and the invoker updates to apply, in order, once it
// is sent: UpdateFunctionCode/Configuration retire "$LATEST", DeleteFunction
// retires every version (or the one deleted), concurrency operations set the
// function's reserved or provisioned concurrency.
struct ControlReply {
  http::Response response;
  std::vector<InvokerUpdate> invoker_updates;
};

// An Invoke request that passed validation and resolved to a function.
struct PreparedInvoke {
  enum class Type { kRequestResponse, kEvent, kDryRun };
  Type type = Type::kRequestResponse;
  invoke::InvokeRequest request;
  // For kEvent: the name and qualifier as the caller gave them.
  std::string function_name;
  std::string qualifier;
};

class LambdaApi {
 public:
  // Everything borrowed must outlive the LambdaApi, and the LambdaApi must
  // outlive the work it queued: destroy it after stopping the pool and reactor.
  struct Deps {
    control::Registry& registry;
    invoke::Invoker& invoker;
    BlockingPool& pool;
    Reactor& reactor;  // the reactor that calls Handle and owns `invoker`
    const Clock& clock;
    control::Region region;
    // Asynchronous invocation; null: Event invocations are refused.
    async::AsyncInvoker* async = nullptr;
    // Asked before an Event invocation is accepted (it is stored); null: no
    // reserve is kept.
    const storage::DiskSpace* disk = nullptr;
    // Turns a code package's URL (http://<host>/nimbus/code/<sha256>.zip) into
    // the presigned one handed out as Code.Location, valid for 10 minutes as on
    // AWS; null: the plain URL.
    std::function<std::string(std::string_view host, std::string_view target)> presign;
  };
  explicit LambdaApi(Deps deps);
  LambdaApi(const LambdaApi&) = delete;
  LambdaApi& operator=(const LambdaApi&) = delete;

  // True for the paths this API serves: the Lambda API's dated prefixes
  // (/2015-03-31/, /2016-08-19/, /2014-11-13/, ...) and /nimbus/code/. Unknown
  // operations under those prefixes are answered here with a 404
  // UnknownOperationException.
  static bool Matches(const http::Request& request);

  // Serves one request. REQUIRES: on deps.reactor's thread.
  void Handle(http::Request&& request, http::Responder responder);

  // Handle() with the reply delivered to `respond`, called exactly once on the
  // reactor thread. REQUIRES: on deps.reactor's thread.
  void HandleAsync(http::Request&& request, std::function<void(http::Response)> respond);

  // Serves a non-Invoke request synchronously (may block on disk I/O). The
  // response carries x-amzn-RequestId: `request_id`.
  ControlReply HandleBlocking(const http::Request& request, const std::string& request_id);

  // True if `request` is an Invoke (POST /2015-03-31/functions/{name}/invocations)
  // or the legacy InvokeAsync (POST /2014-11-13/functions/{name}/invoke-async/).
  static bool IsInvoke(const http::Request& request);
  // Validates an Invoke request and resolves its function (in memory only).
  // `request_id` becomes the invocation's request id.
  ApiResult<PreparedInvoke> PrepareInvoke(const http::Request& request,
                                          const std::string& request_id) const;
  // The HTTP response for a finished invocation (its payload becomes the body).
  static http::Response InvokeResponse(invoke::InvokeOutcome outcome, bool tail_log,
                                       const std::string& request_id);

 private:
  // IsInvoke() and PrepareInvoke() on the request's decoded path segments (see
  // Segments() in the .cc), which HandleAsync() computes once. `payload` is the
  // request body (moved in by HandleAsync(), copied by PrepareInvoke()).
  static bool IsInvokeSegments(const http::Request& request,
                               const std::optional<std::vector<std::string>>& segs);
  ApiResult<PreparedInvoke> PrepareInvokeSegments(
      const http::Request& request, const std::optional<std::vector<std::string>>& segs,
      std::string payload, const std::string& request_id) const;
  ApiResult<http::Response> Route(const http::Request& request,
                                  std::vector<InvokerUpdate>& updates);
  // Routes under /2015-03-31/functions/{name}/...
  ApiResult<http::Response> RouteFunction(const http::Request& request,
                                          const std::vector<std::string>& s,
                                          std::vector<InvokerUpdate>& updates);
  // /2017-10-31/ and /2019-09-30/functions/{name}/(concurrency|provisioned-concurrency)
  ApiResult<http::Response> RouteConcurrency(const http::Request& request,
                                             const std::vector<std::string>& s,
                                             std::vector<InvokerUpdate>& updates);
  // /2017-03-31/tags/{arn}
  ApiResult<http::Response> RouteTags(const http::Request& request,
                                      const std::vector<std::string>& s);
  // /2018-10-31/layers[/{name}/versions[/{n}]]
  ApiResult<http::Response> RouteLayers(const http::Request& request,
                                        const std::vector<std::string>& s);
  std::string CodeLocation(const http::Request& request, const control::FunctionVersion& f) const;
  // The URL that serves the zip with SHA-256 `hex` (GET /nimbus/code/<hex>.zip).
  std::string CodeUrl(const http::Request& request, const std::string& hex) const;

  Deps deps_;
};

// Adds x-amzn-RequestId and, if absent, Content-Type: application/json.
http::Response WithStandardHeaders(http::Response response, const std::string& request_id);

}  // namespace nimbus::api
