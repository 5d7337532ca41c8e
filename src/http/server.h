// HTTP/1.1 server on a Reactor: keep-alive connections, one request at a time per
// connection, handlers that answer now or later. Used for the public API port and
// for every execution environment's Runtime API socket.
//
// Concurrency: confined to its reactor. Handlers are called on the reactor thread;
// a Responder may be completed from any thread (it posts to the reactor).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "base/reactor.h"
#include "base/status.h"
#include "base/unique_fd.h"
#include "http/message.h"

namespace nimbus::http {

// Completes one request. Move-only; calling Respond() more than once is a bug.
// If the connection is already gone, Respond() drops the response. If a Responder
// is destroyed without Respond(), the connection is closed.
class Responder {
 public:
  struct State;
  Responder() = default;
  explicit Responder(std::shared_ptr<State> state) : state_(std::move(state)) {}
  Responder(Responder&&) noexcept = default;
  Responder& operator=(Responder&&) noexcept = default;
  ~Responder();

  void Respond(Response response);
  bool valid() const { return state_ != nullptr; }

 private:
  std::shared_ptr<State> state_;  // co-owned with the connection that made it
};

using Handler = std::function<void(Request&& request, Responder responder)>;

struct ListenerOptions {
  // Requests with a larger declared body reach the handler with body_too_large set.
  // Default 80 MiB: a 50 MB zip in base64 inside CreateFunction's JSON is ~67 MiB.
  uint64_t max_body_bytes = 80ull << 20;
  // Value of the Server header; empty for none.
  std::string server_name;
};

// A listening socket being served. Destroying it stops accepting and closes every
// connection accepted from it. Confined to the reactor thread.
class Listener {
 public:
  virtual ~Listener() = default;
  virtual uint16_t port() const = 0;
  // Number of open connections (for tests and metrics).
  virtual size_t connection_count() const = 0;
  // Connections with a request being handled or a response being written.
  virtual size_t busy_count() const = 0;
  // Closes the listening socket; open connections keep being served (graceful
  // shutdown: in-flight requests still get their responses).
  virtual void StopAccepting() = 0;
};

// Binds host:port (port 0 picks a free port) and serves it. REQUIRES: on the
// reactor thread, or before the reactor starts.
Result<std::unique_ptr<Listener>> Listen(Reactor& reactor, const std::string& host,
                                         uint16_t port, Handler handler,
                                         ListenerOptions options = {});

// Serves an already listening socket (e.g. one created inside an execution
// environment's network namespace). Takes ownership of `fd`.
Result<std::unique_ptr<Listener>> Serve(Reactor& reactor, UniqueFd fd, Handler handler,
                                        ListenerOptions options = {});

}  // namespace nimbus::http
