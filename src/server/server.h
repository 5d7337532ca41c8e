// server: the whole Nimbus platform as one object (cf. workerd's Server). Builds
// every component from ServerOptions and the injected Clock and SandboxFactory,
// serves all APIs on one HTTP port, and shuts down gracefully. main.cc is the
// only caller in production; tests build it with fakes.
//
// Threads: "reactor-0" (all network I/O, the invoke data plane), "blocking-N"
// (control-plane writes, sandbox launch/destroy, log reads), "log-writer".
// Start() and Shutdown() are called from one thread (main).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "auth/authenticator.h"
#include "base/clock.h"
#include "async/dispatcher.h"
#include "base/status.h"
#include "control/function.h"
#include "sandbox/sandbox.h"

namespace nimbus::server {

struct ServerOptions {
  // Address of the one HTTP port for every API. Port 0 picks a free port.
  std::string listen_host = "127.0.0.1";
  uint16_t listen_port = 8777;
  // Where functions, code packages and logs are kept (created if missing).
  std::filesystem::path data_dir;
  // Host directory with Nimbus' runtime clients, mounted at /var/runtime.
  std::filesystem::path runtime_dir;
  // Idle execution environments are reaped after this long.
  std::chrono::seconds keep_alive{300};
  // On shutdown, in-flight invocations get this long to finish.
  std::chrono::seconds shutdown_grace{10};
  // Threads for blocking work (sandbox launch, SQLite, unzip). Sandbox launches
  // are the hot user; two per core keeps cold starts parallel on small hosts.
  int blocking_threads = 4;
  int max_concurrency = 1000;
  // Asynchronous invocation: every retry delay is multiplied by this (1 min and
  // 2 min after function errors, 1 s..5 min backoff after throttles and platform
  // errors). 1 matches Lambda; tests use e.g. 0.01.
  double async_retry_scale = 1.0;
  // Async attempts running at once across all functions.
  int async_max_in_flight = 32;
  // Stem cells kept ready per runtime (invoke::InvokerOptions).
  int stem_cells_per_runtime = 2;
  // Inside every execution environment the same APIs are served at
  // http://127.0.0.1:<this> (AWS_ENDPOINT_URL), so that function code calls
  // Nimbus' S3, Lambda, ... with its SDK unchanged. 0: no endpoint inside.
  uint16_t sandbox_api_port = 4566;
  control::Region region;
  // Metering's price model (GET /nimbus/usage, `nimbus usage`); Lambda's x86
  // on-demand prices in us-east-1 by default.
  double price_per_gb_second = 0.0000166667;
  double price_per_million_requests = 0.20;
  // How often invocation metrics are written to <data>/metrics.db.
  std::chrono::milliseconds metrics_flush_every{2000};
  // An OpenTelemetry collector (http://host:port) that gets a span per
  // invocation as OTLP/HTTP JSON at /v1/traces; empty: no export.
  std::string otlp_endpoint;
  // The web console's files from this directory instead of the binary
  // (console::ConsoleOptions::dir); empty: the embedded console.
  std::filesystem::path console_dir;
  // Free space kept in the data directory's filesystem for deletes: writes that
  // add data are refused while less would remain (storage::DiskSpace).
  uint64_t disk_reserve_bytes = 64ull << 20;
  // kVerify: every API request must be signed with a key of
  // <data>/credentials.json (created with one admin key on first start).
  // kAnyCredentials (dev mode) accepts anything and is refused unless
  // listen_host is a loopback address.
  auth::Mode auth_mode = auth::Mode::kVerify;
};

class Server {
 public:
  // Opens storage, starts the reactor and listens. `clock` and `sandboxes` must
  // outlive the server.
  static Result<std::unique_ptr<Server>> Start(const Clock& clock,
                                               sandbox::SandboxFactory& sandboxes,
                                               ServerOptions options);
  // Shuts down if still running.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The bound port (useful with port 0).
  uint16_t port() const;
  // "http://127.0.0.1:8777"
  std::string endpoint() const;

  // Stops accepting requests, lets in-flight invocations finish (bounded by
  // shutdown_grace), stops every execution environment and waits until their
  // processes and cgroups are gone, flushes logs. Blocking. Idempotent.
  void Shutdown();

  // <data>/credentials.json, the access keys that may sign requests.
  const std::filesystem::path& credentials_file() const;

  // Counters of the async component, read on the reactor (for tests).
  async::AsyncStats async_stats() const;

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace nimbus::server
