#include "invoke/environment.h"

#include <fcntl.h>
#include <unistd.h>

#include <cmath>
#include <ctime>

#include "base/encoding.h"
#include "http/trace_header.h"
#include "base/log.h"
#include "invoke/report.h"

namespace nimbus::invoke {

namespace {

// Lambda's X-Amz-Log-Result carries the last 4 KB of the invocation's log.
constexpr size_t kTailBytes = 4096;
// CloudWatch's maximum event size; longer unterminated output is split.
constexpr size_t kMaxLogEventBytes = 256 * 1024;

double MillisBetween(std::chrono::steady_clock::time_point a,
                     std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

std::string LogStreamName(std::chrono::system_clock::time_point now, const std::string& version,
                          const std::string& id) {
  std::time_t secs = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}/{:02}/{:02}/[{}]{}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     version, id);
}

// CloudWatch log group of the function's logs: its LoggingConfig, else Lambda's default.
std::string LogGroupOf(const control::FunctionConfig& c) {
  return c.log_group.empty() ? "/aws/lambda/" + c.name : c.log_group;
}

uint64_t CeilMiB(uint64_t bytes) { return (bytes + (1 << 20) - 1) >> 20; }

}  // namespace

std::string_view StateName(Environment::State s) {
  switch (s) {
    case Environment::State::kStarting: return "Starting";
    case Environment::State::kInitializing: return "Initializing";
    case Environment::State::kIdle: return "Idle";
    case Environment::State::kBusy: return "Busy";
    case Environment::State::kDead: return "Dead";
  }
  return "?";
}

Environment::Environment(Deps deps, const EnvironmentOptions& options,
                         control::FunctionSnapshot function, EnvironmentObserver& observer,
                         bool provisioned)
    : deps_(deps),
      options_(options),
      function_(std::move(function)),
      observer_(observer),
      id_(RandomHex32()),
      provisioned_(provisioned),
      log_group_(LogGroupOf(function_->config)),
      token_(std::make_shared<Environment*>(this)) {
  log_stream_ = LogStreamName(deps_.clock.Now(), function_->config.version, id_);
}

Environment::~Environment() {
  // Normally dead already; make sure nothing outlives us.
  if (state_ != State::kDead) Die();
}

void Environment::SetState(State next) {
  log::Debug("environment {} ({}): {} -> {}", id_, function_->config.name, StateName(state_),
             StateName(next));
  state_ = next;
}

std::vector<std::string> FunctionEnvironment(const control::FunctionConfig& c,
                                             const std::string& log_stream, bool provisioned,
                                             const control::Region& region,
                                             const std::vector<std::pair<std::string, std::string>>& extra,
                                             const http::AwsCredentials& credentials,
                                             uint16_t api_port) {
  // Customer variables first, so that the reserved ones below win (the control
  // plane already rejects reserved keys; this is defence in depth).
  std::map<std::string, std::string> env = {
      {"PATH", "/usr/local/bin:/usr/bin/:/bin:/opt/bin"},
      {"LANG", "en_US.UTF-8"},
      {"LD_LIBRARY_PATH", "/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib"},
      {"AWS_XRAY_DAEMON_ADDRESS", "169.254.79.129:2000"},
  };
  // Path-style addressing follows from the IP address (bucket.127.0.0.1 is no name).
  if (api_port != 0) env["AWS_ENDPOINT_URL"] = fmt::format("http://127.0.0.1:{}", api_port);
  for (const auto& [k, v] : c.environment) env[k] = v;
  for (const auto& [k, v] : extra) env[k] = v;
  const std::string log_group = LogGroupOf(c);
  std::map<std::string, std::string> reserved = {
      {"AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"},
      {"_HANDLER", c.handler},
      {"LAMBDA_TASK_ROOT", "/var/task"},
      {"LAMBDA_RUNTIME_DIR", "/var/runtime"},
      {"AWS_LAMBDA_FUNCTION_NAME", c.name},
      {"AWS_LAMBDA_FUNCTION_VERSION", c.version},
      {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE", std::to_string(c.memory_mb)},
      {"AWS_LAMBDA_LOG_GROUP_NAME", log_group},
      {"AWS_LAMBDA_LOG_STREAM_NAME", log_stream},
      {"AWS_LAMBDA_INITIALIZATION_TYPE", provisioned ? "provisioned-concurrency" : "on-demand"},
      {"AWS_REGION", region.name},
      {"AWS_DEFAULT_REGION", region.name},
      // Credentials the server verifies; also, SDKs inside the sandbox never
      // probe a metadata service for others.
      {"AWS_ACCESS_KEY_ID", credentials.access_key_id},
      {"AWS_SECRET_ACCESS_KEY", credentials.secret_access_key},
      {"AWS_SESSION_TOKEN", credentials.session_token},
      {"TZ", ":UTC"},
      {"AWS_XRAY_CONTEXT_MISSING", "LOG_ERROR"},
      {"_AWS_XRAY_DAEMON_ADDRESS", "169.254.79.129"},
      {"_AWS_XRAY_DAEMON_PORT", "2000"},
  };
  if (c.log_format == "JSON") {
    reserved["AWS_LAMBDA_LOG_FORMAT"] = "JSON";
    if (!c.application_log_level.empty()) reserved["AWS_LAMBDA_LOG_LEVEL"] = c.application_log_level;
  }
  for (auto& [k, v] : reserved) env[k] = std::move(v);
  std::vector<std::string> out;
  out.reserve(env.size());
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

void Environment::Start(RuntimeLaunch launch) {
  NIMBUS_CHECK(state_ == State::kStarting);
  const control::FunctionConfig& c = function_->config;
  sandbox::SandboxSpec spec;
  spec.id = id_;
  spec.code_dir = function_->code_dir;
  spec.layer_dirs = function_->layer_dirs;  // stacked at /opt, later layers on top
  spec.runtime_dir = options_.runtime_dir;
  spec.argv = std::move(launch.argv);
  spec.env = FunctionEnvironment(c, log_stream_, provisioned_, options_.region, launch.env,
                                 options_.credentials, ApiPort());
  spec.api_port = ApiPort();
  spec.memory_mb = static_cast<uint64_t>(c.memory_mb);
  spec.ephemeral_storage_mb = static_cast<uint64_t>(c.ephemeral_storage_mb);
  // Init bursts; the memory-proportional CPU quota applies from the first event.
  spec.unthrottled_init = true;
  // A pre-started stem cell of this runtime, when one is ready and the function's
  // start-up environment matches it, saves starting a sandbox and an interpreter.
  std::unique_ptr<sandbox::Sandbox> cell;
  // Else, for a runtime whose cells a zygote forks, a new cell forked for this start.
  std::optional<sandbox::SandboxSpec> fork;
  if (deps_.stem_cells != nullptr) cell = deps_.stem_cells->Take(spec.argv, spec.env, &fork);
  from_stem_cell_ = cell != nullptr;
  forked_cell_ = fork.has_value();
  if (fork) fork->id = id_;
  if (cell) {
    // The environment takes the cell's id, so that its log stream names the
    // cgroup its processes are in, as for a launched sandbox. Nothing has used
    // the old one yet.
    id_ = cell->id();
    log_stream_ = LogStreamName(deps_.clock.Now(), c.version, id_);
    spec.id = id_;
    spec.env = FunctionEnvironment(c, log_stream_, provisioned_, options_.region, launch.env,
                                   options_.credentials, ApiPort());
  }
  std::weak_ptr<Environment*> token = token_;
  Reactor& reactor = deps_.reactor;
  BlockingPool& blocking = deps_.blocking;
  sandbox::SandboxFactory& factory = deps_.sandboxes;
  std::string id = id_;
  // Runs on a blocking thread: clone, mounts and cgroup writes take milliseconds.
  // std::function needs a copyable callable: the cell travels in a shared holder.
  auto held = std::make_shared<std::unique_ptr<sandbox::Sandbox>>(std::move(cell));
  blocking.Submit([spec = std::move(spec), held, fork = std::move(fork), id, token, &reactor,
                   &blocking, &factory] {
    using LaunchResult = Result<std::unique_ptr<sandbox::Sandbox>>;
    std::shared_ptr<LaunchResult> result;
    std::unique_ptr<sandbox::Sandbox> cell = std::move(*held);
    if (!cell && fork) {
      auto forked = factory.Launch(*fork);
      if (forked.has_value()) {
        cell = std::move(forked.value());
      } else {
        log::Warn("environment {}: fork a stem cell: {}; starting a new sandbox", id,
                  forked.error().ToString());
      }
    }
    if (cell) {
      Status st = cell->Specialize(StemCellSpecialization(spec));
      if (st.ok()) {
        result = std::make_shared<LaunchResult>(std::move(cell));
      } else {
        log::Warn("environment {}: stem cell: {}; starting a new sandbox", id, st.ToString());
        (void)cell->Destroy();
      }
    }
    if (!result) result = std::make_shared<LaunchResult>(factory.Launch(spec));
    reactor.Post([token, result, &blocking] {
      if (auto self = token.lock()) {
        (*self)->OnLaunched(std::move(*result));
        return;
      }
      // The environment went away while launching: tear the sandbox down.
      if (result->has_value()) {
        std::shared_ptr<sandbox::Sandbox> sb = std::move(result->value());
        blocking.Submit([sb] { (void)sb->Destroy(); });
      }
    });
  });
}

void Environment::OnLaunched(Result<std::unique_ptr<sandbox::Sandbox>> sandbox) {
  if (state_ == State::kDead) {
    if (sandbox.has_value()) {
      std::shared_ptr<sandbox::Sandbox> sb = std::move(sandbox.value());
      deps_.blocking.Submit([sb] { (void)sb->Destroy(); });
    }
    return;
  }
  if (!sandbox.has_value()) {
    log::Error("environment {} ({}): sandbox launch failed: {}", id_, function_->config.name,
               sandbox.error().ToString());
    if (current_) {
      auto inv = std::move(current_);
      inv->done(sandbox.error().WithContext("start execution environment"));
    }
    Die();
    return;
  }
  sandbox_ = std::move(sandbox.value());
  launched_at_ = deps_.clock.MonotonicNow();
  output_ = sandbox_->TakeOutput();
  output_watch_ = deps_.reactor.WatchReadable(output_.get(), [this] { OnOutputReadable(); });
  exit_watch_ = deps_.reactor.WatchReadable(sandbox_->exit_fd(), [this] { OnExitReadable(); });
  auto listener = runtime_api::Serve(deps_.reactor, sandbox_->TakeRuntimeApiListener(), *this);
  if (!listener.has_value()) {
    log::Error("environment {}: serve runtime api: {}", id_, listener.error().ToString());
    if (current_) {
      auto inv = std::move(current_);
      inv->done(listener.error().WithContext("serve runtime api"));
    }
    Die();
    return;
  }
  runtime_api_ = std::move(*listener);
  if (UniqueFd api = sandbox_->TakeApiListener(); api && options_.api_handler) {
    auto endpoint = http::Serve(deps_.reactor, std::move(api), options_.api_handler);
    if (endpoint.has_value()) {
      api_endpoint_ = std::move(*endpoint);
    } else {
      // The function runs; its SDK calls will fail to connect and say so.
      log::Error("environment {}: serve the api endpoint: {}", id_, endpoint.error().ToString());
    }
  }
  SetState(State::kInitializing);
  if (JsonLogs()) {
    Log(JsonInitStart(deps_.clock.Now(), function_->config.runtime,
                      provisioned_ ? "provisioned-concurrency" : "on-demand"));
  } else {
    Log(fmt::format("INIT_START Runtime Version: nimbus:{}", function_->config.runtime));
  }
  init_timer_ = deps_.reactor.RunAfter(
      options_.init_timeout + std::chrono::seconds(function_->config.timeout_seconds),
      [this] { OnInitTimeout(); });
}

void Environment::Assign(InvokeRequest request, InvokeCallback done) {
  NIMBUS_CHECK(can_accept()) << "environment " << id_ << " cannot accept in state "
                             << StateName(state_);
  current_ = std::make_unique<Invocation>();
  current_->request = std::move(request);
  current_->done = std::move(done);
  if (state_ == State::kStarting || state_ == State::kInitializing) {
    current_->cold_since = deps_.clock.MonotonicNow();
    if (deps_.metrics) ++deps_.metrics->cold_starts;
  }
  if (state_ == State::kIdle) {
    SetState(State::kBusy);
    if (parked_next_) Deliver();
  }
}

void Environment::OnNext(NextCallback deliver) {
  if (state_ == State::kDead || dying_) {
    deliver(Status(Code::kUnavailable, "execution environment is shutting down"));
    return;
  }
  if (parked_next_) {
    // A second concurrent /next: only one invocation at a time per environment.
    deliver(Conflict("another /next is already waiting"));
    return;
  }
  parked_next_ = std::move(deliver);
  if (state_ == State::kInitializing) {
    initialized_ = true;
    init_timer_.reset();
    // A cold start's REPORT carries Init Duration (and bills it); an environment
    // initialised ahead of demand (provisioned) reports none.
    double init_ms = MillisBetween(launched_at_, deps_.clock.MonotonicNow());
    if (current_) pending_init_ms_ = init_ms;
    if (deps_.metrics) deps_.metrics->init_seconds.Observe(init_ms / 1000);
    deps_.blocking.Submit([sb = sandbox_] {
      Status s = sb->ApplyCpuLimit();
      if (!s.ok()) log::Warn("apply cpu limit: {}", s.ToString());
    });
    if (current_) {
      SetState(State::kBusy);
    } else {
      SetState(State::kIdle);
      if (retired_) {
        Die();
        return;
      }
      observer_.OnEnvironmentAvailable(this);
      return;
    }
  }
  if (current_ && !current_->delivered) Deliver();
}

void Environment::Deliver() {
  NIMBUS_CHECK(parked_next_ && current_ && !current_->delivered);
  DrainOutput();  // init output belongs before START
  Invocation& inv = *current_;
  inv.delivered = true;
  inv.started = deps_.clock.MonotonicNow();
  if (inv.cold_since && deps_.metrics) {
    deps_.metrics->cold_start_seconds.Observe(
        std::chrono::duration<double>(inv.started - *inv.cold_since).count());
    if (from_stem_cell_) ++deps_.metrics->cold_starts_from_stem_cells;
    if (forked_cell_) ++deps_.metrics->cold_starts_forked;
  }
  const control::FunctionConfig& c = function_->config;
  runtime_api::NextEvent e;
  e.request_id = inv.request.request_id;
  e.deadline_ms = ToUnixMillis(deps_.clock.Now()) + int64_t{c.timeout_seconds} * 1000;
  e.invoked_function_arn = inv.request.invoked_function_arn;
  if (inv.request.trace_id.empty()) inv.request.trace_id = http::NewTraceHeader(deps_.clock.Now());
  e.trace_id = inv.request.trace_id;
  e.client_context = inv.request.client_context;
  e.content_type = inv.request.content_type;
  e.payload = std::move(inv.request.payload);  // not needed after delivery
  LogStart(inv.request.request_id);
  deadline_timer_ =
      deps_.reactor.RunAfter(std::chrono::seconds(c.timeout_seconds), [this] { OnTimeout(); });
  auto cb = std::move(parked_next_);
  parked_next_ = nullptr;
  cb(std::move(e));
}

Status Environment::OnResponse(const std::string& request_id, std::string body,
                               std::string content_type) {
  if (!current_ || !current_->delivered || current_->request.request_id != request_id) {
    return NotFound("unknown request id " + request_id);
  }
  Complete(std::move(body), std::move(content_type), std::nullopt, "", "", std::nullopt);
  return Status::Ok();
}

Status Environment::OnError(const std::string& request_id, std::string error_type,
                            std::string body) {
  if (!current_ || !current_->delivered || current_->request.request_id != request_id) {
    return NotFound("unknown request id " + request_id);
  }
  // Lambda uses the error-type header when the body is missing.
  if (body.empty()) body = ErrorDocument(error_type.empty() ? "Unhandled" : error_type, "");
  Complete(std::move(body), "application/json", "Unhandled", "", "", std::nullopt);
  return Status::Ok();
}

Status Environment::OnInitError(std::string error_type, std::string body) {
  if (initialized_) return Conflict("init already completed");
  if (body.empty()) body = ErrorDocument(error_type.empty() ? "Runtime.Unknown" : error_type, "");
  if (error_type.empty()) error_type = "Runtime.Unknown";
  // The runtime exits after reporting; until it does, keep serving it so it gets
  // its 202. If it lingers, kill it.
  FailInit(error_type, std::move(body), /*die_now=*/false);
  exit_grace_timer_ = deps_.reactor.RunAfter(std::chrono::milliseconds(500), [this] { Die(); });
  return Status::Ok();
}

void Environment::OnResponseTooLarge(const std::string& request_id, uint64_t size) {
  if (!current_ || !current_->delivered || current_->request.request_id != request_id) return;
  Complete(ErrorDocument("Function.ResponseSizeTooLarge",
                         fmt::format("Response payload size ({} bytes) exceeded maximum allowed "
                                     "payload size ({} bytes).",
                                     size, runtime_api::kMaxResponseBytes)),
           "application/json", "Unhandled", "error", "Function.ResponseSizeTooLarge", std::nullopt);
}

void Environment::FailInit(const std::string& error_type, std::string payload, bool die_now) {
  DrainOutput();
  double init_ms = MillisBetween(launched_at_, deps_.clock.MonotonicNow());
  Log(JsonLogs() ? JsonInitReport(deps_.clock.Now(), init_ms, "init", "error", error_type)
                 : InitReportLine(init_ms, "init", "error", error_type));
  dying_ = true;
  if (current_) {
    current_->delivered = true;
    current_->started = deps_.clock.MonotonicNow();
    LogStart(current_->request.request_id);
    Complete(std::move(payload), "application/json", "Unhandled", "error", error_type, 0.0);
  }
  if (die_now) Die();
}

void Environment::OnOutputReadable() {
  char buf[64 * 1024];
  for (;;) {
    ssize_t n = ::read(output_.get(), buf, sizeof buf);
    if (n > 0) {
      partial_line_.append(buf, static_cast<size_t>(n));
      size_t start = 0;
      for (;;) {
        size_t nl = partial_line_.find('\n', start);
        if (nl == std::string::npos) break;
        EmitLine(partial_line_.substr(start, nl - start));
        start = nl + 1;
      }
      partial_line_.erase(0, start);
      if (partial_line_.size() > kMaxLogEventBytes) {
        EmitLine(std::move(partial_line_));
        partial_line_.clear();
      }
      continue;
    }
    if (n == 0) {
      // Every writer closed the pipe (the runtime exited): stop watching.
      output_watch_.reset();
      return;
    }
    if (errno == EINTR) continue;
    return;  // EAGAIN: drained
  }
}

void Environment::DrainOutput() {
  if (output_.valid()) OnOutputReadable();
  if (!partial_line_.empty()) {
    EmitLine(std::move(partial_line_));
    partial_line_.clear();
  }
}

void Environment::EmitLine(std::string line) {
  if (!line.empty() && line.back() == '\r') line.pop_back();
  Log(std::move(line));
}

void Environment::Log(std::string message) {
  FlushStart();
  Append(ToUnixMillis(deps_.clock.Now()), std::move(message));
}

void Environment::FlushStart() {
  if (!pending_start_) return;
  auto [ms, line] = std::move(*pending_start_);
  pending_start_.reset();
  Append(ms, std::move(line));
}

void Environment::Append(int64_t timestamp_ms, std::string message) {
  if (current_ && current_->delivered && current_->request.tail_log) {
    std::string& tail = current_->tail;
    tail += message;
    tail += '\n';
    if (tail.size() > 4 * kTailBytes) tail.erase(0, tail.size() - kTailBytes);
  }
  deps_.logs.Append(log_group_, log_stream_, timestamp_ms, std::move(message));
}

bool Environment::JsonLogs() const { return function_->config.log_format == "JSON"; }

void Environment::LogStart(const std::string& request_id) {
  // Written with the invocation's next line (its output, or END): one wake-up of
  // the log writer per quiet invocation instead of two. Nothing is logged for the
  // invocation before it, so the order and START's own time are kept.
  FlushStart();
  auto now = deps_.clock.Now();
  pending_start_.emplace(ToUnixMillis(now),
                         JsonLogs() ? JsonStart(now, request_id, function_->config.version)
                                    : StartLine(request_id, function_->config.version));
}

void Environment::OnExitReadable() {
  if (!sandbox_) return;
  auto exit = sandbox_->ReadExit();
  if (!exit) return;
  exit_watch_.reset();
  DrainOutput();
  if (dying_) {
    // Already accounted for (an init error was reported before the exit).
    Die();
    return;
  }
  sandbox::ResourceUsage usage = sandbox_->ReadUsage();
  std::string error_type = usage.oom_killed ? "Runtime.OutOfMemory" : "Runtime.ExitError";
  std::string detail = "Runtime exited with error: " + exit->Describe();
  log::Info("environment {} ({}): runtime exited: {}{}", id_, function_->config.name,
            exit->Describe(), usage.oom_killed ? " (out of memory)" : "");
  if (!initialized_) {
    std::string message = current_ ? fmt::format("RequestId: {} Error: {}",
                                                  current_->request.request_id, detail)
                                    : detail;
    FailInit(error_type, ErrorDocument(error_type, message), /*die_now=*/true);
    return;
  }
  dying_ = true;
  if (current_) {
    const std::string& id = current_->request.request_id;
    std::string message = fmt::format("RequestId: {} Error: {}", id, detail);
    if (!current_->delivered) {
      current_->delivered = true;
      current_->started = deps_.clock.MonotonicNow();
      LogStart(id);
    }
    Log(message);
    Log(error_type);
    Complete(ErrorDocument(error_type, message), "application/json", "Unhandled", "error",
             error_type, std::nullopt);
  }
  Die();
}

void Environment::OnTimeout() {
  if (!current_ || !current_->delivered) return;
  DrainOutput();
  const double seconds = function_->config.timeout_seconds;
  const std::string id = current_->request.request_id;
  Log(TimeoutLogLine(deps_.clock.Now(), id, seconds));
  dying_ = true;
  if (sandbox_) sandbox_->Kill();
  Complete(ErrorDocument("Sandbox.Timedout",
                         fmt::format("RequestId: {} Error: Task timed out after {:.2f} seconds", id,
                                     seconds)),
           "application/json", "Unhandled", "timeout", "", seconds * 1000.0);
  Die();
}

void Environment::OnInitTimeout() {
  if (initialized_) return;
  const double seconds = function_->config.timeout_seconds;
  std::string id = current_ ? current_->request.request_id : "";
  Log(TimeoutLogLine(deps_.clock.Now(), id, seconds));
  if (sandbox_) sandbox_->Kill();
  FailInit("Sandbox.Timedout",
           ErrorDocument("Sandbox.Timedout",
                         fmt::format("RequestId: {} Error: Task timed out after {:.2f} seconds", id,
                                     seconds)),
           /*die_now=*/true);
}

void Environment::Complete(std::string payload, std::string content_type,
                           std::optional<std::string> function_error, const std::string& status,
                           const std::string& error_type, std::optional<double> duration_ms) {
  NIMBUS_CHECK(current_ && current_->delivered);
  deadline_timer_.reset();
  DrainOutput();
  const control::FunctionConfig& c = function_->config;
  ReportFields f;
  f.request_id = current_->request.request_id;
  f.duration_ms = duration_ms.value_or(MillisBetween(current_->started, deps_.clock.MonotonicNow()));
  f.init_ms = std::exchange(pending_init_ms_, std::nullopt);
  f.memory_size_mb = c.memory_mb;
  // Reads two small cgroup files: in-memory pseudo-files, cheap enough for the reactor.
  if (sandbox_) f.max_memory_used_mb = CeilMiB(sandbox_->ReadUsage().max_memory_bytes);
  f.status = status;
  f.error_type = error_type;
  if (JsonLogs()) {
    Log(JsonRuntimeDone(deps_.clock.Now(), f));
    Log(JsonReport(deps_.clock.Now(), f));
  } else {
    Log(EndLine(f.request_id));
    Log(ReportLine(f));
  }

  auto inv = std::move(current_);
  InvokeOutcome outcome;
  outcome.request_id = f.request_id;
  outcome.executed_version = c.version;
  outcome.payload = std::move(payload);
  outcome.content_type = std::move(content_type);
  outcome.function_error = std::move(function_error);
  outcome.report = InvocationReport{f.duration_ms, BilledMillis(f), f.memory_size_mb, f.max_memory_used_mb, f.init_ms,
                                    f.status, inv->request.trace_id};
  if (inv->request.tail_log) {
    std::string& t = inv->tail;
    outcome.log_tail = t.size() > kTailBytes ? t.substr(t.size() - kTailBytes) : std::move(t);
  }
  if (state_ == State::kBusy && !dying_) SetState(State::kIdle);
  inv->done(std::move(outcome));
  if (dying_ || state_ == State::kDead) return;
  if (retired_) {
    Die();
    return;
  }
  observer_.OnEnvironmentAvailable(this);
}

void Environment::Retire() {
  retired_ = true;
  // With an invocation in flight, Complete() finishes the job.
  if (state_ != State::kDead && !current_) Die();
}

void Environment::Kill(const std::string& why) {
  if (state_ == State::kDead) return;
  log::Info("environment {} ({}): killed: {}", id_, function_->config.name, why);
  if (current_) {
    auto inv = std::move(current_);
    inv->done(Status(Code::kUnavailable, fmt::format("execution environment stopped: {}", why)));
  }
  Die();
}

void Environment::Die() {
  if (state_ == State::kDead) return;
  FlushStart();
  dying_ = true;
  SetState(State::kDead);
  deadline_timer_.reset();
  init_timer_.reset();
  exit_grace_timer_.reset();
  if (parked_next_) {
    auto cb = std::move(parked_next_);
    parked_next_ = nullptr;
    cb(Status(Code::kUnavailable, "execution environment is shutting down"));
  }
  if (current_) {
    auto inv = std::move(current_);
    inv->done(Status(Code::kUnavailable, "execution environment stopped"));
  }
  output_watch_.reset();
  exit_watch_.reset();
  runtime_api_.reset();
  if (sandbox_) {
    sandbox_->Kill();
    std::shared_ptr<sandbox::Sandbox> sb = std::move(sandbox_);
    sandbox_.reset();
    deps_.blocking.Submit([sb] {
      Status s = sb->Destroy();
      if (!s.ok()) log::Warn("destroy sandbox: {}", s.ToString());
    });
  }
  token_.reset();
  observer_.OnEnvironmentDead(this);
}

}  // namespace nimbus::invoke
