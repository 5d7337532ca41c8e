// The client subcommands of the `nimbus` binary: deploy (one function, or an AWS
// SAM template: sam_command.h), invoke, list, delete, logs, usage, keys
// (keys_command.h). They talk to a running `nimbus serve` over HTTP (ApiClient:
// the Lambda REST API and the other APIs on the same port), print results on
// stdout and progress and errors on stderr.
#pragma once

namespace CLI {
class App;
}

namespace nimbus::cli {

// Adds the subcommands and the global option `--endpoint URL` (default: the
// NIMBUS_ENDPOINT environment variable, else http://127.0.0.1:8777) to `app`.
// A failing command prints "nimbus: <error>" to stderr and ends with a non-zero
// exit code by throwing CLI::RuntimeError(code) from its callback, which is how
// CLI11 callbacks report exit codes: `main` must run the app through CLI11_PARSE
// (or catch CLI::Error and return app.exit(e)). `app` must outlive parsing.
void RegisterClientCommands(CLI::App& app);

}  // namespace nimbus::cli
