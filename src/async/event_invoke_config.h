// Event invoke configuration (PutFunctionEventInvokeConfig): per function and
// qualifier, how many times a failed event is retried, how old an event may get,
// and where records of successes and failures go.
//
// EventInvokeConfigs is the in-memory table; it is confined to the reactor (the
// API handler and the dispatcher both run there). Persistence goes through the
// Journal (async.db), so the table changes only after the write is durable.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace nimbus::async {

inline constexpr int kDefaultMaximumRetryAttempts = 2;
inline constexpr int64_t kDefaultMaximumEventAgeSeconds = 21600;  // 6 h, also the maximum

struct EventInvokeConfig {
  std::string function;   // function name
  std::string qualifier;  // "$LATEST" (also for an unqualified name), a version or an alias
  std::optional<int> maximum_retry_attempts;               // 0..2, absent: 2
  std::optional<int64_t> maximum_event_age_seconds;         // 60..21600, absent: 21600
  std::string on_success;  // destination ARN or empty
  std::string on_failure;  // destination ARN or empty
  int64_t last_modified_ms = 0;

  int retry_attempts() const { return maximum_retry_attempts.value_or(kDefaultMaximumRetryAttempts); }
  int64_t event_age_seconds() const {
    return maximum_event_age_seconds.value_or(kDefaultMaximumEventAgeSeconds);
  }
  friend bool operator==(const EventInvokeConfig&, const EventInvokeConfig&) = default;
};

class EventInvokeConfigs {
 public:
  // The config for (function, qualifier), or nullptr. The pointer is valid until
  // the next Put/Remove.
  const EventInvokeConfig* Find(const std::string& function, const std::string& qualifier) const;
  void Put(EventInvokeConfig config);
  void Remove(const std::string& function, const std::string& qualifier);
  // Every config of `function`, ordered by qualifier.
  std::vector<EventInvokeConfig> List(const std::string& function) const;

 private:
  std::map<std::pair<std::string, std::string>, EventInvokeConfig> configs_;
};

}  // namespace nimbus::async
