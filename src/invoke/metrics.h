// The invoker's own counters (issue #4: cold starts and throttles must be
// observable), rendered as Prometheus text at GET /metrics. Confined to the
// reactor thread like the invoker that owns them; stats() hands out copies.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace nimbus::invoke {

// A cumulative histogram of durations with fixed bucket bounds (seconds),
// Prometheus-style: bucket i counts observations <= kBounds[i].
class DurationHistogram {
 public:
  static constexpr std::array<double, 14> kBounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                     0.25,  0.5,    1,     2.5,  5,     10,  30};
  void Observe(double seconds);
  uint64_t count() const { return count_; }
  double sum() const { return sum_; }
  // Observations <= kBounds[i] (cumulative).
  uint64_t bucket(size_t i) const { return buckets_[i]; }

 private:
  std::array<uint64_t, kBounds.size()> buckets_{};
  uint64_t count_ = 0;
  double sum_ = 0;
};

struct InvokerMetrics {
  // Invocations that had to wait for a new environment.
  uint64_t cold_starts = 0;
  // ... of which served by a stem cell (the rest launched a sandbox).
  uint64_t cold_starts_from_stem_cells = 0;
  // Cold starts that found no cell ready and forked one from a zygote.
  uint64_t cold_starts_forked = 0;
  // From the invocation's assignment to a new environment until the runtime
  // received it: sandbox, runtime start-up and the function's init.
  DurationHistogram cold_start_seconds;
  // The function's init alone (Init Duration).
  DurationHistogram init_seconds;
  // Invocations refused for concurrency (TooManyRequestsException), by limit.
  uint64_t throttles_reserved = 0;  // the function's reserved concurrency
  uint64_t throttles_account = 0;   // the account's unreserved concurrency
  // Environments started ahead of a predicted invocation (KeepAlivePolicy).
  uint64_t prewarms = 0;
};

struct InvokerStats;

// Prometheus text exposition format 0.0.4 of `stats`.
std::string RenderPrometheus(const InvokerStats& stats);

}  // namespace nimbus::invoke
