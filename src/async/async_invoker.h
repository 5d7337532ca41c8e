// async: asynchronous invocation (X-Amz-Invocation-Type: Event and the legacy
// InvokeAsync). Events are made durable before they are accepted, kept in a
// queue per function, run through invoke::Invoker with Lambda's retry rules,
// and their outcomes sent to destinations.
//
// Threads: Enqueue() is called on the reactor thread; `accepted` is called on
// the reactor thread once, after the event is on disk (fsync'd), or with an
// error if it could not be stored.
#pragma once

#include <functional>
#include <string>

#include "base/status.h"
#include "control/function.h"

namespace nimbus::async {

struct AsyncInvokeRequest {
  // The function version the event was accepted for (validated at acceptance).
  control::FunctionSnapshot function;
  // As the caller named it: the function name and the qualifier ("" for none,
  // "$LATEST", a version or an alias). Each attempt resolves them again, so an
  // event for $LATEST runs the code that is current when it runs.
  std::string function_name;
  std::string qualifier;
  std::string request_id;            // becomes the invocation's request id
  std::string invoked_function_arn;  // the ARN the caller used
  std::string payload;               // ≤ 1 MiB, already validated
  std::string trace_id;              // X-Amzn-Trace-Id, or empty
};

class AsyncInvoker {
 public:
  virtual ~AsyncInvoker() = default;
  // Durably enqueues the event. REQUIRES: on the reactor thread.
  virtual void Enqueue(AsyncInvokeRequest request, std::function<void(Status)> accepted) = 0;
};

}  // namespace nimbus::async
