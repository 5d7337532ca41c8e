#include "invoke/runtime_catalog.h"

#include <sys/stat.h>

#include <fmt/format.h>

namespace nimbus::invoke {

namespace {
bool IsExecutableFile(const std::filesystem::path& p) {
  struct stat st{};
  // stat follows symlinks: a bootstrap symlink to a binary in the package is fine.
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111) != 0;
}
}  // namespace

Result<RuntimeResolution> ResolveRuntime(const control::FunctionConfig& config,
                                         const std::filesystem::path& code_dir) {
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
  if (rt == "provided" || rt.starts_with("provided.")) {
    // Lambda looks for bootstrap in the package root, then in layers (/opt).
    if (IsExecutableFile(code_dir / "bootstrap")) {
      r.launch = RuntimeLaunch{.argv = {"/var/task/bootstrap"}, .env = {}};
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

}  // namespace nimbus::invoke
