#include "cli/keys_command.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <iostream>
#include <memory>
#include <vector>

#include "cli/api_client.h"
#include "cli/credentials.h"
#include "cli/format.h"

namespace nimbus::cli {
namespace {

namespace json = boost::json;

constexpr char kKeysPath[] = "/nimbus/keys";

int Fail(const Status& s) {
  std::cerr << "nimbus: " << s.message() << '\n';
  return 1;
}

void Run(const std::function<int()>& body) {
  if (int rc = body(); rc != 0) throw CLI::RuntimeError(rc);
}

std::string PolicyLabel(const std::string& policy) {
  return policy == "invoke" ? "invoke-only" : policy;
}

int List(const std::string& endpoint, bool as_json) {
  auto api = Connect(endpoint);
  if (!api) return Fail(api.error());
  auto listed = api->Call("GET", kKeysPath, nullptr);
  if (!listed) return Fail(listed.error());
  if (as_json) {
    std::cout << json::serialize(*listed) << '\n';
    return 0;
  }
  std::vector<std::array<std::string, 3>> rows{{"ACCESS KEY ID", "POLICY", "CREATED"}};
  if (const json::value* keys = listed->if_contains("AccessKeys"); keys && keys->is_array()) {
    for (const json::value& k : keys->get_array()) {
      if (!k.is_object()) continue;
      const json::object& o = k.get_object();
      rows.push_back({JsonString(o, "AccessKeyId"), PolicyLabel(JsonString(o, "Policy")),
                      FormatIsoMillis(JsonInt(o, "Created"))});
    }
  }
  size_t width[2] = {0, 0};
  for (const auto& r : rows) {
    for (int i = 0; i < 2; ++i) width[i] = std::max(width[i], r[i].size());
  }
  for (const auto& r : rows)
    std::cout << fmt::format("{:<{}}  {:<{}}  {}\n", r[0], width[0], r[1], width[1], r[2]);
  return 0;
}

int Create(const std::string& endpoint, bool invoke_only, bool as_json) {
  auto api = Connect(endpoint);
  if (!api) return Fail(api.error());
  json::object body{{"Policy", invoke_only ? "invoke" : "admin"}};
  auto created = api->Call("POST", kKeysPath, &body);
  if (!created) return Fail(created.error());
  const std::string id = JsonString(*created, "AccessKeyId");
  const std::string secret = JsonString(*created, "SecretAccessKey");
  if (as_json) {
    std::cout << json::serialize(*created) << '\n';
  } else {
    // The secret is base64 ([A-Za-z0-9+/]): the export line needs no quoting.
    std::cout << fmt::format(
        "AccessKeyId:     {}\nSecretAccessKey: {}\nPolicy:          {}\n\nexport "
        "AWS_ACCESS_KEY_ID={} "
        "AWS_SECRET_ACCESS_KEY={}\n",
        id, secret, PolicyLabel(JsonString(*created, "Policy")), id, secret);
  }
  std::cerr << fmt::format("nimbus: created {} access key {}; its secret is shown only this once\n",
                           PolicyLabel(JsonString(*created, "Policy")), id);
  return 0;
}

int Delete(const std::string& endpoint, const std::string& id) {
  auto api = Connect(endpoint);
  if (!api) return Fail(api.error());
  auto deleted = api->Call("DELETE", std::string(kKeysPath) + "/" + PercentEncode(id), nullptr);
  if (!deleted) return Fail(deleted.error());
  std::cerr << "nimbus: deleted access key " << id << '\n';
  return 0;
}

// The export line for the key this CLI signs with, read locally (no request):
// the server's own admin key on its machine, for the AWS CLI and SDKs.
int Env() {
  ClientCredentials c = FindClientCredentials();
  if (c.source == ClientCredentials::Source::kPlaceholder) {
    return Fail(InvalidArgument(fmt::format(
        "no access key found: AWS_ACCESS_KEY_ID is not set and {} cannot be read (set NIMBUS_DATA_DIR to the "
        "server's --data-dir, or run as the user that runs the server)",
        c.key_file.string())));
  }
  // Ids and secrets are [A-Za-z0-9+/]: no quoting needed.
  std::cout << fmt::format("export AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY={}", c.credentials.access_key_id,
                           c.credentials.secret_access_key);
  if (!c.credentials.session_token.empty()) std::cout << " AWS_SESSION_TOKEN=" << c.credentials.session_token;
  std::cout << '\n';
  return 0;
}

}  // namespace

void RegisterKeysCommands(CLI::App& app, std::function<std::string()> endpoint) {
  CLI::App* keys = app.add_subcommand(
      "keys", "Manage the server's access keys (admin keys only): list, create, delete");
  keys->fallthrough();
  keys->require_subcommand(1);
  {
    auto as_json = std::make_shared<bool>(false);
    CLI::App* cmd = keys->add_subcommand(
        "list", "List the access keys: id, policy, creation time (never secrets)");
    cmd->fallthrough();
    cmd->add_flag("--json", *as_json, "Print the list as JSON");
    cmd->callback([endpoint, as_json] { Run([&] { return List(endpoint(), *as_json); }); });
  }
  {
    auto invoke_only = std::make_shared<bool>(false);
    auto as_json = std::make_shared<bool>(false);
    CLI::App* cmd = keys->add_subcommand(
        "create", "Create an access key and print its id and secret (shown only this once)");
    cmd->fallthrough();
    cmd->add_flag("--invoke-only", *invoke_only, "The key may invoke functions and nothing else");
    cmd->add_flag("--json", *as_json, "Print the new key as JSON");
    cmd->callback([endpoint, invoke_only, as_json] {
      Run([&] { return Create(endpoint(), *invoke_only, *as_json); });
    });
  }
  {
    CLI::App* cmd = keys->add_subcommand(
        "env", "Print `export AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=...` for the key this CLI signs with "
               "(the environment's, else the server's admin key from <data-dir>/credentials.json): "
               "eval \"$(nimbus keys env)\" lets the AWS CLI and SDKs use it");
    cmd->fallthrough();
    cmd->callback([] { Run([] { return Env(); }); });
  }
  {
    auto id = std::make_shared<std::string>();
    CLI::App* cmd =
        keys->add_subcommand("delete", "Delete an access key; it stops working at once");
    cmd->fallthrough();
    cmd->add_option("ACCESS_KEY_ID", *id, "The key's id (AKIA...)")->required();
    cmd->callback([endpoint, id] { Run([&] { return Delete(endpoint(), *id); }); });
  }
}

}  // namespace nimbus::cli
