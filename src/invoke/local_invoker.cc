#include "invoke/local_invoker.h"

#include <algorithm>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "base/encoding.h"
#include "base/log.h"
#include "invoke/keep_alive_policy.h"
#include "invoke/report.h"
#include "invoke/runtime_catalog.h"

namespace nimbus::invoke {

class LocalInvokerImpl;

namespace {

// Learnt keep-alives never go below a minute (or --keep-alive, if shorter): the
// policy saves memory on functions whose traffic has ended, but a short pause in
// steady traffic must not cost cold starts. Pre-warming pays only for gaps well
// beyond that.
KeepAliveOptions PolicyOptions(std::chrono::seconds fixed) {
  KeepAliveOptions o;
  o.default_keep_alive = fixed;
  o.min_keep_alive = std::min<std::chrono::milliseconds>(std::chrono::minutes(1), fixed);
  o.min_prewarm = std::max<std::chrono::milliseconds>(std::chrono::seconds(10),
                                                      o.min_keep_alive + std::chrono::seconds(10));
  return o;
}

// A Python and a Node cell: the programs and start-up environment of a
// function of that runtime with no variables of its own.
// Python's cells fork from a zygote where the sandboxes can (`zygotes`) and the
// runtime directory has the zygote's library.
std::vector<StemCellTemplate> DefaultStemCellTemplates(const EnvironmentOptions& options,
                                                       bool zygotes) {
  std::vector<StemCellTemplate> out;
  for (auto [name, runtime] : {std::pair{"python", "python3.12"}, std::pair{"nodejs", "nodejs20.x"}}) {
    control::FunctionVersion fn;
    fn.config.name = "stem-cell";
    fn.config.runtime = runtime;
    auto resolution = ResolveRuntime(fn);
    if (!resolution.has_value() || !resolution->launch) continue;
    // The sandbox sees the host's /usr: no interpreter there, no cells for it
    // (they would die at exec and be relaunched forever).
    if (!std::filesystem::exists(resolution->launch->argv[0])) {
      log::Info("stem cells: {} not installed, none kept for {}", resolution->launch->argv[0], name);
      continue;
    }
    bool zygote = false;
    if (zygotes && std::string_view(name) == "python") {
      zygote = std::filesystem::exists(options.runtime_dir / "python/libnimbus_zygote.so");
      if (!zygote) {
        log::Warn("stem cells: {} has no python/libnimbus_zygote.so: python cells start the "
                  "interpreter instead of forking a zygote",
                  options.runtime_dir.string());
      }
    }
    out.push_back(StemCellTemplate{
        .name = name,
        .argv = resolution->launch->argv,
        .env = FunctionEnvironment(fn.config, "", false, options.region, resolution->launch->env,
                                   options.credentials),
        .zygote = zygote,
    });
  }
  return out;
}

}  // namespace

// The environments of one function: idle ones are reused most-recent-first (the
// warmest caches); a cold start binds its invocation to the new environment.
class FunctionPool final : public EnvironmentObserver {
 public:
  FunctionPool(LocalInvokerImpl& owner, std::string key) : key(std::move(key)), owner_(owner) {}

  // "name:version": this pool's key in the KeepAlivePolicy.
  const std::string key;

  std::unordered_map<Environment*, std::unique_ptr<Environment>> envs;
  std::vector<Environment*> idle;
  // Provisioned concurrency: keep this many environments of `provisioned_version`
  // initialised (0: none).
  int provisioned_target = 0;
  control::FunctionSnapshot provisioned_version;
  std::unordered_map<Environment*, std::unique_ptr<Reactor::Timer>> keep_alive;
  // Pre-warming (KeepAlivePolicy): the timer that brings one environment back
  // before the predicted next invocation, the environments it started that
  // have not served one yet, and how long such an environment stays.
  std::unique_ptr<Reactor::Timer> prewarm_timer;
  std::unordered_set<Environment*> prewarmed;
  std::chrono::milliseconds prewarm_keep_alive{0};
  // The version to start when pre-warming (the last one that ran here).
  control::FunctionSnapshot last_version;

  void OnEnvironmentAvailable(Environment* env) override;
  void OnEnvironmentDead(Environment* env) override;

  // Takes `env` out of the idle list if it is there.
  void Unidle(Environment* env) {
    std::erase(idle, env);
    keep_alive.erase(env);
  }
  // Alive environments that are not retired.
  bool HasLiveEnvironment() const {
    for (const auto& [env, owned] : envs) {
      if (!env->retired() && env->state() != Environment::State::kDead) return true;
    }
    return false;
  }

 private:
  LocalInvokerImpl& owner_;
};

class LocalInvokerImpl final : public LocalInvoker {
 public:
  LocalInvokerImpl(InvokerDeps deps, InvokerOptions options)
      : deps_(deps),
        options_(std::move(options)),
        keep_alive_policy_(options_.keep_alive_policy ? *options_.keep_alive_policy
                                                       : PolicyOptions(options_.keep_alive)) {
    // Built on any thread; timers belong to the reactor.
    deps_.reactor.Post([token = std::weak_ptr<LocalInvokerImpl*>(token_)] {
      if (auto self = token.lock()) (*self)->SweepPolicy();
    });
    if (options_.stem_cells_per_runtime > 0 && deps_.sandboxes.capabilities().stem_cells) {
      StemCellOptions cells;
      cells.per_template = options_.stem_cells_per_runtime;
      cells.runtime_dir = options_.environment.runtime_dir;
      if (options_.environment.api_handler) cells.api_port = options_.environment.api_port;
      stem_cells_ = std::make_unique<StemCells>(
          StemCells::Deps{deps_.reactor, deps_.blocking, deps_.sandboxes}, cells,
          DefaultStemCellTemplates(options_.environment, deps_.sandboxes.capabilities().zygotes));
    }
  }

  ~LocalInvokerImpl() override {
    // Environments must be gone (Shutdown) before the invoker; kill stragglers.
    for (auto& [name, pool] : pools_) {
      std::vector<Environment*> envs;
      for (auto& [env, owned] : pool->envs) envs.push_back(env);
      for (Environment* env : envs) env->Kill("invoker destroyed");
    }
  }

  void Invoke(InvokeRequest request, InvokeCallback done) override {
    NIMBUS_CHECK(request.function != nullptr);
    if (shutting_down_) {
      done(Status(Code::kUnavailable, "the server is shutting down"));
      return;
    }
    if (request.request_id.empty()) request.request_id = NewUuid();
    const control::FunctionVersion& fn = *request.function;
    // Concurrency is invocations in flight, warm or cold (Lambda's definition).
    const std::string resource = ResourceOf(request.invoked_function_arn, fn.config.name);
    if (Status throttled = CheckConcurrency(fn.config.name); !throttled.ok()) {
      ++(throttled.detail() == "ReservedFunctionConcurrentInvocationLimitExceeded"
             ? metrics_.throttles_reserved
             : metrics_.throttles_account);
      if (options_.observer) options_.observer->OnThrottle(fn.config.name, resource);
      done(throttled);
      return;
    }
    FunctionPool& pool = PoolFor(fn.config.name, fn.config.version);
    pool.last_version = request.function;
    pool.prewarm_timer.reset();
    // Provisioned environments go first (they exist to take this traffic), then
    // the most recently used on-demand one (the warmest caches).
    auto provisioned = std::find_if(pool.idle.rbegin(), pool.idle.rend(),
                                    [](Environment* e) { return e->provisioned(); });
    if (provisioned != pool.idle.rend()) std::iter_swap(provisioned, pool.idle.rbegin());
    while (!pool.idle.empty()) {
      Environment* env = pool.idle.back();
      pool.Unidle(env);
      if (env->retired() || !env->can_accept() ||
          env->function()->config.revision_id != fn.config.revision_id) {
        env->Retire();
        continue;
      }
      pool.prewarmed.erase(env);
      env->Assign(std::move(request), CountedDone(pool, fn.config.name, resource, std::move(done)));
      return;
    }
    // A pre-warmed environment still starting takes it rather than a second cold start.
    for (Environment* env : pool.prewarmed) {
      if (env->can_accept() && !env->retired() &&
          env->function()->config.revision_id == fn.config.revision_id) {
        pool.prewarmed.erase(env);
        env->Assign(std::move(request), CountedDone(pool, fn.config.name, resource, std::move(done)));
        return;
      }
    }
    auto resolution = ResolveRuntime(fn);
    if (!resolution.has_value()) {
      done(resolution.error());
      return;
    }
    if (!resolution->launch) {
      // A function error without an environment (e.g. no bootstrap): Lambda
      // reports it as the invocation's outcome.
      InvokeOutcome o;
      o.request_id = request.request_id;
      o.executed_version = fn.config.version;
      o.function_error = "Unhandled";
      o.payload = ErrorDocument(resolution->error_type,
                                fmt::format("RequestId: {} Error: {}", request.request_id,
                                            resolution->error_message));
      done(std::move(o));
      return;
    }
    Environment* raw = AddEnvironment(pool, request.function, /*provisioned=*/false);
    raw->Assign(std::move(request), CountedDone(pool, fn.config.name, resource, std::move(done)));
    raw->Start(std::move(*resolution->launch));
  }

  void SetReservedConcurrency(const std::string& function_name,
                              std::optional<int> reserved) override {
    auto it = reserved_.find(function_name);
    if (it != reserved_.end()) {
      reserved_total_ -= it->second;
      reserved_.erase(it);
    }
    if (reserved) {
      reserved_[function_name] = *reserved;
      reserved_total_ += *reserved;
    }
  }

  void SetProvisionedConcurrency(control::FunctionSnapshot version, const std::string& qualifier,
                                 int count) override {
    NIMBUS_CHECK(version != nullptr);
    log::Info("provisioned concurrency {}:{} (version {}) = {}", version->config.name, qualifier,
              version->config.version, count);
    FunctionPool& pool = PoolFor(version->config.name, version->config.version);
    pool.provisioned_target = count;
    pool.provisioned_version = std::move(version);
    Replenish(pool);
  }

  void RetireFunction(const std::string& function_name, const std::string& version) override {
    for (auto& [key, pool] : pools_) {
      if (key.first != function_name || (!version.empty() && key.second != version)) continue;
      pool->prewarm_timer.reset();
      // Deleted: its traffic history goes too. An update keeps it (same traffic).
      if (version.empty()) keep_alive_policy_.Forget(pool->key);
      std::vector<Environment*> envs;
      for (auto& [env, owned] : pool->envs) envs.push_back(env);
      for (Environment* env : envs) env->Retire();
    }
  }

  void Shutdown(std::chrono::milliseconds grace, std::function<void()> done) override {
    shutting_down_ = true;
    shutdown_done_ = std::move(done);
    sweep_timer_.reset();
    for (auto& [name, pool] : pools_) pool->prewarm_timer.reset();
    for (auto& [name, pool] : pools_) {
      std::vector<Environment*> envs;
      for (auto& [env, owned] : pool->envs) envs.push_back(env);
      for (Environment* env : envs) env->Retire();
    }
    grace_timer_ = deps_.reactor.RunAfter(grace, [this] {
      for (auto& [name, pool] : pools_) {
        std::vector<Environment*> envs;
        for (auto& [env, owned] : pool->envs) envs.push_back(env);
        for (Environment* env : envs) env->Kill("shutdown grace period over");
      }
    });
    if (stem_cells_) {
      stem_cells_->Shutdown([this] {
        stem_cells_done_ = true;
        MaybeFinishShutdown();
      });
    } else {
      stem_cells_done_ = true;
    }
    MaybeFinishShutdown();
  }

  InvokerStats stats() const override {
    InvokerStats s;
    for (const auto& [name, pool] : pools_) {
      s.environments += static_cast<int>(pool->envs.size());
      s.idle += static_cast<int>(pool->idle.size());
    }
    s.busy = busy_;
    if (stem_cells_) s.stem_cells = stem_cells_->stats();
    s.zygote_forks = deps_.sandboxes.zygote_forks();
    s.metrics = metrics_;
    return s;
  }

  // Called by pools.
  void Available(FunctionPool& pool, Environment* env) {
    if (shutting_down_) {
      env->Retire();
      return;
    }
    pool.idle.push_back(env);
    // Provisioned environments stay until their configuration says otherwise.
    if (env->provisioned()) return;
    if (pool.prewarmed.contains(env)) {
      // Started ahead of a predicted invocation: kept for the predicted window.
      pool.keep_alive[env] = deps_.reactor.RunAfter(pool.prewarm_keep_alive, [this, &pool, env] {
        pool.prewarmed.erase(env);
        pool.Unidle(env);
        env->Retire();
      });
      return;
    }
    // How long this function's environments stay warm follows its traffic.
    KeepAliveDecision decision = keep_alive_policy_.Decide(pool.key);
    pool.keep_alive[env] = deps_.reactor.RunAfter(decision.keep_alive, [this, &pool, env, decision] {
      pool.Unidle(env);
      env->Retire();
      // Scaled to zero: bring one environment back before the next invocation
      // is expected.
      if (decision.prewarm && decision.prewarm->after > decision.keep_alive && !shutting_down_ &&
          !pool.HasLiveEnvironment() && pool.last_version) {
        pool.prewarm_keep_alive = decision.prewarm->keep_alive;
        pool.prewarm_timer = deps_.reactor.RunAfter(
            decision.prewarm->after - decision.keep_alive, [this, &pool] { Prewarm(pool); });
      }
    });
  }

  void Dead(FunctionPool& pool, Environment* env) {
    pool.Unidle(env);
    pool.prewarmed.erase(env);
    // Not from inside the environment's own call stack: post the deletion.
    deps_.reactor.Post([this, &pool, env] {
      bool was_provisioned = env->provisioned() && !env->retired();
      pool.envs.erase(env);
      // A provisioned environment that crashed or timed out is replaced.
      if (was_provisioned) Replenish(pool);
      MaybeFinishShutdown();
    });
  }

 private:
  // A new environment of `version` in `pool`, owned by the pool; not started.
  Environment* AddEnvironment(FunctionPool& pool, control::FunctionSnapshot version,
                              bool provisioned) {
    auto env = std::make_unique<Environment>(
        Environment::Deps{deps_.reactor, deps_.blocking, deps_.clock, deps_.sandboxes, deps_.logs,
                          stem_cells_.get(), &metrics_},
        options_.environment, std::move(version), pool, provisioned);
    Environment* raw = env.get();
    pool.envs.emplace(raw, std::move(env));
    return raw;
  }

  FunctionPool& PoolFor(const std::string& name, const std::string& version) {
    auto& p = pools_[{name, version}];
    if (!p) p = std::make_unique<FunctionPool>(*this, name + ":" + version);
    return *p;
  }

  static constexpr std::chrono::hours kSweepEvery{1};

  // Forgets the traffic of functions not invoked for a day; re-arms itself.
  void SweepPolicy() {
    if (shutting_down_) return;
    keep_alive_policy_.Sweep(deps_.clock.MonotonicNow());
    sweep_timer_ = deps_.reactor.RunAfter(kSweepEvery, [this] { SweepPolicy(); });
  }

  // Starts one on-demand environment of the pool's last version ahead of its
  // predicted next invocation.
  void Prewarm(FunctionPool& pool) {
    pool.prewarm_timer.reset();
    if (shutting_down_ || !pool.last_version || pool.HasLiveEnvironment()) return;
    const control::FunctionVersion& fn = *pool.last_version;
    auto resolution = ResolveRuntime(fn);
    if (!resolution.has_value() || !resolution->launch) return;
    log::Debug("pre-warming {}:{}", fn.config.name, fn.config.version);
    ++metrics_.prewarms;
    Environment* raw = AddEnvironment(pool, pool.last_version, /*provisioned=*/false);
    pool.prewarmed.insert(raw);
    raw->Start(std::move(*resolution->launch));
  }

  // Throttles when the function's reserved concurrency, or (for functions
  // without a reservation) the account's unreserved concurrency, is in use.
  Status CheckConcurrency(const std::string& name) const {
    auto r = reserved_.find(name);
    if (r != reserved_.end()) {
      auto b = busy_by_function_.find(name);
      int busy = b == busy_by_function_.end() ? 0 : b->second;
      if (busy >= r->second) {
        return Status(Code::kThrottled, "Rate Exceeded.")
            .WithDetail("ReservedFunctionConcurrentInvocationLimitExceeded");
      }
      return Status::Ok();
    }
    if (busy_unreserved_ >= options_.max_concurrency - reserved_total_) {
      return Status(Code::kThrottled, "Rate Exceeded.")
          .WithDetail("ConcurrentInvocationLimitExceeded");
    }
    return Status::Ok();
  }

  // Counts the invocation as in flight until `done` runs.
  InvokeCallback CountedDone(FunctionPool& pool, const std::string& name, const std::string& resource,
                             InvokeCallback done) {
    bool unreserved = !reserved_.contains(name);
    keep_alive_policy_.OnInvocationStart(pool.key, deps_.clock.MonotonicNow());
    ++busy_;
    const int in_flight = ++busy_by_function_[name];
    if (unreserved) ++busy_unreserved_;
    if (options_.observer) options_.observer->OnStart(name, resource, in_flight, busy_);
    return [this, key = pool.key, name, resource, unreserved, done = std::move(done)](Result<InvokeOutcome> r) {
      keep_alive_policy_.OnInvocationEnd(key, deps_.clock.MonotonicNow());
      --busy_;
      if (--busy_by_function_[name] == 0) busy_by_function_.erase(name);
      if (unreserved) --busy_unreserved_;
      if (options_.observer) options_.observer->OnEnd(name, resource, r);
      done(std::move(r));
    };
  }

  // "name:qualifier" for an ARN or name with a qualifier, else "".
  static std::string ResourceOf(const std::string& invoked_arn, const std::string& name) {
    std::string_view arn = invoked_arn;
    const size_t at = arn.rfind(":function:");
    std::string_view rest = at == std::string_view::npos ? arn : arn.substr(at + 10);
    const size_t colon = rest.find(':');
    if (colon == std::string_view::npos || rest.substr(colon + 1) == "$LATEST") return "";
    return name + ":" + std::string(rest.substr(colon + 1));
  }

  // Starts provisioned environments until the pool holds its target (alive and
  // not retired); retires idle extras when the target went down.
  void Replenish(FunctionPool& pool) {
    if (shutting_down_ || !pool.provisioned_version) return;
    int alive = 0;
    std::vector<Environment*> extra;
    for (auto& [env, owned] : pool.envs) {
      if (!env->provisioned() || env->retired() || env->state() == Environment::State::kDead) {
        continue;
      }
      if (++alive > pool.provisioned_target && env->can_accept()) extra.push_back(env);
    }
    for (Environment* env : extra) {
      pool.Unidle(env);
      env->Retire();
    }
    const control::FunctionVersion& fn = *pool.provisioned_version;
    for (; alive < pool.provisioned_target; ++alive) {
      auto resolution = ResolveRuntime(fn);
      if (!resolution.has_value() || !resolution->launch) {
        log::Warn("provisioned concurrency {}:{}: cannot start the runtime: {}", fn.config.name,
                  fn.config.version,
                  resolution.has_value() ? resolution->error_message : resolution.error().ToString());
        return;
      }
      Environment* raw = AddEnvironment(pool, pool.provisioned_version, /*provisioned=*/true);
      raw->Start(std::move(*resolution->launch));
    }
  }

  void MaybeFinishShutdown() {
    if (!shutting_down_ || !shutdown_done_ || !stem_cells_done_) return;
    for (const auto& [name, pool] : pools_) {
      if (!pool->envs.empty()) return;
    }
    grace_timer_.reset();
    auto done = std::move(shutdown_done_);
    shutdown_done_ = nullptr;
    done();
  }

  InvokerDeps deps_;
  InvokerOptions options_;
  // One pool per function version: (name, "$LATEST" | "N").
  std::map<std::pair<std::string, std::string>, std::unique_ptr<FunctionPool>> pools_;
  int busy_ = 0;                 // invocations in flight
  int busy_unreserved_ = 0;      // ... of functions without reserved concurrency
  std::unordered_map<std::string, int> busy_by_function_;
  std::unordered_map<std::string, int> reserved_;  // function name -> reserved concurrency
  int reserved_total_ = 0;
  bool shutting_down_ = false;
  std::function<void()> shutdown_done_;
  std::unique_ptr<Reactor::Timer> grace_timer_;
  InvokerMetrics metrics_;
  KeepAlivePolicy keep_alive_policy_;
  std::unique_ptr<Reactor::Timer> sweep_timer_;
  std::unique_ptr<StemCells> stem_cells_;  // null when disabled or unsupported
  bool stem_cells_done_ = false;            // Shutdown() destroyed every cell
  // Expires with this object; posted callbacks check it.
  std::shared_ptr<LocalInvokerImpl*> token_ = std::make_shared<LocalInvokerImpl*>(this);
};

void FunctionPool::OnEnvironmentAvailable(Environment* env) { owner_.Available(*this, env); }
void FunctionPool::OnEnvironmentDead(Environment* env) { owner_.Dead(*this, env); }

std::unique_ptr<LocalInvoker> NewLocalInvoker(InvokerDeps deps, InvokerOptions options) {
  return std::make_unique<LocalInvokerImpl>(deps, std::move(options));
}

}  // namespace nimbus::invoke
