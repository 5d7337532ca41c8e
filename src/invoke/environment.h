// Environment: one execution environment of one function version: a sandbox,
// the Runtime API served to it, its log stream, and at most one invocation at a
// time. Implements the Runtime API's view of it (runtime_api::RuntimeEndpoint).
//
// Lifecycle (one transition function, SetState):
//
//   kStarting ──► kInitializing ──► kIdle ◄──► kBusy
//       │               │             │          │
//       └───────────────┴─────────────┴──────────┴──► kDead
//   (launch failure, init error, timeout, runtime exit, OOM, retire, shutdown)
//
// An invocation may be assigned in kStarting/kInitializing (a cold start: the
// event is delivered at the runtime's first /next) or in kIdle (warm: delivered
// at once if /next is parked, else when it arrives).
//
// Concurrency: confined to the reactor thread. Launch and Destroy run on the
// BlockingPool and post back; a token guards against callbacks after deletion.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "base/blocking_pool.h"
#include "base/clock.h"
#include "base/reactor.h"
#include "http/server.h"
#include "http/sigv4.h"
#include "invoke/invoker.h"
#include "invoke/log_sink.h"
#include "invoke/metrics.h"
#include "invoke/runtime_catalog.h"
#include "invoke/stem_cells.h"
#include "runtime_api/runtime_api.h"
#include "sandbox/sandbox.h"

namespace nimbus::invoke {

struct EnvironmentOptions {
  // Host directory with the runtime clients, mounted at /var/runtime.
  std::filesystem::path runtime_dir;
  // Lambda's on-demand init limit; a runtime that has not asked for its first
  // event within init_timeout + the function timeout is killed.
  std::chrono::seconds init_timeout{10};
  control::Region region;
  // The AWS API endpoint inside every sandbox, 127.0.0.1:api_port
  // (SandboxSpec::api_port), served with `api_handler` on the reactor; functions
  // find it in AWS_ENDPOINT_URL, which the SDKs use. 0 or no handler: none.
  uint16_t api_port = 0;
  http::Handler api_handler;
  // AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN of every
  // function: the server's verifiable session credentials
  // (auth::Authenticator::function_credentials).
  http::AwsCredentials credentials{"nimbus", "nimbus", "nimbus"};
};

class Environment;

// The owner (a function's pool) hears about availability and death.
class EnvironmentObserver {
 public:
  virtual ~EnvironmentObserver() = default;
  // The environment finished an invocation or its init and can take another.
  virtual void OnEnvironmentAvailable(Environment* env) = 0;
  // The environment is dead; the observer should release it (not from inside
  // this call: post the deletion).
  virtual void OnEnvironmentDead(Environment* env) = 0;
};

class Environment final : public runtime_api::RuntimeEndpoint {
 public:
  enum class State { kStarting, kInitializing, kIdle, kBusy, kDead };

  struct Deps {
    Reactor& reactor;
    BlockingPool& blocking;
    const Clock& clock;
    sandbox::SandboxFactory& sandboxes;
    LogSink& logs;
    // Pre-started environments to specialize instead of launching; may be null.
    StemCells* stem_cells = nullptr;
    // The owner's counters (cold starts, init durations); may be null.
    InvokerMetrics* metrics = nullptr;
  };

  // `provisioned`: started ahead of demand for provisioned concurrency
  // (AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency, never reaped idle).
  Environment(Deps deps, const EnvironmentOptions& options, control::FunctionSnapshot function,
              EnvironmentObserver& observer, bool provisioned = false);
  ~Environment() override;
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;

  // Launches the sandbox running `launch`. REQUIRES: state kStarting, called once.
  void Start(RuntimeLaunch launch);
  // Hands an invocation to this environment.
  // REQUIRES: can_accept().
  void Assign(InvokeRequest request, InvokeCallback done);
  // True when no invocation is assigned and the environment is not dead.
  bool can_accept() const { return state_ != State::kDead && !current_; }
  // Kills the environment once it has no invocation (now, if it has none).
  void Retire();
  // Kills at once; an invocation in flight fails with a platform error.
  void Kill(const std::string& why);

  State state() const { return state_; }
  const std::string& id() const { return id_; }
  const control::FunctionSnapshot& function() const { return function_; }
  const std::string& log_stream() const { return log_stream_; }
  bool retired() const { return retired_; }
  bool provisioned() const { return provisioned_; }

  // runtime_api::RuntimeEndpoint
  void OnNext(NextCallback deliver) override;
  Status OnResponse(const std::string& request_id, std::string body,
                    std::string content_type) override;
  Status OnError(const std::string& request_id, std::string error_type, std::string body) override;
  Status OnInitError(std::string error_type, std::string body) override;
  void OnResponseTooLarge(const std::string& request_id, uint64_t size) override;

 private:
  struct Invocation {
    InvokeRequest request;
    InvokeCallback done;
    bool delivered = false;
    std::chrono::steady_clock::time_point started;  // delivery to the runtime
    // Set for a cold start: when it was assigned to this (new) environment.
    std::optional<std::chrono::steady_clock::time_point> cold_since;
    std::string tail;                                // log text of this invocation
  };

  void OnLaunched(Result<std::unique_ptr<sandbox::Sandbox>> sandbox);
  void Deliver();
  void OnOutputReadable();
  void DrainOutput();
  void EmitLine(std::string line);
  void OnExitReadable();
  void OnTimeout();
  void OnInitTimeout();
  // Fails the init phase (INIT_REPORT), the assigned invocation if any, and dies.
  void FailInit(const std::string& error_type, std::string payload, bool die_now);
  // Ends the current invocation with `payload` (a response or an error document),
  // writing END and REPORT. `duration_ms` overrides the measured duration
  // (timeouts report exactly the configured timeout).
  void Complete(std::string payload, std::string content_type,
                std::optional<std::string> function_error, const std::string& status,
                const std::string& error_type, std::optional<double> duration_ms);
  // Writes a function log event (and appends it to the invocation's tail),
  // after a pending START.
  void Log(std::string message);
  void Append(int64_t timestamp_ms, std::string message);
  void FlushStart();
  // LoggingConfig.LogFormat JSON: platform lines are JSON records.
  bool JsonLogs() const;
  // The sandbox's API endpoint port, or 0 when none is served.
  uint16_t ApiPort() const { return options_.api_handler ? options_.api_port : 0; }
  void LogStart(const std::string& request_id);
  void Die();
  void SetState(State next);

  Deps deps_;
  const EnvironmentOptions& options_;
  control::FunctionSnapshot function_;
  EnvironmentObserver& observer_;
  std::string id_;
  const bool provisioned_;
  std::string log_stream_;
  const std::string log_group_;
  State state_ = State::kStarting;
  bool retired_ = false;
  bool dying_ = false;
  // Set when the runtime reported an init error: (type, body).
  std::optional<std::pair<std::string, std::string>> init_error_;

  // Shared with blocking-pool tasks (CPU limit, teardown) that may outlive us.
  std::shared_ptr<sandbox::Sandbox> sandbox_;
  std::unique_ptr<http::Listener> runtime_api_;
  std::unique_ptr<http::Listener> api_endpoint_;  // EnvironmentOptions::api_port
  UniqueFd output_;
  std::unique_ptr<Reactor::Watch> output_watch_;
  std::unique_ptr<Reactor::Watch> exit_watch_;
  std::string partial_line_;  // output not yet ended by a newline
  // The current invocation's START line and its time, until the next line.
  std::optional<std::pair<int64_t, std::string>> pending_start_;

  NextCallback parked_next_;
  std::unique_ptr<Invocation> current_;
  std::unique_ptr<Reactor::Timer> deadline_timer_;
  std::unique_ptr<Reactor::Timer> init_timer_;
  std::unique_ptr<Reactor::Timer> exit_grace_timer_;

  std::chrono::steady_clock::time_point launched_at_;  // runtime process started
  std::optional<double> pending_init_ms_;  // reported in the first REPORT
  bool initialized_ = false;
  bool from_stem_cell_ = false;  // Start() took a pre-started cell
  bool forked_cell_ = false;     // Start() forked a new cell from a zygote

  // Expires with this object; callbacks from other threads check it.
  std::shared_ptr<Environment*> token_;
};

std::string_view StateName(Environment::State s);

// The whole environment ("KEY=VALUE", sorted) of a runtime process of function
// `c`: base variables, the function's own, `extra` (the runtime's, from the
// catalog), and the reserved AWS_* / LAMBDA_* ones, which win.
// `api_port` (EnvironmentOptions::api_port) sets AWS_ENDPOINT_URL unless the
// function sets it; `credentials` are its AWS_ACCESS_KEY_ID, ... .
std::vector<std::string> FunctionEnvironment(
    const control::FunctionConfig& c, const std::string& log_stream, bool provisioned,
    const control::Region& region, const std::vector<std::pair<std::string, std::string>>& extra,
    const http::AwsCredentials& credentials, uint16_t api_port = 0);

}  // namespace nimbus::invoke
