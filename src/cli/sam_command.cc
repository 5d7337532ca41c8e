#include "cli/sam_command.h"

#include <fmt/format.h>
#include <signal.h>
#include <sys/signalfd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "base/errno_status.h"
#include "base/unique_fd.h"
#include "cli/api_client.h"
#include "cli/file_watcher.h"
#include "cli/progress.h"
#include "cli/sam_deploy.h"
#include "cli/sam_template.h"

namespace nimbus::cli {
namespace {

namespace fs = std::filesystem;

// How long the files must stay still before --watch deploys: editors and build
// tools write in bursts (save = truncate + write + rename) well under this.
constexpr std::chrono::milliseconds kQuietPeriod{300};
// Changed paths named in a --watch message; more are counted.
constexpr size_t kShownPaths = 3;

int Fail(const Status& s) {
  std::cerr << "nimbus: " << s.message() << '\n';
  return 1;
}

Result<fs::path> FindTemplate(const std::string& given) {
  std::error_code ec;
  if (!given.empty()) {
    fs::path p = fs::absolute(given, ec).lexically_normal();
    if (!fs::is_regular_file(p, ec))
      return InvalidArgument(fmt::format("--template {}: no such file", given));
    return p;
  }
  const fs::path cwd = fs::current_path(ec);
  for (const char* name : {"template.yaml", "template.yml"}) {
    if (fs::is_regular_file(cwd / name, ec)) return cwd / name;
  }
  return InvalidArgument(
      fmt::format("no template.yaml in {}: give --template FILE, or NAME PATH --runtime R "
                  "--handler H to deploy one function",
                  cwd.string()));
}

Result<std::string> ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgument(fmt::format("cannot read {}", path.string()));
  std::ostringstream data;
  data << in.rdbuf();
  return data.str();
}

class TemplateDeploy {
 public:
  TemplateDeploy(ApiClient api, ServerRegion region, fs::path template_path, PlanOptions options)
      : api_(std::move(api)),
        region_(std::move(region)),
        template_path_(std::move(template_path)),
        options_(std::move(options)) {}

  // Reads and plans the template; warnings go to stderr.
  Result<StackPlan> Plan() {
    NIMBUS_ASSIGN_OR_RETURN(std::string text, ReadFile(template_path_));
    auto plan = PlanStack(text, options_);
    if (!plan.has_value()) return plan.error().WithContext(template_path_.filename().string());
    for (const auto& w : plan->warnings) std::cerr << "nimbus: warning: " << w << '\n';
    return plan;
  }

  // Applies `plan`, printing each resource's line (only changes when
  // `only_changes`), the summary and the HTTP API's endpoint.
  Status Deploy(const StackPlan& plan, bool only_changes) {
    StackDeployer deployer(
        api_, region_,
        [only_changes](const ChangeLine& line) {
          // Redeploys show what they changed; stale resources were listed by the first deploy.
          if (only_changes && (line.change == Change::kUnchanged || line.change == Change::kStale))
            return;
          std::cout << FormatChangeLine(line) << '\n' << std::flush;
        },
        StderrIsTerminal());
    NIMBUS_ASSIGN_OR_RETURN(DeployResult result, deployer.Deploy(plan));
    std::cout << FormatSummary(plan.stack_name, result) << '\n';
    if (!result.api_endpoint.empty()) {
      std::cout << fmt::format("HTTP API endpoint: {}/ (or {}/execute-api/{}/)\n",
                               result.api_endpoint, api_.endpoint().url, result.api_id);
    }
    std::cout.flush();
    return Status::Ok();
  }

  // The directories and files a plan is made of, to watch.
  Result<std::unique_ptr<FileWatcher>> Watch(const StackPlan* plan) {
    std::vector<fs::path> trees, files{template_path_};
    auto add = [&](const std::string& path) {
      std::error_code ec;
      if (path.empty()) return;
      if (fs::is_directory(path, ec)) {
        trees.emplace_back(path);
      } else if (fs::exists(path, ec)) {
        files.emplace_back(path);
      }
    };
    if (plan != nullptr) {
      for (const auto& l : plan->layers) add(l.content_path);
      for (const auto& f : plan->functions) add(f.code_path);
    }
    return FileWatcher::Create(trees, files);
  }

 private:
  ApiClient api_;
  ServerRegion region_;
  fs::path template_path_;
  PlanOptions options_;
};

std::string Describe(const std::vector<std::string>& paths) {
  std::string out;
  for (size_t i = 0; i < paths.size() && i < kShownPaths; ++i) out += (i ? ", " : "") + paths[i];
  if (paths.size() > kShownPaths) out += fmt::format(" and {} more", paths.size() - kShownPaths);
  return out;
}

// Redeploys on every change until SIGINT/SIGTERM. Both are blocked and read
// from a signalfd, so a deploy in progress finishes before the command ends.
int WatchAndRedeploy(TemplateDeploy& deploy, std::optional<StackPlan> plan,
                     std::unique_ptr<FileWatcher> watcher) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  if (sigprocmask(SIG_BLOCK, &signals, nullptr) != 0) return Fail(ErrnoStatus("sigprocmask"));
  UniqueFd stop(signalfd(-1, &signals, SFD_CLOEXEC));
  if (!stop) return Fail(ErrnoStatus("signalfd"));
  std::cerr << "nimbus: watching for changes (Ctrl-C to stop)\n";
  for (;;) {
    auto changes = watcher->Wait(kQuietPeriod, stop.get());
    if (!changes.has_value()) return Fail(changes.error());
    if (changes->stopped) {
      std::cerr << "nimbus: stopped watching\n";
      return 0;
    }
    std::cerr << fmt::format("nimbus: changed: {}; deploying\n", Describe(changes->paths));
    auto next = deploy.Plan();
    if (next.has_value()) plan = std::move(next).value();
    auto rewatched = deploy.Watch(plan ? &*plan : nullptr);
    if (!rewatched.has_value()) return Fail(rewatched.error());
    watcher = std::move(rewatched).value();
    if (!next.has_value()) {
      Fail(next.error());
      continue;
    }
    Status st = deploy.Deploy(*plan, true);
    if (!st.ok()) Fail(st);
  }
}

}  // namespace

int DeployTemplate(const TemplateDeployArgs& args) {
  auto template_path = FindTemplate(args.template_path);
  if (!template_path.has_value()) return Fail(template_path.error());
  PlanOptions options;
  options.template_dir = template_path->parent_path();
  options.stack_name =
      args.stack_name.empty() ? StackNameFromDirectory(options.template_dir) : args.stack_name;
  if (!ValidStackName(options.stack_name)) {
    return Fail(InvalidArgument(fmt::format(
        "--stack-name {}: a stack name is a letter, then letters, digits and hyphens (at most 128)",
        options.stack_name)));
  }
  auto overrides = ParseParameterOverrides(args.parameter_overrides);
  if (!overrides.has_value()) return Fail(overrides.error());
  options.parameter_overrides = std::move(overrides).value();
  auto api = Connect(args.endpoint);
  if (!api.has_value()) return Fail(api.error());
  auto region = DiscoverRegion(*api);
  if (!region.has_value()) return Fail(region.error());
  options.region = region->region;
  options.account_id = region->account_id;
  options.endpoint = api->endpoint().url;

  TemplateDeploy deploy(std::move(api).value(), std::move(region).value(), *template_path, options);
  auto plan = deploy.Plan();
  if (!args.watch) {
    if (!plan.has_value()) return Fail(plan.error());
    Status st = deploy.Deploy(*plan, false);
    return st.ok() ? 0 : Fail(st);
  }
  std::optional<StackPlan> last;
  if (plan.has_value()) last = *plan;
  auto watcher = deploy.Watch(last ? &*last : nullptr);
  if (!watcher.has_value()) return Fail(watcher.error());
  if (!plan.has_value()) {
    Fail(plan.error());
  } else if (Status st = deploy.Deploy(*plan, false); !st.ok()) {
    Fail(st);
  }
  return WatchAndRedeploy(deploy, std::move(last), std::move(watcher).value());
}

}  // namespace nimbus::cli
