// Measures LinuxSandboxFactory::Launch(): the time from the call until it
// returns with the Runtime API listener, for a runtime that exits at once
// (/bin/true). Prints median, p90 and max over N launches, plus Destroy().
//
// Usage: sandbox_launch_bench [launches=50]   (needs root or user namespaces)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <fmt/format.h>

#include "sandbox/sandbox.h"

int main(int argc, char** argv) {
  using namespace nimbus::sandbox;
  using Clock = std::chrono::steady_clock;
  int launches = argc > 1 ? std::atoi(argv[1]) : 50;
  LinuxSandboxOptions options;
  options.cgroup_parent = "nimbus-sandbox-bench";
  auto factory = NewLinuxSandboxFactory(options);
  if (!factory) {
    fmt::print(stderr, "factory: {}\n", factory.error().ToString());
    return 1;
  }
  for (const auto& w : (*factory)->capabilities().warnings) fmt::print("warning: {}\n", w);
  SandboxSpec spec;
  // No code_dir and no runtime_dir: /var/task and /var/runtime are empty.
  spec.argv = {"/bin/true"};
  std::vector<double> launch_ms, destroy_ms;
  for (int i = 0; i < launches + 3; ++i) {
    spec.id = fmt::format("bench{:027d}", i);
    auto t0 = Clock::now();
    auto sandbox = (*factory)->Launch(spec);
    auto t1 = Clock::now();
    if (!sandbox) {
      fmt::print(stderr, "launch: {}\n", sandbox.error().ToString());
      return 1;
    }
    auto st = (*sandbox)->Destroy();
    auto t2 = Clock::now();
    if (!st.ok()) {
      fmt::print(stderr, "destroy: {}\n", st.ToString());
      return 1;
    }
    if (i < 3) continue;  // warm-up: page cache, first cgroup directory
    launch_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    destroy_ms.push_back(std::chrono::duration<double, std::milli>(t2 - t1).count());
  }
  auto report = [](const char* what, std::vector<double> v) {
    std::sort(v.begin(), v.end());
    fmt::print("{}: n={} median={:.2f} ms p90={:.2f} ms max={:.2f} ms\n", what, v.size(),
               v[v.size() / 2], v[v.size() * 9 / 10], v.back());
  };
  report("launch until listener", launch_ms);
  report("destroy", destroy_ms);
  return 0;
}
