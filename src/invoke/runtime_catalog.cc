#include "invoke/runtime_catalog.h"

#include <sys/stat.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>

namespace nimbus::invoke {

namespace {
bool IsExecutableFile(const std::filesystem::path& p) {
  struct stat st{};
  // stat follows symlinks: a bootstrap symlink to a binary in the package is fine.
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111) != 0;
}
// The JVM cannot read the memory cgroup (there is no /sys in the sandbox), so its
// limits are derived from MemorySize as Lambda's java17 runtime derives them:
// heap 85 %, metaspace 10 %, code cache 5 %. Serial GC and C1 only: the
// fastest start-up for short-lived, mostly single-threaded handlers.
RuntimeLaunch JavaLaunch(const std::string& rt, int memory_mb) {
  const int64_t kib = int64_t{memory_mb} * 1024;
  // Jackson plus the JDK's own classes need ~20 MB of metaspace; 10 % of a
  // 128 MB function would not hold them.
  const int64_t metaspace = std::max<int64_t>(kib * 10 / 100, 32 * 1024);
  return RuntimeLaunch{
      .argv = {"/usr/bin/java",
               fmt::format("-XX:MaxHeapSize={}k", kib * 85 / 100),
               fmt::format("-XX:MaxMetaspaceSize={}k", metaspace),
               fmt::format("-XX:ReservedCodeCacheSize={}k", std::max<int64_t>(kib * 5 / 100, 8 * 1024)),
               "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xshare:auto",
               // No hsperfdata file in the small /tmp, and a faster start.
               "-XX:-UsePerfData", "-Djava.net.preferIPv4Stack=true", "-Dfile.encoding=UTF-8",
               "-cp",
               "/var/runtime/java/nimbus-java-runtime.jar:"
               "/var/runtime/java/nimbus-lambda-java-core.jar:"
               "/usr/share/java/jackson-databind.jar:/usr/share/java/jackson-core.jar:"
               "/usr/share/java/jackson-annotations.jar",
               "dev.nimbus.lambda.Bootstrap"},
      .env = {{"AWS_EXECUTION_ENV", "AWS_Lambda_" + rt}},
  };
}
}  // namespace

namespace {

// `opt_bootstrap`: the layers provide an executable /opt/bootstrap.
Result<RuntimeResolution> Resolve(const control::FunctionConfig& config,
                                  const std::filesystem::path& code_dir, bool opt_bootstrap);

}  // namespace

Result<RuntimeResolution> ResolveRuntime(const control::FunctionVersion& function) {
  // /opt is the layers stacked in order, later ones on top: the last layer
  // with an executable bootstrap provides /opt/bootstrap.
  bool opt = false;
  for (auto it = function.layer_dirs.rbegin(); it != function.layer_dirs.rend(); ++it) {
    if (std::filesystem::exists(*it / "bootstrap") ||
        std::filesystem::is_symlink(*it / "bootstrap")) {
      // The top-most layer's file is the one /opt shows, executable or not.
      opt = IsExecutableFile(*it / "bootstrap");
      break;
    }
  }
  return Resolve(function.config, function.code_dir, opt);
}

namespace {

Result<RuntimeResolution> Resolve(const control::FunctionConfig& config,
                                  const std::filesystem::path& code_dir, bool opt_bootstrap) {
  const std::string& rt = config.runtime;
  RuntimeResolution r;
  if (rt.starts_with("python3.")) {
    // Every python3.x runtime runs on the host's Debian Python (3.11).
    r.launch = RuntimeLaunch{
        .argv = {"/usr/bin/python3", "-u", "/var/runtime/python/bootstrap.py"},
        .env = {{"AWS_EXECUTION_ENV", "AWS_Lambda_" + rt},
                {"PYTHONPATH", "/var/runtime"}},
    };
    return r;
  }
  if (rt.starts_with("nodejs")) {
    r.launch = RuntimeLaunch{
        .argv = {"/usr/bin/node", "/var/runtime/nodejs/bootstrap.mjs"},
        .env = {{"AWS_EXECUTION_ENV", "AWS_Lambda_" + rt},
                {"NODE_PATH",
                 "/opt/nodejs/node20/node_modules:/opt/nodejs/node_modules:"
                 "/var/runtime/node_modules:/var/runtime:/var/task"}},
    };
    return r;
  }
  if (rt == "java17") {
    r.launch = JavaLaunch(rt, config.memory_mb);
    return r;
  }
  if (rt.starts_with("java")) {
    // java21/java25 class files (major version 65/69) cannot be loaded by the
    // host's JDK 17, and java8.al2/java11 are not offered: say so plainly.
    return Status(Code::kUnavailable,
                  fmt::format("function {}: runtime {} is not supported by this Nimbus server: "
                              "Java functions run on the host's OpenJDK 17, which cannot load "
                              "classes compiled for a newer Java; use java17",
                              config.name, rt));
  }
  if (rt == "ruby3.1" || rt == "ruby3.2" || rt == "ruby3.3" || rt == "ruby3.4") {
    // Every ruby3.x runtime runs on the host's Debian Ruby (3.1 on bookworm).
    r.launch = RuntimeLaunch{
        .argv = {"/usr/bin/ruby", "/var/runtime/ruby/bootstrap.rb"},
        .env = {{"AWS_EXECUTION_ENV", "AWS_Lambda_" + rt},
                // Lambda's gem layout: the function's vendored gems, then layers'.
                {"GEM_PATH", "/var/task/vendor/bundle/ruby/3.1.0:/opt/ruby/gems/3.1.0"},
                {"RUBYLIB", "/var/task:/var/runtime/lib:/opt/ruby/lib"}},
    };
    return r;
  }
  if (rt == "provided" || rt.starts_with("provided.")) {
    // Lambda looks for bootstrap in the package root, then in layers (/opt).
    if (IsExecutableFile(code_dir / "bootstrap")) {
      r.launch = RuntimeLaunch{.argv = {"/var/task/bootstrap"}, .env = {}};
      return r;
    }
    if (opt_bootstrap) {
      r.launch = RuntimeLaunch{.argv = {"/opt/bootstrap"}, .env = {}};
      return r;
    }
    r.error_type = "Runtime.InvalidEntrypoint";
    r.error_message = "Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]";
    return r;
  }
  return Status(Code::kUnavailable,
                fmt::format("function {}: runtime {} is not supported by this Nimbus server yet",
                            config.name, rt));
}

}  // namespace

}  // namespace nimbus::invoke
