// Text forms of points in time shared by components that write timestamps into logs and
// records. Pure functions; safe from any thread.
#pragma once

#include <chrono>
#include <string>

namespace nimbus {

// ISO 8601 in UTC with milliseconds, as Lambda writes them: "2024-01-29T16:41:15.998Z".
// Sub-millisecond precision is truncated.
std::string IsoUtcMillis(std::chrono::system_clock::time_point t);

}  // namespace nimbus
