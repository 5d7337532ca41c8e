// LocalInvoker: the Invoker that runs functions in execution environments on
// this machine. Adds shutdown and introspection to the Invoker contract.
// Confined to the reactor thread like Invoker.
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include "base/blocking_pool.h"
#include "base/clock.h"
#include "base/reactor.h"
#include "invoke/environment.h"
#include "invoke/invoker.h"
#include "invoke/keep_alive_policy.h"
#include "invoke/log_sink.h"
#include "invoke/metrics.h"
#include "sandbox/sandbox.h"

namespace nimbus::invoke {

struct InvokerOptions {
  EnvironmentOptions environment;
  // How long an idle environment stays warm before it is reaped while its
  // function's traffic is not yet predictable; once it is, KeepAlivePolicy
  // decides per function (at least a minute, or this if shorter) and pre-warms
  // before predicted invocations after long gaps.
  std::chrono::seconds keep_alive{300};
  // Overrides the policy's options derived from keep_alive (tests).
  std::optional<KeepAliveOptions> keep_alive_policy;
  // Account concurrency: environments with an invocation in flight or starting.
  // Beyond it, invocations are throttled (TooManyRequestsException).
  int max_concurrency = 1000;
  // Stem cells (pre-started Python and Node environments, ADR 0006) kept ready
  // per runtime; 0 disables them. Used only where the sandbox factory supports
  // them (root).
  int stem_cells_per_runtime = 2;
  // Told of every invocation (metrics); may be null. Must outlive the invoker.
  InvocationObserver* observer = nullptr;
};

struct InvokerStats {
  int environments = 0;  // alive, any state
  int idle = 0;
  int busy = 0;          // with an invocation assigned (including cold starts)
  StemCellStats stem_cells;
  uint64_t zygote_forks = 0;  // sandbox::SandboxFactory::zygote_forks()
  InvokerMetrics metrics;
};

class LocalInvoker : public Invoker {
 public:
  // Stops taking invocations, lets in-flight ones finish for up to `grace`, then
  // kills every environment; `done` runs (on the reactor) once all are dead and
  // their destruction has been queued on the BlockingPool.
  virtual void Shutdown(std::chrono::milliseconds grace, std::function<void()> done) = 0;
  virtual InvokerStats stats() const = 0;
};

struct InvokerDeps {
  Reactor& reactor;
  BlockingPool& blocking;
  const Clock& clock;
  sandbox::SandboxFactory& sandboxes;
  LogSink& logs;
};

std::unique_ptr<LocalInvoker> NewLocalInvoker(InvokerDeps deps, InvokerOptions options);

}  // namespace nimbus::invoke
