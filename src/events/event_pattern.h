// events: EventBridge event patterns and schedule expressions (issue #5, scope 6).
// Pure functions, no state.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "base/status.h"

namespace nimbus::events {

// Checks a pattern as PutRule does: a JSON object whose leaves are arrays of
// values or of content filters (prefix, suffix, anything-but, numeric, exists,
// equals-ignore-case, wildcard). kInvalidArgument says why not.
Status ValidatePattern(std::string_view pattern);

// Whether `event` (the whole envelope) matches `pattern` (validated).
bool Matches(const boost::json::value& pattern, const boost::json::value& event);

// A schedule: rate(N unit) or cron(minutes hours day-of-month month day-of-week year).
struct Schedule {
  int rate_minutes = 0;  // rate(): every this many minutes; 0 for cron
  // cron(): allowed values per field (bit i set: value i allowed).
  uint64_t minutes = 0, hours = 0, days_of_month = 0, months = 0, days_of_week = 0;
  bool any_day_of_month = true, any_day_of_week = true;
  int year_min = 0, year_max = 9999;
};

// Parses "rate(5 minutes)" or "cron(0 12 * * ? *)"; kInvalidArgument when invalid.
Result<Schedule> ParseSchedule(std::string_view expression);

// Whether the schedule fires at the minute starting at `minute` (UTC); for rate
// schedules, counted from the minute `origin_minute` (both minutes since the epoch).
bool FiresAt(const Schedule& s, int64_t minute, int64_t origin_minute);

}  // namespace nimbus::events
