// KeepAlivePolicy: how long an idle execution environment of a function stays
// warm, and when to start one again ahead of the function's predicted next
// invocation, learnt from that function's own traffic instead of one fixed
// keep-alive for all (issue #4). Used by LocalInvoker. Pure logic: it reads no
// clock and arms no timer; callers pass the time in and act on the decision.
//
// Concurrency: thread-compatible. LocalInvoker owns it and uses it only on the
// reactor thread, like its pools.
//
// The policy is the hybrid histogram policy of "Serverless in the Wild"
// (Shahrad et al., USENIX ATC '20, §4.2). Per function it keeps a histogram of
// idle times (IT): the time from the function becoming idle (its last
// invocation in flight ended) to its next invocation. Once the histogram is
// representative, its head and tail say how the function behaves:
//
//   the last invocation in flight ends: the function is idle
//   │
//   ├── kept warm ───┼── scaled to zero ──┼── one environment pre-warmed ──┼─► reaped unless used
//   0         min_keep_alive         head × 0.9                      tail × 1.1
//             = keep_alive       = prewarm.after        = prewarm.after + prewarm.keep_alive
//
//   head = 5th percentile IT, tail = 99th percentile IT (the lower edge of the
//   head's bin and the upper edge of the tail's, so bin quantisation errs on
//   the warm side, as in the paper). prewarm.after = head × 0.9, and the
//   pre-warmed environment is kept until tail × 1.1. When the head is too short
//   for unloading to pay (< min_prewarm), nothing is pre-warmed and an idle
//   environment is simply kept for tail × 1.1 from the end of its invocation.
//
// The histogram is trusted when (paper §4.2) it holds enough idle times
// (≥ min_samples), few of them fall beyond its range (≤ max_out_of_bounds_share
// beyond 4 h), and the idle times are concentrated: the coefficient of
// variation of the bin counts is ≥ min_cv (the paper uses 2). Otherwise the
// policy falls back to the operator's fixed default_keep_alive (where the paper
// forecasts out-of-bounds functions with ARIMA, TODO(#4), and keeps uncertain
// ones for the whole 4 h range, which would let one erratic function hold
// memory for hours).
//
// Bins are log-spaced (the paper's are 240 one-minute bins): 6 per octave from
// 50 ms, 109 bins up to 4.09 h, so a 100 ms and a 2 h idle time are both
// resolved to 12 %. A CV of 2 over 109 bins means the idle times fill fewer
// than a fifth of the bins if spread evenly (3.6 octaves, a factor of 12),
// the same fraction as the paper's rule on its bins. Measured on these bins:
// strictly or nearly periodic traffic has a CV of 9-10; Poisson arrivals
// (exponential idle times, at any rate) 1.5-1.6 and idle times spread evenly
// on a log scale over 1 s..1 h 0.75-0.9: both take the default.
//
// Aging: when a function has recorded `history` idle times, every count is
// halved (rounding down), so the histogram follows the last few hundred idle
// periods and forgets rare old ones. Functions are forgotten on Forget() (the
// function or version was deleted) and by Sweep() once idle for forget_after.
//
// How LocalInvoker uses it (one key per pool, e.g. "name:version"):
//   - an invocation starts (where it is counted in flight): OnInvocationStart;
//     it ends (where it is uncounted): OnInvocationEnd, before the environment
//     reports itself available;
//   - an on-demand environment becomes available: Decide(key), reap it after
//     decision.keep_alive; if decision.prewarm is set and that reaping leaves
//     the pool empty, start one environment prewarm->after − keep_alive later
//     and reap that one prewarm->keep_alive after it becomes available (not
//     after a new Decide, which would answer min_keep_alive);
//   - a function or version is deleted: Forget(key); every hour or so:
//     Sweep(now).
// The decision is per function: each of its environments that becomes idle
// gets the same keep_alive, and pre-warming brings back one environment.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>

namespace nimbus::invoke {

struct KeepAliveOptions {
  // The fixed keep-alive for functions whose traffic the histogram cannot
  // predict yet (or at all). LocalInvoker passes InvokerOptions::keep_alive
  // (--keep-alive). Not clamped: it is the operator's explicit choice.
  std::chrono::milliseconds default_keep_alive{std::chrono::minutes(5)};
  // Bounds of a keep-alive learnt from the histogram. An environment is never
  // reaped sooner than min_keep_alive after its invocation (a burst's next call
  // usually comes within a second or two; a cold start costs more than 2 s of
  // idle memory), nor kept longer than max_keep_alive (an hour of one idle
  // environment's memory for a function that calls less often is better spent
  // on a cold start). Provisioned environments are not governed by this policy.
  std::chrono::milliseconds min_keep_alive{std::chrono::seconds(2)};
  std::chrono::milliseconds max_keep_alive{std::chrono::hours(1)};
  // Pre-warm only if the function is predicted idle for at least this long:
  // unloading and starting again costs a cold start's CPU, which the memory
  // saved over a shorter window does not repay.
  // REQUIRES: min_prewarm > min_keep_alive.
  std::chrono::milliseconds min_prewarm{std::chrono::seconds(10)};
  // Idle times recorded before the histogram is trusted (in range and beyond).
  int min_samples = 10;
  // Beyond this share of idle times longer than the histogram's range (4 h),
  // its percentiles describe too little of the function's behaviour.
  double max_out_of_bounds_share = 0.5;
  // Coefficient of variation (standard deviation / mean) of the bin counts
  // below which the idle times are too spread out to predict (paper: 2).
  double min_cv = 2.0;
  // Idle times a function's histogram holds before every count is halved.
  // REQUIRES: 2 × min_samples ≤ history ≤ 65535 (the counters are 16-bit).
  int history = 512;
  // Sweep() forgets a function idle for this long.
  std::chrono::hours forget_after{24};
};

struct KeepAliveDecision {
  // Why the keep-alive is what it is (for metrics and logs).
  enum class Basis {
    kHistogram,          // learnt from the function's idle times
    kTooFewSamples,      // default: fewer than min_samples idle times recorded
    kOutOfBounds,        // default: too many idle times beyond the histogram's range
    kNotRepresentative,  // default: idle times too spread out (CV below min_cv)
  };
  struct Prewarm {
    // Start one environment this long after the function became idle.
    std::chrono::milliseconds after{0};
    // Reap that environment this long after it is ready, unless it was used.
    std::chrono::milliseconds keep_alive{0};
  };

  // How long the environment that just became idle stays warm before it is
  // reaped. min_keep_alive when `prewarm` is set.
  std::chrono::milliseconds keep_alive{0};
  // Set when the function is predicted to stay idle long enough to scale to
  // zero and pre-warm one environment shortly before its next invocation.
  // prewarm->after > keep_alive.
  std::optional<Prewarm> prewarm;
  Basis basis = Basis::kTooFewSamples;
};

class KeepAlivePolicy {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  // Histogram geometry: bin 0 holds idle times below 50 ms × 2^(1/6), bin i
  // those in [50 ms × 2^(i/6), 50 ms × 2^((i+1)/6)); longer ones than
  // 50 ms × 2^(109/6) = 4.09 h are counted out of bounds.
  static constexpr int kBinsPerOctave = 6;
  static constexpr int kBins = 109;

  // REQUIRES: the options' REQUIRES hold (checked).
  explicit KeepAlivePolicy(KeepAliveOptions options);

  // An invocation of `key` starts at `now`. If none was in flight, the function's
  // idle time since its last invocation ended is recorded (the first invocation
  // of a key records nothing).
  void OnInvocationStart(const std::string& key, TimePoint now);
  // An invocation of `key` ended at `now`; when it was the last one in flight,
  // the function is idle from `now`. Ignored for a key with nothing in flight
  // (for example one that was forgotten while an invocation ran).
  void OnInvocationEnd(const std::string& key, TimePoint now);

  // The keep-alive for an environment of `key` that becomes idle now, and
  // whether to pre-warm after scaling to zero. Unknown keys get the default.
  // Costs one pass over the 109 bins.
  KeepAliveDecision Decide(const std::string& key) const;

  // Drops everything known about `key` (the function or version was deleted).
  void Forget(const std::string& key);
  // Forgets every function that has had nothing in flight for forget_after.
  // Returns how many were forgotten.
  std::size_t Sweep(TimePoint now);

  // Functions with state (each costs StateBytes() plus its key and a hash-map
  // node, about 300 bytes in all).
  std::size_t tracked_functions() const { return functions_.size(); }
  static constexpr std::size_t StateBytes() { return sizeof(State); }

 private:
  // One function's state: 109 × 2 bytes of counts + 2 + 2 + 4 + 1 (+ padding)
  // + 8 = 240 bytes.
  struct State {
    std::array<uint16_t, kBins> counts{};  // idle times per bin
    uint16_t out_of_bounds = 0;            // idle times beyond the last bin
    uint16_t samples = 0;                  // sum of counts and out_of_bounds
    int32_t in_flight = 0;
    bool idle_known = false;  // an invocation has ended: idle_since is valid
    TimePoint idle_since;     // when in_flight last dropped to 0
  };

  void Record(State& s, std::chrono::steady_clock::duration idle) const;
  KeepAliveDecision Default(KeepAliveDecision::Basis basis) const;

  KeepAliveOptions options_;
  std::unordered_map<std::string, State> functions_;
};

}  // namespace nimbus::invoke
