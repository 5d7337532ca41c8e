// The nimbus executable: `nimbus serve` runs the platform; every other
// subcommand is a client of a running server (src/cli). Untested wiring: it
// reads flags and the process environment, builds the real Clock and
// SandboxFactory, and hands them to server::Server.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "base/clock.h"
#include "base/log.h"
#include "cli/commands.h"
#include "cli/credentials.h"
#include "sandbox/sandbox.h"
#include "server/server.h"

namespace {

namespace fs = std::filesystem;

// The runtime clients: <build>/runtimes, assembled by the build (runtimes/ plus
// the Java jars), or installed under <prefix>/share/nimbus/runtimes.
fs::path DefaultRuntimeDir() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    fs::path installed = exe.parent_path().parent_path() / "share/nimbus/runtimes";
    if (fs::exists(installed / "python")) return installed;
  }
  return NIMBUS_SOURCE_RUNTIMES_DIR;
}

// `nimbus serve`'s flags, with their defaults.
struct ServeFlags {
  std::string listen = "127.0.0.1:8777";
  // NIMBUS_DATA_DIR, else /var/lib/nimbus as root, else $XDG_DATA_HOME/nimbus or ~/.local/share/nimbus
  // (shared with the client commands, which read their admin key from there).
  std::string data_dir = nimbus::cli::DefaultDataDir().string();
  std::string runtime_dir;
  int keep_alive = 300;
  int max_concurrency = 1000;
  double async_retry_scale = 1.0;
  int async_max_in_flight = 32;
  int stem_cells = 2;
  double price_per_gb_second = 0.0000166667;
  double price_per_million_requests = 0.20;
  std::string otlp_endpoint;
  std::string console_dir;
  int disk_reserve_mb = 64;
  std::string auth = "verify";
  bool verbose = false;
};

int Serve(const ServeFlags& flags) {
  if (flags.verbose) nimbus::log::SetMinLevel(nimbus::log::Level::kDebug);
  const std::string& listen = flags.listen;
  nimbus::server::ServerOptions options;
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos) {
    std::fprintf(stderr, "nimbus: --listen wants HOST:PORT, got %s\n", listen.c_str());
    return 2;
  }
  options.listen_host = listen.substr(0, colon);
  if (options.listen_host.size() > 2 && options.listen_host.front() == '[') {
    options.listen_host = options.listen_host.substr(1, options.listen_host.size() - 2);
  }
  // The listener takes addresses, not names.
  if (options.listen_host == "localhost") options.listen_host = "127.0.0.1";
  try {
    int port = std::stoi(listen.substr(colon + 1));
    if (port < 0 || port > 65535) throw std::out_of_range("port");
    options.listen_port = static_cast<uint16_t>(port);
  } catch (const std::exception&) {
    std::fprintf(stderr, "nimbus: --listen: bad port in %s\n", listen.c_str());
    return 2;
  }
  options.data_dir = flags.data_dir;
  options.runtime_dir = flags.runtime_dir.empty() ? DefaultRuntimeDir() : fs::path(flags.runtime_dir);
  options.keep_alive = std::chrono::seconds(flags.keep_alive);
  options.max_concurrency = flags.max_concurrency;
  options.async_retry_scale = flags.async_retry_scale;
  options.async_max_in_flight = flags.async_max_in_flight;
  options.stem_cells_per_runtime = flags.stem_cells;
  options.price_per_gb_second = flags.price_per_gb_second;
  options.price_per_million_requests = flags.price_per_million_requests;
  options.otlp_endpoint = flags.otlp_endpoint;
  options.console_dir = flags.console_dir;
  options.disk_reserve_bytes = static_cast<uint64_t>(flags.disk_reserve_mb) << 20;
  options.auth_mode = flags.auth == "dev" ? nimbus::auth::Mode::kAnyCredentials : nimbus::auth::Mode::kVerify;

  // Signals are taken synchronously by this thread; block them before any other
  // thread exists so every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // A client that disconnects mid-write must not kill the server.
  ::signal(SIGPIPE, SIG_IGN);

  auto clock = nimbus::NewRealClock();
  auto sandboxes = nimbus::sandbox::NewLinuxSandboxFactory({});
  if (!sandboxes.has_value()) {
    std::fprintf(stderr, "nimbus: cannot create execution environments: %s\n",
                 sandboxes.error().ToString().c_str());
    return 1;
  }
  for (const std::string& w : (*sandboxes)->capabilities().warnings) {
    nimbus::log::Warn("sandbox: not enforced on this host: {}", w);
  }
  auto server = nimbus::server::Server::Start(*clock, **sandboxes, options);
  if (!server.has_value()) {
    std::fprintf(stderr, "nimbus: %s\n", server.error().ToString().c_str());
    return 1;
  }
  nimbus::log::Info("data directory {}, runtimes from {}", options.data_dir.string(),
                    options.runtime_dir.string());
  std::printf("listening on %s\n", (*server)->endpoint().c_str());
  std::fflush(stdout);

  int sig = 0;
  sigwait(&signals, &sig);
  nimbus::log::Info("received {}, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  (*server)->Shutdown();
  server->reset();
  nimbus::log::Info("stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Nimbus: a self-hosted, AWS Lambda-compatible serverless platform"};
  app.require_subcommand(1);

  auto* serve = app.add_subcommand("serve", "Run the platform (all APIs on one port)");
  ServeFlags f;
  serve->add_option("--listen", f.listen, "HOST:PORT to listen on (port 0 picks a free port)")
      ->capture_default_str();
  serve->add_option("--data-dir", f.data_dir, "Where functions, code and logs are kept")
      ->capture_default_str();
  serve->add_option("--runtime-dir", f.runtime_dir, "Directory with Nimbus' runtime clients");
  serve->add_option("--keep-alive", f.keep_alive, "Seconds an idle execution environment stays warm")
      ->check(CLI::Range(1, 86400))
      ->capture_default_str();
  serve->add_option("--max-concurrency", f.max_concurrency, "Account concurrency limit")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  serve->add_option("--async-retry-scale", f.async_retry_scale,
                    "Multiplier of async retry delays (1 min / 2 min, 1 s..5 min backoff)")
      ->check(CLI::Range(0.0, 100.0))
      ->capture_default_str();
  serve->add_option("--async-concurrency", f.async_max_in_flight,
                    "Async invocation attempts running at once")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  serve->add_option("--stem-cells", f.stem_cells,
                    "Pre-started Python and Node environments kept ready per runtime for cold "
                    "starts (0: none; needs root)")
      ->check(CLI::Range(0, 1000))
      ->capture_default_str();
  serve->add_option("--price-per-gb-second", f.price_per_gb_second,
                    "Metering: price of one GB-second of billed duration (nimbus usage)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  serve->add_option("--price-per-million-requests", f.price_per_million_requests,
                    "Metering: price of one million requests (nimbus usage)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  serve->add_option("--otlp-endpoint", f.otlp_endpoint,
                    "OpenTelemetry collector (http://host:4318) that gets a span per invocation (OTLP/HTTP JSON)")
      ->envname("NIMBUS_OTLP_ENDPOINT");
  serve->add_option("--console-dir", f.console_dir,
                    "Serve the web console's files from this directory (src/console/web) instead of the binary")
      ->check(CLI::ExistingDirectory);
  serve->add_option("--disk-reserve-mb", f.disk_reserve_mb,
                    "Free space (MiB) kept in the data directory for deletes: writes that add data are refused "
                    "while less would remain")
      ->check(CLI::Range(0, 1 << 20))
      ->capture_default_str();
  serve->add_option("--auth", f.auth,
                    "verify: every API request must be signed (SigV4) with a key from <data-dir>/credentials.json, "
                    "created with an admin key on first start; dev: accept any credentials (loopback only)")
      ->check(CLI::IsMember({"verify", "dev"}))
      ->envname("NIMBUS_AUTH")
      ->capture_default_str();
  serve->add_flag("-v,--verbose", f.verbose, "Debug logging");

  nimbus::cli::RegisterClientCommands(app);

  CLI11_PARSE(app, argc, argv);
  if (serve->parsed()) {
    return Serve(f);
  }
  // Client commands ran as CLI11 callbacks during parsing; failures exited there.
  return 0;
}
