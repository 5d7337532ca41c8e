// invoke: the data plane. Takes an invocation of a resolved function version,
// finds or starts an execution environment for it, hands the event to the runtime
// and returns the outcome.
//
// Threads: the Invoker is confined to the main reactor (its pools, environments
// and timers are touched only there); callers on other threads Post() to it.
// Callbacks are called on the reactor thread.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "base/status.h"
#include "control/function.h"

namespace nimbus::invoke {

struct InvokeRequest {
  control::FunctionSnapshot function;  // REQUIRES: non-null
  std::string request_id;              // lowercase UUID; becomes the runtime's request id
  std::string invoked_function_arn;    // the ARN the caller used (qualified if they qualified it)
  std::string payload;                 // event bytes, already validated
  std::string content_type = "application/json";
  std::string client_context;          // decoded JSON text of X-Amz-Client-Context, or empty
  std::string trace_id;                // X-Amzn-Trace-Id, or empty to generate one
  bool tail_log = false;               // X-Amz-Log-Type: Tail
};

// What an invocation's REPORT line says (metrics and metering read it).
struct InvocationReport {
  double duration_ms = 0;
  uint64_t billed_ms = 0;
  int memory_mb = 128;
  uint64_t max_memory_used_mb = 0;
  std::optional<double> init_ms;  // set on cold starts
  std::string status;             // "" (success) | "error" | "timeout"
  std::string trace_id;           // the X-Ray trace header the runtime was given
};

// How the function ended. A function failure is an outcome, not an error.
struct InvokeOutcome {
  std::string request_id;
  std::string executed_version;        // "$LATEST" or "N"
  std::string payload;                 // response bytes, or the error JSON
  std::string content_type = "application/json";
  std::optional<std::string> function_error;  // "Unhandled" when the function failed
  std::string log_tail;                // last 4 KB of the invocation's log, if tail_log
  std::optional<InvocationReport> report;  // unset when no environment ran it
};

// Told of every invocation the invoker runs, on the reactor (metrics). `resource`
// is "name:qualifier" when the caller used a qualified ARN, else "".
class InvocationObserver {
 public:
  virtual ~InvocationObserver() = default;
  // Accepted: `in_flight` invocations of the function, and `account_in_flight` of
  // all functions, are now running.
  virtual void OnStart(const std::string& function, const std::string& resource, int in_flight,
                       int account_in_flight) = 0;
  // Refused for concurrency (TooManyRequestsException).
  virtual void OnThrottle(const std::string& function, const std::string& resource) = 0;
  virtual void OnEnd(const std::string& function, const std::string& resource, const Result<InvokeOutcome>& outcome) = 0;
};

using InvokeCallback = std::function<void(Result<InvokeOutcome>)>;

class Invoker {
 public:
  virtual ~Invoker() = default;

  // Runs the invocation. `done` is called exactly once, on the reactor thread:
  // with an outcome (success or function error) or, if the platform could not run
  // it, a Status (kThrottled, kUnavailable, kInternal).
  // REQUIRES: on the reactor thread.
  virtual void Invoke(InvokeRequest request, InvokeCallback done) = 0;

  // A function version's configuration or code changed, or it was deleted: stop
  // handing new invocations to its environments and retire them once idle.
  // `version` is "$LATEST", a version number, or empty for every version (the
  // function was deleted). REQUIRES: on the reactor thread.
  virtual void RetireFunction(const std::string& function_name, const std::string& version) = 0;

  // The function's reserved concurrency (PutFunctionConcurrency): at most
  // `reserved` of its invocations run at once, and that many are set aside from
  // the account's pool; 0 throttles every invocation; nullopt removes the
  // reservation (DeleteFunctionConcurrency). REQUIRES: on the reactor thread.
  virtual void SetReservedConcurrency(const std::string& function_name,
                                      std::optional<int> reserved) = 0;

  // Provisioned concurrency for one published version or alias target: keep
  // `count` environments of `version` initialised and ready (0 removes it).
  // `qualifier` is the alias or version it was configured on.
  // REQUIRES: on the reactor thread.
  virtual void SetProvisionedConcurrency(control::FunctionSnapshot version,
                                         const std::string& qualifier, int count) = 0;
};

}  // namespace nimbus::invoke
