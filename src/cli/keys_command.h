// `nimbus keys`: the server's access keys (issue #8), through its admin-only
// API /nimbus/keys (auth/keys_api.h). An admin key is needed; an invoke-only
// key is refused with AccessDeniedException.
//
//   nimbus keys list [--json]                  a table: ACCESS KEY ID, POLICY, CREATED
//   nimbus keys create [--invoke-only] [--json]
//                                              the new key's id and secret (shown only
//                                              this once) and an `export` line for them
//   nimbus keys delete ACCESS_KEY_ID           refused for the last admin key
//
// Results go to stdout, progress and errors to stderr ("nimbus: <error>").
// Runs on the calling thread.
#pragma once

#include <functional>
#include <string>

namespace CLI {
class App;
}

namespace nimbus::cli {

// Adds the `keys` subcommand to `app`. `endpoint` gives the server URL (the
// global --endpoint) when a command runs. A failing command throws
// CLI::RuntimeError(1), as the other client commands do (commands.h).
void RegisterKeysCommands(CLI::App& app, std::function<std::string()> endpoint);

}  // namespace nimbus::cli
