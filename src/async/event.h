// An asynchronous event as the queue keeps it, in memory and on disk. Value type.
#pragma once

#include <cstdint>
#include <string>

namespace nimbus::async {

struct Event {
  int64_t id = 0;                    // queue sequence number, unique per data directory
  std::string request_id;            // the invocation's request id, the same on every attempt
  std::string function;              // the function's name (queue key), e.g. "f"
  std::string function_ref;          // as the caller named it: name, "name:q" or an ARN
  std::string qualifier;             // ?Qualifier= as given, "" for none
  std::string config_qualifier;      // which event invoke config applies: "$LATEST", "1", "prod"
  std::string invoked_function_arn;  // the ARN the caller used
  std::string payload;               // the event, ≤ 1 MiB
  std::string trace_id;              // X-Amzn-Trace-Id or empty
  int64_t enqueued_ms = 0;           // wall clock at acceptance (event age counts from here)
  int attempts = 0;                  // attempts that reached the function (approximateInvokeCount)
  int64_t not_before_ms = 0;         // wall clock before which the next attempt must not start

  friend bool operator==(const Event&, const Event&) = default;
};

}  // namespace nimbus::async
