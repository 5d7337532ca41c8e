#include "invoke/keep_alive_policy.h"

#include <algorithm>
#include <cmath>

#include "base/check.h"

namespace nimbus::invoke {

namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

// The paper's head and tail: the 5th and 99th percentiles of idle times, each
// widened by a 10 % margin (pre-warm 10 % earlier, keep 10 % longer).
constexpr double kHeadPercentile = 0.05;
constexpr double kTailPercentile = 0.99;
constexpr int kMarginPercent = 10;

// Bin edges: kEdges[i] = 50 ms × 2^(i/6), i = 0..kBins. Bin i spans
// [kEdges[i], kEdges[i + 1]), except bin 0, which also takes everything shorter.
using Edges = std::array<microseconds, KeepAlivePolicy::kBins + 1>;

const Edges& BinEdges() {
  static const Edges edges = [] {
    Edges e;
    for (int i = 0; i <= KeepAlivePolicy::kBins; ++i) {
      double us = 50'000.0 * std::exp2(static_cast<double>(i) / KeepAlivePolicy::kBinsPerOctave);
      e[i] = microseconds(std::llround(us));
    }
    return e;
  }();
  return edges;
}

// The bin of an idle time, or -1 beyond the last bin.
int BinOf(std::chrono::steady_clock::duration idle) {
  const Edges& e = BinEdges();
  auto us = std::chrono::duration_cast<microseconds>(idle);
  if (us >= e.back()) return -1;
  // The first edge above `us`, from bin 1's lower edge on: bin 0 has no lower edge.
  auto above = std::upper_bound(e.begin() + 1, e.end(), us);
  return static_cast<int>(above - e.begin()) - 1;
}

// The smallest bin whose cumulative count reaches the share `p` of `total`.
int PercentileBin(const std::array<uint16_t, KeepAlivePolicy::kBins>& counts, int total, double p) {
  double need = p * total;
  int cumulative = 0;
  for (int i = 0; i < KeepAlivePolicy::kBins; ++i) {
    cumulative += counts[i];
    if (cumulative > 0 && cumulative >= need) return i;
  }
  return KeepAlivePolicy::kBins - 1;
}

// Coefficient of variation (population standard deviation / mean) of the bin
// counts. REQUIRES: total > 0.
double CountsCv(const std::array<uint16_t, KeepAlivePolicy::kBins>& counts, int total) {
  double mean = static_cast<double>(total) / KeepAlivePolicy::kBins;
  double squares = 0;
  for (uint16_t c : counts) squares += (c - mean) * (c - mean);
  return std::sqrt(squares / KeepAlivePolicy::kBins) / mean;
}

}  // namespace

KeepAlivePolicy::KeepAlivePolicy(KeepAliveOptions options) : options_(options) {
  NIMBUS_CHECK(options_.min_keep_alive.count() > 0 &&
               options_.min_keep_alive <= options_.max_keep_alive)
      << "keep-alive bounds: min must be positive and at most max";
  NIMBUS_CHECK(options_.min_prewarm > options_.min_keep_alive)
      << "pre-warming must leave the function unloaded for a while";
  NIMBUS_CHECK(options_.min_samples >= 1 && options_.history >= 2 * options_.min_samples &&
               options_.history <= 65535)
      << "history must hold twice min_samples and fit the 16-bit counters";
  NIMBUS_CHECK(options_.max_out_of_bounds_share >= 0 && options_.max_out_of_bounds_share <= 1);
}

void KeepAlivePolicy::OnInvocationStart(const std::string& key, TimePoint now) {
  State& s = functions_[key];
  if (s.in_flight == 0 && s.idle_known) {
    Record(s, std::max(now - s.idle_since, std::chrono::steady_clock::duration::zero()));
  }
  ++s.in_flight;
}

void KeepAlivePolicy::OnInvocationEnd(const std::string& key, TimePoint now) {
  auto it = functions_.find(key);
  if (it == functions_.end() || it->second.in_flight == 0) return;
  State& s = it->second;
  if (--s.in_flight == 0) {
    s.idle_known = true;
    s.idle_since = now;
  }
}

void KeepAlivePolicy::Record(State& s, std::chrono::steady_clock::duration idle) const {
  int bin = BinOf(idle);
  if (bin < 0) {
    ++s.out_of_bounds;
  } else {
    ++s.counts[bin];
  }
  if (++s.samples < options_.history) return;
  // Aging: halve every count, so that the histogram follows recent behaviour.
  int samples = 0;
  for (uint16_t& c : s.counts) {
    c /= 2;
    samples += c;
  }
  s.out_of_bounds /= 2;
  s.samples = static_cast<uint16_t>(samples + s.out_of_bounds);
}

KeepAliveDecision KeepAlivePolicy::Default(KeepAliveDecision::Basis basis) const {
  return KeepAliveDecision{
      .keep_alive = options_.default_keep_alive, .prewarm = std::nullopt, .basis = basis};
}

KeepAliveDecision KeepAlivePolicy::Decide(const std::string& key) const {
  using Basis = KeepAliveDecision::Basis;
  auto it = functions_.find(key);
  if (it == functions_.end()) return Default(Basis::kTooFewSamples);
  const State& s = it->second;
  if (s.samples < options_.min_samples) return Default(Basis::kTooFewSamples);
  if (s.out_of_bounds > options_.max_out_of_bounds_share * s.samples) {
    return Default(Basis::kOutOfBounds);
  }
  int in_range = s.samples - s.out_of_bounds;
  if (in_range < options_.min_samples) return Default(Basis::kTooFewSamples);
  if (CountsCv(s.counts, in_range) < options_.min_cv) return Default(Basis::kNotRepresentative);

  const Edges& e = BinEdges();
  int head_bin = PercentileBin(s.counts, in_range, kHeadPercentile);
  int tail_bin = PercentileBin(s.counts, in_range, kTailPercentile);
  // Bin 0 reaches down to zero; the tail is the upper edge of its bin.
  microseconds head = head_bin == 0 ? microseconds(0) : e[head_bin];
  microseconds tail = e[tail_bin + 1];
  auto prewarm_after = std::chrono::floor<milliseconds>(head * (100 - kMarginPercent) / 100);
  auto warm_until = std::chrono::ceil<milliseconds>(tail * (100 + kMarginPercent) / 100);

  KeepAliveDecision d{.keep_alive = {}, .prewarm = std::nullopt, .basis = Basis::kHistogram};
  if (prewarm_after >= options_.min_prewarm) {
    d.keep_alive = options_.min_keep_alive;
    d.prewarm = KeepAliveDecision::Prewarm{
        .after = prewarm_after,
        .keep_alive = std::clamp(warm_until - prewarm_after, options_.min_keep_alive,
                                 options_.max_keep_alive)};
  } else {
    d.keep_alive = std::clamp(warm_until, options_.min_keep_alive, options_.max_keep_alive);
  }
  return d;
}

void KeepAlivePolicy::Forget(const std::string& key) { functions_.erase(key); }

std::size_t KeepAlivePolicy::Sweep(TimePoint now) {
  return std::erase_if(functions_, [&](const auto& entry) {
    const State& s = entry.second;
    // Nothing in flight means an invocation has ended: idle_since is set.
    return s.in_flight == 0 && now - s.idle_since >= options_.forget_after;
  });
}

static_assert(KeepAlivePolicy::StateBytes() <= 240, "keep the per-function state small");

}  // namespace nimbus::invoke
