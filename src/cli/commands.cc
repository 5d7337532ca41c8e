#include "cli/commands.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <boost/json.hpp>
#include <chrono>
#include <fstream>
#include <iostream>
#include <memory>
#include <set>
#include <sstream>
#include <thread>

#include "base/clock.h"
#include "base/encoding.h"
#include "cli/api_client.h"
#include "cli/format.h"
#include "cli/keys_command.h"
#include "cli/package.h"
#include "cli/progress.h"
#include "cli/sam_command.h"
#include "http/client.h"

namespace nimbus::cli {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using std::chrono::milliseconds;

constexpr char kDefaultEndpoint[] = "http://127.0.0.1:8777";
// Packages at least this big get zip/upload progress on a terminal.
constexpr uint64_t kProgressThreshold = 1 << 20;
constexpr milliseconds kFollowPoll{1000};
// Invoke waits for the longest function timeout (900 s) plus a minute of slack.
constexpr milliseconds kInvokeTimeout{960'000};
constexpr milliseconds kUploadTimeout{600'000};

struct Globals {
  std::string endpoint = kDefaultEndpoint;
};

Result<ApiClient> Connect(const Globals& g) { return cli::Connect(g.endpoint); }

int Fail(const Status& s) {
  std::cerr << "nimbus: " << s.message() << '\n';
  return 1;
}

// Runs a command body and turns its exit code into CLI11's protocol.
void RunCommand(const std::function<int()>& body) {
  int rc = body();
  if (rc != 0) throw CLI::RuntimeError(rc);
}

// ---- deploy ----

struct DeployArgs {
  std::string name;
  std::string path;
  std::string runtime;
  std::string handler;
  int memory_mb = 0;        // 0: leave as is (server default on create)
  int timeout_seconds = 0;  // 0: leave as is
  std::vector<std::string> env;
  std::string role;
  // Template deploys (no NAME PATH).
  std::string template_path;
  std::string stack_name;
  std::vector<std::string> parameter_overrides;
  bool watch = false;
};

int Deploy(const Globals& g, const DeployArgs& args) {
  auto env = ParseEnvAssignments(args.env);
  if (!env) return Fail(env.error());
  auto api = Connect(g);
  if (!api) return Fail(api.error());
  Progress zipping(StderrIsTerminal());
  auto zip = LoadPackage(args.path, args.path, zipping, kProgressThreshold);
  zipping.Done();
  if (!zip) return Fail(zip.error());

  const bool show = StderrIsTerminal() && zip->size() >= kProgressThreshold;
  Progress progress(show);
  http::SendOptions upload;
  upload.timeout = kUploadTimeout;
  upload.on_upload_progress = [&](uint64_t sent, uint64_t total) {
    progress.Show(fmt::format("uploading {}: {}% ({} of {})", args.name, sent * 100 / total,
                              Mb(sent), Mb(total)));
  };

  json::object config;
  config["Runtime"] = args.runtime;
  config["Handler"] = args.handler;
  if (args.memory_mb > 0) config["MemorySize"] = args.memory_mb;
  if (args.timeout_seconds > 0) config["Timeout"] = args.timeout_seconds;
  if (!args.env.empty()) {
    json::object vars;
    for (const auto& [k, v] : *env) vars[k] = v;
    config["Environment"] = json::object{{"Variables", std::move(vars)}};
  }
  if (!args.role.empty()) config["Role"] = args.role;

  auto existing = api->Call("GET", FunctionPath(args.name), nullptr);
  json::object result;
  if (!existing.has_value() && existing.error().code() == Code::kNotFound) {
    json::object create = config;
    create["FunctionName"] = args.name;
    if (args.role.empty()) create["Role"] = kDefaultRole;
    create["Code"] = json::object{{"ZipFile", Base64Encode(*zip)}};
    auto created = api->Call("POST", "/2015-03-31/functions", &create, upload);
    progress.Done();
    if (!created) return Fail(created.error());
    Status settled = WaitUntilSettled(*api, args.name);
    if (!settled.ok()) return Fail(settled);
    result = std::move(created).value();
    std::cerr << "nimbus: created " << args.name << '\n';
  } else if (!existing.has_value()) {
    return Fail(existing.error());
  } else {
    json::object code{{"ZipFile", Base64Encode(*zip)}};
    auto updated = api->Call("PUT", FunctionPath(args.name) + "/code", &code, upload);
    progress.Done();
    if (!updated) return Fail(updated.error());
    Status settled = WaitUntilSettled(*api, args.name);
    if (!settled.ok()) return Fail(settled);
    auto configured = api->Call("PUT", FunctionPath(args.name) + "/configuration", &config);
    if (!configured) return Fail(configured.error());
    settled = WaitUntilSettled(*api, args.name);
    if (!settled.ok()) return Fail(settled);
    result = std::move(configured).value();
    std::cerr << "nimbus: updated " << args.name << '\n';
  }
  std::cout << fmt::format("{}\t{}\t{} bytes\t{}\n", JsonString(result, "FunctionArn"),
                           JsonString(result, "Runtime"), JsonInt(result, "CodeSize"),
                           JsonString(result, "CodeSha256"));
  return 0;
}

// `nimbus deploy NAME PATH ...` deploys one function; `nimbus deploy` without
// them deploys a SAM template. Each form's options are refused in the other.
int DeployCommand(const Globals& g, const DeployArgs& args) {
  if (!args.name.empty() || !args.path.empty()) {
    if (args.path.empty()) {
      return Fail(InvalidArgument("deploy NAME PATH: PATH (a directory or .zip file) is missing"));
    }
    if (!args.template_path.empty() || !args.stack_name.empty() || !args.parameter_overrides.empty() || args.watch) {
      return Fail(InvalidArgument(
          "deploy NAME PATH deploys one function; --template, --stack-name, --parameter-overrides and --watch are "
          "for template deploys (nimbus deploy without NAME PATH)"));
    }
    if (args.runtime.empty() || args.handler.empty()) {
      return Fail(InvalidArgument("deploy NAME PATH needs --runtime and --handler"));
    }
    return Deploy(g, args);
  }
  if (!args.runtime.empty() || !args.handler.empty() || args.memory_mb != 0 || args.timeout_seconds != 0 ||
      !args.env.empty() || !args.role.empty()) {
    return Fail(InvalidArgument(
        "--runtime, --handler, --memory, --timeout, --env and --role are for deploy NAME PATH; a template sets "
        "them for each function"));
  }
  TemplateDeployArgs t;
  t.endpoint = g.endpoint;
  t.template_path = args.template_path;
  t.stack_name = args.stack_name;
  t.parameter_overrides = args.parameter_overrides;
  t.watch = args.watch;
  return DeployTemplate(t);
}

// ---- invoke ----

struct InvokeArgs {
  std::string name;
  std::string payload;
  bool log_tail = false;
  std::string qualifier;
};

int Invoke(const Globals& g, const InvokeArgs& args) {
  auto api = Connect(g);
  if (!api) return Fail(api.error());
  std::string payload = args.payload.empty() ? "{}" : args.payload;
  if (payload[0] == '@') {
    std::ifstream in(payload.substr(1), std::ios::binary);
    if (!in) return Fail(InvalidArgument(fmt::format("--payload: cannot read {}", payload.substr(1))));
    std::ostringstream data;
    data << in.rdbuf();
    payload = data.str();
  }
  http::Request req;
  req.method = "POST";
  req.target = FunctionPath(args.name) + "/invocations";
  if (!args.qualifier.empty()) req.target += "?Qualifier=" + PercentEncode(args.qualifier);
  req.headers.Set("Content-Type", "application/json");
  if (args.log_tail) req.headers.Set("X-Amz-Log-Type", "Tail");
  req.body = std::move(payload);
  http::SendOptions options;
  options.timeout = kInvokeTimeout;
  auto res = api->Raw(std::move(req), options);
  if (!res) return Fail(res.error());
  if (res->status < 200 || res->status >= 300) return Fail(Internal(api->DescribeError(*res)));

  if (args.log_tail) {
    if (auto log = res->headers.Get("X-Amz-Log-Result")) {
      auto decoded = Base64Decode(*log);
      if (decoded) {
        std::cerr << *decoded;
        if (!decoded->empty() && decoded->back() != '\n') std::cerr << '\n';
      } else {
        std::cerr << "nimbus: X-Amz-Log-Result is not valid base64\n";
      }
    }
  }
  std::cout << res->body;
  if (!res->body.empty() && res->body.back() != '\n') std::cout << '\n';
  std::cout.flush();
  if (auto error = res->headers.Get("X-Amz-Function-Error")) {
    // The payload is the runtime's {"errorType","errorMessage",...}.
    boost::system::error_code ec;
    json::value v = json::parse(res->body, ec);
    std::string detail;
    if (!ec && v.is_object()) {
      detail = JsonString(v.get_object(), "errorType");
      std::string message = JsonString(v.get_object(), "errorMessage");
      if (!message.empty()) detail += (detail.empty() ? "" : ": ") + message;
    }
    std::cerr << fmt::format("nimbus: function error ({}){}{}\n", *error, detail.empty() ? "" : ": ",
                             detail);
    return 1;
  }
  return 0;
}

// ---- list / delete ----

int List(const Globals& g) {
  auto api = Connect(g);
  if (!api) return Fail(api.error());
  std::vector<FunctionRow> rows;
  std::string marker;
  do {
    std::string target = "/2015-03-31/functions?MaxItems=50";
    if (!marker.empty()) target += "&Marker=" + PercentEncode(marker);
    auto page = api->Call("GET", target, nullptr);
    if (!page) return Fail(page.error());
    if (const json::value* fns = page->if_contains("Functions"); fns && fns->is_array()) {
      for (const auto& f : fns->get_array()) {
        if (!f.is_object()) continue;
        const auto& o = f.get_object();
        rows.push_back(FunctionRow{JsonString(o, "FunctionName"), JsonString(o, "Runtime"),
                                   static_cast<int>(JsonInt(o, "MemorySize")), JsonString(o, "LastModified")});
      }
    }
    marker = JsonString(*page, "NextMarker");
  } while (!marker.empty());
  std::cout << FormatFunctionTable(rows);
  return 0;
}

int Delete(const Globals& g, const std::string& name) {
  auto api = Connect(g);
  if (!api) return Fail(api.error());
  auto r = api->Call("DELETE", FunctionPath(name), nullptr);
  if (!r) return Fail(r.error());
  std::cerr << "nimbus: deleted " << name << '\n';
  return 0;
}

// ---- logs ----

struct LogsArgs {
  std::string name;
  bool follow = false;
  std::string since = "10m";
};

int Logs(const Globals& g, const LogsArgs& args) {
  auto since = ParseSince(args.since);
  if (!since) return Fail(since.error());
  auto api = Connect(g);
  if (!api) return Fail(api.error());
  auto clock = NewRealClock();
  const std::string group = "/aws/lambda/" + args.name;
  int64_t start = ToUnixMillis(clock->Now()) - since->count();
  // Events already printed, by eventId; only those at or after `start` are kept,
  // because the next poll asks from `start` again.
  std::map<std::string, int64_t> seen;
  for (;;) {
    std::string token;
    int64_t newest = start;
    do {
      json::object req{{"logGroupName", group}, {"startTime", start}};
      if (!token.empty()) req["nextToken"] = token;
      auto page = api->Logs("FilterLogEvents", req);
      if (!page) {
        // A function that never logged has no group yet: nothing to show.
        if (page.error().code() == Code::kInvalidArgument &&
            page.error().message().rfind("ResourceNotFoundException", 0) == 0) {
          break;
        }
        return Fail(page.error());
      }
      if (const json::value* events = page->if_contains("events"); events && events->is_array()) {
        for (const auto& e : events->get_array()) {
          if (!e.is_object()) continue;
          const auto& o = e.get_object();
          const int64_t ts = JsonInt(o, "timestamp");
          if (!seen.emplace(JsonString(o, "eventId"), ts).second) continue;
          newest = std::max(newest, ts);
          std::cout << FormatLogLine(ts, JsonString(o, "logStreamName"), JsonString(o, "message"));
        }
      }
      token = JsonString(*page, "nextToken");
    } while (!token.empty());
    std::cout.flush();
    if (!args.follow) return 0;
    start = newest;
    std::erase_if(seen, [&](const auto& kv) { return kv.second < start; });
    std::this_thread::sleep_for(kFollowPoll);
  }
}

// ---- usage ----

struct UsageArgs {
  std::string function;
  std::string since = "24h";
  bool json = false;
};

double Num(const json::object& o, const char* k) {
  const json::value* v = o.if_contains(k);
  return v && v->is_number() ? v->to_number<double>() : 0;
}

int Usage(const Globals& g, const UsageArgs& args) {
  auto since = ParseSince(args.since);
  if (!since) return Fail(since.error());
  auto api = Connect(g);
  if (!api) return Fail(api.error());
  auto clock = NewRealClock();
  const int64_t end = ToUnixMillis(clock->Now()) / 1000 + 60;
  const int64_t start = (ToUnixMillis(clock->Now()) - since->count()) / 1000;
  std::string target = fmt::format("/nimbus/usage?start={}&end={}", start, end);
  if (!args.function.empty()) target += "&function=" + PercentEncode(args.function);
  auto report = api->Call("GET", target, nullptr);
  if (!report) return Fail(report.error());
  if (args.json) {
    std::cout << json::serialize(*report) << '\n';
    return 0;
  }
  std::cout << fmt::format("{:<40} {:>10} {:>16} {:>14} {:>12}\n", "FUNCTION", "REQUESTS", "BILLED (ms)", "GB-SECONDS",
                           "COST (USD)");
  auto row = [](const std::string& name, const json::object& o) {
    return fmt::format("{:<40} {:>10} {:>16} {:>14.4f} {:>12.6f}\n", name, static_cast<uint64_t>(Num(o, "Requests")),
                       static_cast<uint64_t>(Num(o, "BilledDurationMs")), Num(o, "GBSeconds"), Num(o, "Cost"));
  };
  if (const json::value* fns = report->if_contains("Functions"); fns && fns->is_array()) {
    for (const auto& f : fns->get_array()) {
      if (f.is_object()) std::cout << row(JsonString(f.get_object(), "FunctionName"), f.get_object());
    }
  }
  if (const json::value* total = report->if_contains("Total"); total && total->is_object()) {
    std::cout << row("TOTAL", total->get_object());
  }
  return 0;
}

}  // namespace

void RegisterClientCommands(CLI::App& app) {
  // Owned by the callbacks registered below, which live as long as `app`.
  auto g = std::make_shared<Globals>();
  app.add_option("--endpoint", g->endpoint, "Nimbus server URL")
      ->envname("NIMBUS_ENDPOINT")
      ->capture_default_str();

  {
    auto args = std::make_shared<DeployArgs>();
    CLI::App* cmd = app.add_subcommand(
        "deploy",
        "Create or update a function from a directory or .zip (NAME PATH), or everything in an AWS SAM template "
        "(no NAME PATH: ./template.yaml or --template)");
    cmd->fallthrough();
    cmd->add_option("NAME", args->name, "Function name (omit to deploy a template)");
    cmd->add_option("PATH", args->path, "Directory (zipped with modes and symlinks) or .zip file");
    cmd->add_option("--runtime", args->runtime, "Runtime, e.g. python3.12, nodejs20.x, provided.al2023 (NAME PATH)");
    cmd->add_option("--handler", args->handler, "Handler, e.g. app.handler (NAME PATH)");
    cmd->add_option("--memory", args->memory_mb, "Memory in MB (128..10240)")
        ->check(CLI::Range(128, 10240));
    cmd->add_option("--timeout", args->timeout_seconds, "Timeout in seconds (1..900)")
        ->check(CLI::Range(1, 900));
    cmd->add_option("--env", args->env, "Environment variable KEY=VALUE (repeatable)");
    cmd->add_option("--role", args->role, "Execution role ARN");
    cmd->add_option("--template,-t", args->template_path, "SAM template to deploy (default: ./template.yaml)");
    cmd->add_option("--stack-name", args->stack_name,
                    "Stack name, the prefix of generated names (default: the template directory's name)");
    cmd->add_option("--parameter-overrides", args->parameter_overrides,
                    "Template parameter values: Key=Value (repeatable)");
    cmd->add_flag("--watch", args->watch,
                  "After deploying the template, deploy again whenever it or a CodeUri/ContentUri changes, until "
                  "Ctrl-C");
    cmd->callback([g, args] { RunCommand([&] { return DeployCommand(*g, *args); }); });
  }
  {
    auto args = std::make_shared<InvokeArgs>();
    CLI::App* cmd = app.add_subcommand("invoke", "Invoke a function and print its response");
    cmd->fallthrough();
    cmd->add_option("NAME", args->name, "Function name")->required();
    cmd->add_option("--payload", args->payload, "Event JSON, or @file (default {})");
    cmd->add_flag("--log-tail", args->log_tail, "Print the last 4 KB of the log to stderr");
    cmd->add_option("--qualifier", args->qualifier, "Version or alias");
    cmd->callback([g, args] { RunCommand([&] { return Invoke(*g, *args); }); });
  }
  {
    CLI::App* cmd = app.add_subcommand("list", "List functions");
    cmd->fallthrough();
    cmd->callback([g] { RunCommand([&] { return List(*g); }); });
  }
  {
    auto name = std::make_shared<std::string>();
    CLI::App* cmd = app.add_subcommand("delete", "Delete a function");
    cmd->fallthrough();
    cmd->add_option("NAME", *name, "Function name")->required();
    cmd->callback([g, name] { RunCommand([&] { return Delete(*g, *name); }); });
  }
  {
    auto args = std::make_shared<LogsArgs>();
    CLI::App* cmd = app.add_subcommand("logs", "Print a function's logs");
    cmd->fallthrough();
    cmd->add_option("NAME", args->name, "Function name")->required();
    cmd->add_flag("--follow,-f", args->follow, "Keep polling for new events until interrupted");
    cmd->add_option("--since", args->since, "How far back to start: 90s, 10m, 2h, 1d")
        ->capture_default_str();
    cmd->callback([g, args] { RunCommand([&] { return Logs(*g, *args); }); });
  }
  {
    auto args = std::make_shared<UsageArgs>();
    CLI::App* cmd = app.add_subcommand("usage", "Requests, billed duration, GB-seconds and cost per function");
    cmd->fallthrough();
    cmd->add_option("--function", args->function, "Only this function");
    cmd->add_option("--since", args->since, "The period: 90s, 10m, 2h, 1d back from now")->capture_default_str();
    cmd->add_flag("--json", args->json, "Print the report as JSON");
    cmd->callback([g, args] { RunCommand([&] { return Usage(*g, *args); }); });
  }
  RegisterKeysCommands(app, [g] { return g->endpoint; });
}

}  // namespace nimbus::cli
