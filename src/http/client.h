// HttpClient: a small synchronous HTTP/1.1 client (plain http only) for the
// `nimbus` command-line client and the daemon's exports (OTLP traces). One request
// per connection, with a deadline on connecting and on the whole exchange.
// Boost.Beast stays inside client.cc (it is slow to compile).
//
// Thread-compatible; each Send() uses its own connection and I/O context.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "http/message.h"

namespace nimbus::http {

// "http://host[:port][/base]", parsed.
struct Endpoint {
  std::string url;        // as given, without a trailing '/'
  std::string host;       // "127.0.0.1", "localhost", "[::1]" → "::1"
  uint16_t port = 80;
  std::string base_path;  // "" or "/prefix" (prepended to every request target)
};

// Errors: kInvalidArgument for anything but an http:// URL with a host.
Result<Endpoint> ParseEndpoint(std::string_view url);

// The Host header for requests to `endpoint`: "host", or "host:port" when the
// port is not 80 ("[::1]:8777" for IPv6).
std::string HostHeader(const Endpoint& endpoint);

struct SendOptions {
  // Resolving and connecting (default 5 s: a local server answers in
  // microseconds; a remote one in well under a second).
  std::chrono::milliseconds connect_timeout{5000};
  // Sending the request and reading the whole response (default 60 s). Invoke
  // needs the function's timeout (up to 900 s) on top.
  std::chrono::milliseconds timeout{60000};
  // Called while the body is sent with (body bytes sent, body size).
  std::function<void(uint64_t, uint64_t)> on_upload_progress;
};

class HttpClient {
 public:
  explicit HttpClient(Endpoint endpoint) : endpoint_(std::move(endpoint)) {}

  // Sends `request` (method, target, headers, body; Content-Length is added, and
  // Host (HostHeader) unless the request has one, e.g. because it is signed)
  // to endpoint().base_path + request.target and returns the response, whatever
  // its status. Errors:
  //   kUnavailable       "cannot connect to <url>: <reason>" (refused, unresolvable)
  //   kDeadlineExceeded  "<url>: timed out connecting|waiting for the response"
  //   kUnavailable       "<url>: <reason>" when the connection breaks mid-exchange
  Result<Response> Send(const Request& request, const SendOptions& options) const;

  const Endpoint& endpoint() const { return endpoint_; }

 private:
  Endpoint endpoint_;
};

}  // namespace nimbus::http
