#include "invoke/stem_cells.h"

#include <algorithm>
#include <array>

#include <fmt/format.h>

#include "base/encoding.h"
#include "base/log.h"
#include "invoke/report.h"

namespace nimbus::invoke {

namespace {

std::string_view KeyOf(std::string_view entry) { return entry.substr(0, entry.find('=')); }

// The start-up sensitive entries of `env`, sorted: equal vectors mean a cell
// started with one behaves as a process started with the other.
std::vector<std::string> SensitiveSubset(const std::vector<std::string>& env) {
  std::vector<std::string> out;
  for (const auto& entry : env) {
    if (StartupSensitive(KeyOf(entry))) out.push_back(entry);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

bool StartupSensitive(std::string_view key) {
  // Read by CPython, Node/V8/libuv, the JVM, Ruby, glibc's loader, malloc and
  // locale code while the process starts, before the runtime client runs.
  static constexpr std::array<std::string_view, 14> kPrefixes = {
      "PYTHON", "NODE_", "UV_",  "V8_",    "LD_",   "LC_",  "MALLOC_",
      "GLIBC_", "JAVA",  "_JAVA", "JDK_",  "RUBY",  "GEM_", "BUNDLE_"};
  static constexpr std::array<std::string_view, 6> kNames = {"LANG",   "LANGUAGE", "PATH",
                                                             "TZ",     "HOME",     "TMPDIR"};
  for (auto p : kPrefixes) {
    if (key.starts_with(p)) return true;
  }
  return std::find(kNames.begin(), kNames.end(), key) != kNames.end();
}

sandbox::Specialization StemCellSpecialization(const sandbox::SandboxSpec& spec) {
  sandbox::Specialization s;
  s.code_dir = spec.code_dir;
  s.layer_dirs = spec.layer_dirs;
  s.memory_mb = spec.memory_mb;
  s.ephemeral_storage_mb = spec.ephemeral_storage_mb;
  s.payload = R"({"env":{)";
  bool first = true;
  for (const auto& entry : spec.env) {
    size_t eq = entry.find('=');
    if (eq == std::string::npos) continue;
    if (!first) s.payload += ',';
    first = false;
    s.payload += '"';
    s.payload += JsonEscape(entry.substr(0, eq));
    s.payload += R"(":")";
    s.payload += JsonEscape(entry.substr(eq + 1));
    s.payload += '"';
  }
  s.payload += "}}";
  return s;
}

struct StemCells::Cell {
  std::unique_ptr<sandbox::Sandbox> sandbox;
  std::unique_ptr<Reactor::Watch> exit_watch;
  std::unique_ptr<Reactor::Watch> ready_watch;  // until the runtime has loaded
  bool loaded = false;
};

struct StemCells::Template {
  StemCellTemplate def;
  std::vector<std::string> sensitive;  // SensitiveSubset(def.env)
  std::vector<std::string> cell_env;   // what a cell is started with
  std::deque<std::unique_ptr<Cell>> ready;  // oldest first: the most likely initialised
  int launching = 0;
  std::deque<std::chrono::steady_clock::time_point> misses;  // within burst_memory
  int failures = 0;  // consecutive launch failures or deaths while waiting
  std::unique_ptr<Reactor::Timer> retry;
  uint64_t taken = 0;
  uint64_t missed = 0;
};

StemCells::StemCells(Deps deps, StemCellOptions options, std::vector<StemCellTemplate> templates)
    : deps_(deps), options_(std::move(options)), token_(std::make_shared<StemCells*>(this)) {
  for (auto& def : templates) {
    auto t = std::make_unique<Template>();
    t->sensitive = SensitiveSubset(def.env);
    t->cell_env = t->sensitive;
    t->cell_env.push_back(fmt::format("_NIMBUS_SPECIALIZATION_FD={}", sandbox::kSpecializationFd));
    t->cell_env.push_back(fmt::format("_NIMBUS_READY_FD={}", sandbox::kStemCellReadyFd));
    t->def = std::move(def);
    templates_.push_back(std::move(t));
  }
  // The owner may be built on another thread than the reactor's (whose timers
  // and launches must be touched there only): filling starts on the reactor.
  deps_.reactor.Post([token = std::weak_ptr<StemCells*>(token_)] {
    if (auto self = token.lock()) (*self)->Begin();
  });
}

void StemCells::Begin() {
  if (shutting_down_) return;
  for (auto& t : templates_) Fill(*t);
  trim_timer_ = deps_.reactor.RunAfter(std::chrono::seconds(10), [this] { Trim(); });
}

int StemCells::Target(const Template& t) const {
  auto horizon = std::chrono::steady_clock::now() - options_.burst_memory;
  auto recent = t.misses.end() - std::lower_bound(t.misses.begin(), t.misses.end(), horizon);
  int target = options_.per_template + static_cast<int>(recent);
  return std::min(target, std::max(options_.per_template, options_.max_per_template));
}

void StemCells::Trim() {
  auto horizon = std::chrono::steady_clock::now() - options_.burst_memory;
  for (auto& t : templates_) {
    while (!t->misses.empty() && t->misses.front() < horizon) t->misses.pop_front();
    int target = Target(*t);
    // The newest cells go first: the oldest are the most surely initialised.
    while (static_cast<int>(t->ready.size()) > target) {
      Discard(std::move(t->ready.back()));
      t->ready.pop_back();
    }
  }
  trim_timer_ = deps_.reactor.RunAfter(std::chrono::seconds(10), [this] { Trim(); });
}

StemCells::~StemCells() {
  // Normally empty after Shutdown(); never leave a process behind.
  for (auto& t : templates_) {
    for (auto& cell : t->ready) {
      cell->exit_watch.reset();
      cell->ready_watch.reset();
      (void)cell->sandbox->Destroy();
    }
  }
}

std::unique_ptr<sandbox::Sandbox> StemCells::Take(const std::vector<std::string>& argv,
                                                  const std::vector<std::string>& env,
                                                  std::optional<sandbox::SandboxSpec>* fork) {
  if (shutting_down_) return nullptr;
  std::vector<std::string> sensitive;
  bool computed = false;
  for (auto& t : templates_) {
    if (t->def.argv != argv) continue;
    if (!computed) {
      sensitive = SensitiveSubset(env);
      computed = true;
    }
    if (t->sensitive != sensitive) continue;
    if (t->ready.empty()) {
      ++t->missed;
      t->misses.push_back(std::chrono::steady_clock::now());
      Fill(*t);
      if (fork != nullptr && t->def.zygote) {
        sandbox::SandboxSpec spec = CellSpec(*t);
        spec.background = false;  // a cold start waits for it
        *fork = std::move(spec);
      }
      return nullptr;
    }
    // The oldest loaded cell, else the oldest still loading.
    auto it = std::find_if(t->ready.begin(), t->ready.end(), [](const auto& c) { return c->loaded; });
    if (it == t->ready.end()) it = t->ready.begin();
    std::unique_ptr<Cell> cell = std::move(*it);
    t->ready.erase(it);
    cell->exit_watch.reset();
    cell->ready_watch.reset();
    ++t->taken;
    t->failures = 0;
    Fill(*t);
    return std::move(cell->sandbox);
  }
  return nullptr;
}

void StemCells::Fill(Template& t) {
  if (shutting_down_ || t.retry) return;
  const int target = Target(t);
  while (static_cast<int>(t.ready.size()) + t.launching < target) Launch(t);
}

sandbox::SandboxSpec StemCells::CellSpec(const Template& t) const {
  sandbox::SandboxSpec spec;
  spec.id = RandomHex32();
  spec.runtime_dir = options_.runtime_dir;
  spec.argv = t.def.argv;
  spec.env = t.cell_env;
  spec.memory_mb = options_.memory_mb;
  spec.stem_cell = true;
  spec.unthrottled_init = true;
  spec.zygote = t.def.zygote;
  spec.api_port = options_.api_port;
  // Loads on spare CPU: a cold start in progress (often the one that took the
  // cell this replaces) comes first.
  spec.background = true;
  return spec;
}

void StemCells::Launch(Template& t) {
  ++t.launching;
  sandbox::SandboxSpec spec = CellSpec(t);
  std::weak_ptr<StemCells*> token = token_;
  Reactor& reactor = deps_.reactor;
  BlockingPool& blocking = deps_.blocking;
  sandbox::SandboxFactory& factory = deps_.sandboxes;
  Template* tp = &t;
  blocking.Submit([spec = std::move(spec), token, tp, &reactor, &blocking, &factory] {
    auto result = std::make_shared<Result<std::unique_ptr<sandbox::Sandbox>>>(factory.Launch(spec));
    reactor.Post([token, tp, result, &blocking] {
      if (auto self = token.lock()) {
        (*self)->OnLaunched(*tp, std::move(*result));
        return;
      }
      if (result->has_value()) {
        std::shared_ptr<sandbox::Sandbox> sb = std::move(result->value());
        blocking.Submit([sb] { (void)sb->Destroy(); });
      }
    });
  });
}

void StemCells::OnLaunched(Template& t, Result<std::unique_ptr<sandbox::Sandbox>> result) {
  --t.launching;
  if (!result.has_value()) {
    log::Warn("stem cell ({}): launch failed: {}", t.def.name, result.error().ToString());
    BackOff(t);
    MaybeFinishShutdown();
  } else if (shutting_down_) {
    Destroy(std::move(result.value()));
  } else {
    auto cell = std::make_unique<Cell>();
    cell->sandbox = std::move(result.value());
    Cell* raw = cell.get();
    cell->exit_watch = deps_.reactor.WatchReadable(cell->sandbox->exit_fd(),
                                                   [this, &t, raw] { OnCellDied(t, raw); });
    if (int fd = cell->sandbox->ready_fd(); fd >= 0) {
      cell->ready_watch = deps_.reactor.WatchReadable(fd, [raw] {
        raw->loaded = true;
        raw->ready_watch.reset();
      });
    } else {
      cell->loaded = true;
    }
    t.ready.push_back(std::move(cell));
  }
}

void StemCells::BackOff(Template& t) {
  ++t.failures;
  if (shutting_down_ || t.retry) return;
  // A runtime that cannot start or keeps dying must not spin.
  auto delay = std::min<std::chrono::milliseconds>(
      options_.backoff * (1 << std::min(t.failures - 1, 16)), options_.max_backoff);
  t.retry = deps_.reactor.RunAfter(delay, [this, &t] {
    t.retry.reset();
    Fill(t);
  });
}

void StemCells::OnCellDied(Template& t, Cell* cell) {
  auto it = std::find_if(t.ready.begin(), t.ready.end(),
                         [cell](const auto& c) { return c.get() == cell; });
  if (it == t.ready.end()) return;
  std::unique_ptr<Cell> dead = std::move(*it);
  t.ready.erase(it);
  auto exit = dead->sandbox->ReadExit();
  log::Warn("stem cell ({}): the runtime exited while waiting ({})", t.def.name,
            exit ? exit->Describe() : "unknown");
  Discard(std::move(dead));
  BackOff(t);
}

void StemCells::Discard(std::unique_ptr<Cell> cell) {
  // The watches borrow the sandbox's fds: gone before it is destroyed elsewhere.
  cell->exit_watch.reset();
  cell->ready_watch.reset();
  cell->sandbox->Kill();
  Destroy(std::move(cell->sandbox));
}

void StemCells::Destroy(std::unique_ptr<sandbox::Sandbox> sandbox) {
  ++destroying_;
  std::shared_ptr<sandbox::Sandbox> sb = std::move(sandbox);
  std::weak_ptr<StemCells*> token = token_;
  Reactor& reactor = deps_.reactor;
  deps_.blocking.Submit([sb, token, &reactor] {
    Status st = sb->Destroy();
    if (!st.ok()) log::Warn("stem cell: destroy: {}", st.ToString());
    reactor.Post([token] {
      if (auto self = token.lock()) {
        --(*self)->destroying_;
        (*self)->MaybeFinishShutdown();
      }
    });
  });
}

void StemCells::Shutdown(std::function<void()> done) {
  shutting_down_ = true;
  shutdown_done_ = std::move(done);
  trim_timer_.reset();
  for (auto& t : templates_) {
    t->retry.reset();
    while (!t->ready.empty()) {
      Discard(std::move(t->ready.front()));
      t->ready.pop_front();
    }
  }
  MaybeFinishShutdown();
}

void StemCells::MaybeFinishShutdown() {
  if (!shutting_down_ || !shutdown_done_ || destroying_ > 0) return;
  for (const auto& t : templates_) {
    if (t->launching > 0) return;
  }
  auto done = std::move(shutdown_done_);
  shutdown_done_ = nullptr;
  done();
}

StemCellStats StemCells::stats() const {
  StemCellStats s;
  for (const auto& t : templates_) {
    for (const auto& cell : t->ready) ++(cell->loaded ? s.ready : s.starting);
    s.launching += t->launching;
    s.taken += t->taken;
    s.missed += t->missed;
    s.target += Target(*t);
  }
  return s;
}

}  // namespace nimbus::invoke
