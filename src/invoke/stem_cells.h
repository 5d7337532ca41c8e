// StemCells: pre-started execution environments that belong to no function yet
// (ADR 0005). Each is a sandbox whose runtime (Python, Node) has started and
// loaded Nimbus' runtime client, waiting on a pipe to learn which function it
// is. A cold start that finds a matching cell specializes it (code and layers
// mounted, limits set, the function's environment handed over) instead of
// launching a sandbox and an interpreter: the user's init code is what remains.
//
// A cell serves a function only when the function would have started the same
// program (argv) with the same values of every variable the interpreter or the
// dynamic loader reads at start-up (StartupSensitive(): PYTHON*, NODE_*, LD_*,
// LANG, PATH, ...): the runtime applies the rest after specialization, before
// any user code runs. Other functions start a sandbox as before.
//
// Lifecycle of one cell:
//
//   launching ──(launched)──► starting ──(runtime loaded)──► ready ──Take()──► an Environment's
//       │                       │                             │
//       └──(failed)             └─────────(runtime died)──────┴──► destroyed, relaunched after a back-off
//
// Take() hands out a ready cell (the oldest), else a starting one: its
// interpreter is further along than a new sandbox's would be.
//
// Confined to the reactor thread; Launch and Destroy run on the BlockingPool.
#pragma once

#include <chrono>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/blocking_pool.h"
#include "base/reactor.h"
#include "sandbox/sandbox.h"

namespace nimbus::invoke {

// A program that cells are kept for: `env` is the whole environment a function
// of this runtime with no variables of its own would get (FunctionEnvironment);
// only its start-up sensitive entries are given to the cell.
struct StemCellTemplate {
  std::string name;  // "python", "nodejs"
  std::vector<std::string> argv;
  std::vector<std::string> env;  // "KEY=VALUE"
  // The program forks from a zygote (sandbox::SandboxSpec::zygote; our Python
  // client): cells are then cheap to make, and a cold start that finds none
  // ready forks one for itself (Take()'s `fork`).
  bool zygote = false;
};

struct StemCellOptions {
  // Ready cells kept per template; 0 disables stem cells.
  int per_template = 2;
  // Cold starts that found no cell ready (a burst drained the pool) raise a
  // template's target by one each, up to this, for `burst_memory`: the next
  // burst of the same size finds cells. The target then falls back.
  int max_per_template = 8;
  std::chrono::seconds burst_memory{60};
  std::filesystem::path runtime_dir;
  // SandboxSpec::api_port of every cell (EnvironmentOptions::api_port).
  uint16_t api_port = 0;
  // A waiting cell's limits (Specialize sets the function's): one vCPU's weight.
  uint64_t memory_mb = 1769;
  // How long to wait before relaunching after a cell failed to start or died
  // while waiting; doubles per consecutive failure up to `max_backoff`.
  std::chrono::milliseconds backoff{1000};
  std::chrono::milliseconds max_backoff{60000};
};

struct StemCellStats {
  int ready = 0;      // loaded, waiting to be specialized
  int starting = 0;   // launched, runtime still loading
  int launching = 0;  // sandbox being launched
  uint64_t taken = 0;   // cold starts that used a cell
  uint64_t missed = 0;  // cold starts of a templated runtime that found none ready
  int target = 0;       // cells wanted now, all templates
};

// Whether the variable named `key` is read by an interpreter or the dynamic
// loader at process start (so a cell started without the function's value would
// behave differently).
bool StartupSensitive(std::string_view key);

// The Specialization that turns a cell into the environment described by `spec`
// (a SandboxSpec built for the function): its code, layers, limits, and its
// environment as the payload {"env": {...}}.
sandbox::Specialization StemCellSpecialization(const sandbox::SandboxSpec& spec);

class StemCells {
 public:
  struct Deps {
    Reactor& reactor;
    BlockingPool& blocking;
    sandbox::SandboxFactory& sandboxes;
  };

  // Starts filling once the reactor runs. May be called on any thread.
  // REQUIRES: sandboxes.capabilities().stem_cells.
  StemCells(Deps deps, StemCellOptions options, std::vector<StemCellTemplate> templates);
  // REQUIRES: Shutdown() has completed.
  ~StemCells();
  StemCells(const StemCells&) = delete;
  StemCells& operator=(const StemCells&) = delete;

  // A ready cell started with `argv` whose start-up sensitive variables equal
  // those of `env` (the function's whole environment), or null. Starts a
  // replacement. The caller must Specialize() or Destroy() it. When none is
  // ready but the matching template's cells come from a zygote, sets `*fork` to
  // the spec of a new cell (its id is the caller's to set) that the caller may
  // Launch() and Specialize() at once: a fork costs about what specializing does.
  std::unique_ptr<sandbox::Sandbox> Take(const std::vector<std::string>& argv,
                                         const std::vector<std::string>& env,
                                         std::optional<sandbox::SandboxSpec>* fork = nullptr);

  // Stops relaunching and destroys every cell; `done` runs on the reactor once
  // all are gone (launches in flight included).
  void Shutdown(std::function<void()> done);

  StemCellStats stats() const;

 private:
  struct Cell;
  struct Template;

  void Begin();
  void Launch(Template& t);
  sandbox::SandboxSpec CellSpec(const Template& t) const;
  void OnLaunched(Template& t, Result<std::unique_ptr<sandbox::Sandbox>> result);
  void OnCellDied(Template& t, Cell* cell);
  // Counts a failure and relaunches after a back-off that grows with them.
  void BackOff(Template& t);
  // Stops watching `cell`, kills it and destroys it on the BlockingPool.
  void Discard(std::unique_ptr<Cell> cell);
  void Fill(Template& t);
  // per_template + the misses of the last burst_memory, up to max_per_template.
  int Target(const Template& t) const;
  // Drops forgotten misses and destroys cells beyond the target; re-arms itself.
  void Trim();
  void Destroy(std::unique_ptr<sandbox::Sandbox> sandbox);
  void MaybeFinishShutdown();

  Deps deps_;
  const StemCellOptions options_;
  std::vector<std::unique_ptr<Template>> templates_;
  int destroying_ = 0;
  std::unique_ptr<Reactor::Timer> trim_timer_;
  bool shutting_down_ = false;
  std::function<void()> shutdown_done_;
  // Expires with this object; callbacks from the BlockingPool check it.
  std::shared_ptr<StemCells*> token_;
};

}  // namespace nimbus::invoke
