#include "runtime_api/runtime_api.h"

#include <fmt/format.h>

#include <string_view>

namespace nimbus::runtime_api {
namespace {

constexpr std::string_view kPrefix = "/2018-06-01/runtime/";

http::Response ErrorResponse(int status, std::string_view type, std::string_view message) {
  // Rendered as the RIE does: {"errorMessage": "...", "errorType": "..."}.
  return http::Response::Json(
      status, fmt::format(R"({{"errorMessage":"{}","errorType":"{}"}})", message, type));
}

http::Response Accepted() { return http::Response::Json(202, R"({"status":"OK"})"); }

http::Response FromStatus(const Status& s) {
  if (s.ok()) return Accepted();
  switch (s.code()) {
    case Code::kNotFound: return ErrorResponse(400, "InvalidRequestID", "Invalid request ID");
    case Code::kConflict:
      return ErrorResponse(403, "InvalidStateTransition",
                           "State transition from Ready to InvocationErrorResponse failed for "
                           "runtime. Error: State transition is not allowed");
    default: return ErrorResponse(500, "InternalServerError", "Internal Server Error");
  }
}

// The headers are distinct: Add, not Set (which first scans for the name).
void AddIfNotEmpty(http::Headers& h, const char* name, std::string&& value) {
  if (!value.empty()) h.Add(name, std::move(value));
}

http::Response RenderNext(NextEvent&& e) {
  http::Response r;
  r.status = 200;
  r.headers.Add("Lambda-Runtime-Aws-Request-Id", std::move(e.request_id));
  r.headers.Add("Lambda-Runtime-Deadline-Ms", std::to_string(e.deadline_ms));
  AddIfNotEmpty(r.headers, "Lambda-Runtime-Invoked-Function-Arn", std::move(e.invoked_function_arn));
  AddIfNotEmpty(r.headers, "Lambda-Runtime-Trace-Id", std::move(e.trace_id));
  AddIfNotEmpty(r.headers, "Lambda-Runtime-Client-Context", std::move(e.client_context));
  AddIfNotEmpty(r.headers, "Lambda-Runtime-Cognito-Identity", std::move(e.cognito_identity));
  r.headers.Add("Content-Type",
                e.content_type.empty() ? std::string("application/json") : std::move(e.content_type));
  r.body = std::move(e.payload);
  return r;
}

}  // namespace

http::Handler MakeHandler(RuntimeEndpoint& endpoint) {
  return [&endpoint](http::Request&& req, http::Responder responder) {
    std::string_view path = req.path();
    if (req.method == "GET" && path == "/2018-06-01/ping") {
      responder.Respond(http::Response::Text(200, "pong"));
      return;
    }
    if (!path.starts_with(kPrefix)) {
      responder.Respond(ErrorResponse(404, "NotFound", "Not Found"));
      return;
    }
    std::string_view rest = path.substr(kPrefix.size());
    if (rest == "invocation/next") {
      if (req.method != "GET") {
        responder.Respond(ErrorResponse(405, "MethodNotAllowed", "Method Not Allowed"));
        return;
      }
      // Shared: std::function needs a copyable target and a Responder is move-only.
      auto shared = std::make_shared<http::Responder>(std::move(responder));
      endpoint.OnNext([shared](Result<NextEvent> e) {
        http::Responder& r = *shared;
        if (!e.has_value()) {
          r.Respond(e.error().code() == Code::kConflict
                        ? FromStatus(e.error())
                        : ErrorResponse(500, "InternalServerError", e.error().message()));
          return;
        }
        r.Respond(RenderNext(std::move(e).value()));
      });
      return;
    }
    if (req.method != "POST") {
      responder.Respond(ErrorResponse(405, "MethodNotAllowed", "Method Not Allowed"));
      return;
    }
    std::string error_type(req.headers.Get("Lambda-Runtime-Function-Error-Type").value_or(""));
    if (rest == "init/error") {
      responder.Respond(FromStatus(endpoint.OnInitError(std::move(error_type), std::move(req.body))));
      return;
    }
    constexpr std::string_view kInvocation = "invocation/";
    if (rest.starts_with(kInvocation)) {
      rest.remove_prefix(kInvocation.size());
      size_t slash = rest.find('/');
      if (slash != std::string_view::npos && slash > 0) {
        std::string id(rest.substr(0, slash));
        std::string_view verb = rest.substr(slash + 1);
        if (verb == "response") {
          if (req.body_too_large || req.body.size() > kMaxResponseBytes) {
            endpoint.OnResponseTooLarge(id, req.declared_body_size);
            responder.Respond(ErrorResponse(
                413, "RequestEntityTooLarge",
                fmt::format("Exceeded maximum allowed payload size ({} bytes).",
                            kMaxResponseBytes)));
            return;
          }
          std::string ct(req.headers.Get("Content-Type").value_or("application/json"));
          responder.Respond(FromStatus(endpoint.OnResponse(id, std::move(req.body), std::move(ct))));
          return;
        }
        if (verb == "error") {
          responder.Respond(
              FromStatus(endpoint.OnError(id, std::move(error_type), std::move(req.body))));
          return;
        }
      }
    }
    responder.Respond(ErrorResponse(404, "NotFound", "Not Found"));
  };
}

Result<std::unique_ptr<http::Listener>> Serve(Reactor& reactor, UniqueFd listener_fd,
                                              RuntimeEndpoint& endpoint) {
  http::ListenerOptions options;
  options.max_body_bytes = kMaxResponseBytes;
  return http::Serve(reactor, std::move(listener_fd), MakeHandler(endpoint), options);
}

}  // namespace nimbus::runtime_api
