// runtime_api: the Lambda Runtime API (2018-06-01) served to the code inside one
// execution environment, on the listening socket created inside its network
// namespace (127.0.0.1:9001 there). A protocol adapter only: it turns HTTP
// requests from the runtime into calls on a RuntimeEndpoint (implemented by
// invoke::Environment) and renders the answers exactly as AWS's Runtime
// Interface Emulator does, so unmodified runtime clients work.
//
// Note on layering: STYLE.md draws runtime_api above invoke; we put it below
// (invoke depends on runtime_api) so the adapter knows nothing of pools or
// environments and invoke needs no callback back into it. See
// docs/decisions/0002-runtime-api-below-invoke.md.
//
// Concurrency: confined to the reactor that serves the listener.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "base/reactor.h"
#include "base/status.h"
#include "base/unique_fd.h"
#include "http/server.h"

namespace nimbus::runtime_api {

// RIE's MaxPayloadSize: 6 MiB + 100 bytes. A larger response is refused with 413
// and fails the invocation with Function.ResponseSizeTooLarge.
inline constexpr uint64_t kMaxResponseBytes = 6 * 1024 * 1024 + 100;

// The event handed to the runtime by GET /next.
struct NextEvent {
  std::string request_id;            // Lambda-Runtime-Aws-Request-Id
  int64_t deadline_ms = 0;           // Lambda-Runtime-Deadline-Ms (Unix epoch ms)
  std::string invoked_function_arn;  // Lambda-Runtime-Invoked-Function-Arn
  std::string trace_id;              // Lambda-Runtime-Trace-Id
  std::string client_context;        // Lambda-Runtime-Client-Context (JSON text), optional
  std::string cognito_identity;      // Lambda-Runtime-Cognito-Identity (JSON text), optional
  std::string content_type = "application/json";
  std::string payload;
};

// What the Runtime API needs from an execution environment. Every method is
// called on the reactor thread. Returned Status codes choose the HTTP answer:
// ok → 202; kNotFound → 400 InvalidRequestID; kConflict → 403
// InvalidStateTransition; anything else → 500.
class RuntimeEndpoint {
 public:
  virtual ~RuntimeEndpoint() = default;

  using NextCallback = std::function<void(Result<NextEvent>)>;
  // The runtime is ready for its next event (and has finished the previous one).
  // `deliver` is called exactly once, possibly much later (a long poll with no
  // timeout), with the event or with an error (kConflict → 403, else 500).
  virtual void OnNext(NextCallback deliver) = 0;
  // POST /runtime/invocation/{id}/response.
  virtual Status OnResponse(const std::string& request_id, std::string body,
                            std::string content_type) = 0;
  // POST /runtime/invocation/{id}/error. `error_type` is the
  // Lambda-Runtime-Function-Error-Type header (may be empty); `body` the error
  // document as posted (may be empty or malformed).
  virtual Status OnError(const std::string& request_id, std::string error_type,
                         std::string body) = 0;
  // POST /runtime/init/error.
  virtual Status OnInitError(std::string error_type, std::string body) = 0;
  // The runtime's response was larger than kMaxResponseBytes (`size` bytes). The
  // runtime is answered 413; the endpoint fails the invocation.
  virtual void OnResponseTooLarge(const std::string& request_id, uint64_t size) = 0;
};

// Serves the Runtime API on `listener_fd` for `endpoint`, which must outlive the
// returned listener. Destroying the listener closes every runtime connection.
// REQUIRES: on the reactor thread.
Result<std::unique_ptr<http::Listener>> Serve(Reactor& reactor, UniqueFd listener_fd,
                                              RuntimeEndpoint& endpoint);

// The request handler behind Serve(), exposed for tests.
http::Handler MakeHandler(RuntimeEndpoint& endpoint);

}  // namespace nimbus::runtime_api
