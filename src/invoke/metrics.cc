#include "invoke/metrics.h"

#include <fmt/format.h>

#include "invoke/local_invoker.h"

namespace nimbus::invoke {

void DurationHistogram::Observe(double seconds) {
  ++count_;
  sum_ += seconds;
  for (size_t i = 0; i < kBounds.size(); ++i) {
    if (seconds <= kBounds[i]) ++buckets_[i];
  }
}

namespace {

void Counter(std::string& out, const char* name, const char* help, uint64_t value) {
  out += fmt::format("# HELP {0} {1}\n# TYPE {0} counter\n{0} {2}\n", name, help, value);
}

void Gauge(std::string& out, const char* name, const char* help, int64_t value) {
  out += fmt::format("# HELP {0} {1}\n# TYPE {0} gauge\n{0} {2}\n", name, help, value);
}

void Histogram(std::string& out, const char* name, const char* help, const DurationHistogram& h) {
  out += fmt::format("# HELP {0} {1}\n# TYPE {0} histogram\n", name, help);
  for (size_t i = 0; i < DurationHistogram::kBounds.size(); ++i) {
    out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, DurationHistogram::kBounds[i], h.bucket(i));
  }
  out += fmt::format("{0}_bucket{{le=\"+Inf\"}} {1}\n{0}_sum {2}\n{0}_count {1}\n", name, h.count(),
                     h.sum());
}

}  // namespace

std::string RenderPrometheus(const InvokerStats& s) {
  std::string out;
  const InvokerMetrics& m = s.metrics;
  Counter(out, "nimbus_cold_starts_total", "Invocations that waited for a new execution environment.",
          m.cold_starts);
  Counter(out, "nimbus_cold_starts_stem_cell_total",
          "Cold starts served by specializing a pre-started stem cell.", m.cold_starts_from_stem_cells);
  Counter(out, "nimbus_cold_starts_forked_total",
          "Cold starts that found no stem cell ready and forked one from a zygote.",
          m.cold_starts_forked);
  Histogram(out, "nimbus_cold_start_duration_seconds",
            "From assignment to a new environment until the runtime received the event.",
            m.cold_start_seconds);
  Histogram(out, "nimbus_init_duration_seconds", "Function init phase (Init Duration).",
            m.init_seconds);
  out += "# HELP nimbus_throttles_total Invocations refused for concurrency (TooManyRequestsException).\n"
         "# TYPE nimbus_throttles_total counter\n";
  out += fmt::format("nimbus_throttles_total{{limit=\"reserved\"}} {}\n", m.throttles_reserved);
  out += fmt::format("nimbus_throttles_total{{limit=\"account\"}} {}\n", m.throttles_account);
  Counter(out, "nimbus_prewarms_total",
          "Environments started ahead of a function's predicted next invocation.", m.prewarms);
  out += "# HELP nimbus_environments Execution environments by state.\n"
         "# TYPE nimbus_environments gauge\n";
  out += fmt::format("nimbus_environments{{state=\"idle\"}} {}\n", s.idle);
  out += fmt::format("nimbus_environments{{state=\"other\"}} {}\n", s.environments - s.idle);
  Gauge(out, "nimbus_invocations_in_flight", "Invocations running or waiting for an environment.",
        s.busy);
  Gauge(out, "nimbus_stem_cells_ready",
        "Pre-started stem cells whose runtime has loaded, waiting for a function.",
        s.stem_cells.ready);
  Gauge(out, "nimbus_stem_cells_launching", "Stem cells being started (sandbox or runtime).",
        s.stem_cells.launching + s.stem_cells.starting);
  Gauge(out, "nimbus_stem_cells_target",
        "Stem cells wanted (the configured count, raised by recent bursts).", s.stem_cells.target);
  Counter(out, "nimbus_stem_cells_missed_total",
          "Cold starts of a stem-cell runtime that found no cell ready.", s.stem_cells.missed);
  Counter(out, "nimbus_zygote_forks_total",
          "Sandboxes forked from a zygote (stem cells and the cold starts that forked one).",
          s.zygote_forks);
  return out;
}

}  // namespace nimbus::invoke
