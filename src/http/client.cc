#include "http/client.h"

#include <fmt/format.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>

namespace nimbus::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

// Responses larger than this are refused; the largest legitimate one is an
// Invoke payload (6 MB) or a page of log events (1 MB).
constexpr uint64_t kMaxResponseBytes = 64ull << 20;
// Bytes per write while sending a body, so progress can be reported.
constexpr size_t kWriteChunk = 256 << 10;

}  // namespace

std::string HostHeader(const Endpoint& endpoint) {
  const bool v6 = endpoint.host.find(':') != std::string::npos;
  std::string host = v6 ? "[" + endpoint.host + "]" : endpoint.host;
  if (endpoint.port != 80) host += ":" + std::to_string(endpoint.port);
  return host;
}

Result<Endpoint> ParseEndpoint(std::string_view url) {
  constexpr std::string_view kScheme = "http://";
  if (url.substr(0, kScheme.size()) != kScheme) {
    return InvalidArgument(fmt::format("endpoint {}: only http:// URLs are supported", url));
  }
  Endpoint e;
  std::string_view rest = url.substr(kScheme.size());
  while (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  e.url = std::string(url.substr(0, kScheme.size() + rest.size()));
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) e.base_path = std::string(rest.substr(slash));
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return InvalidArgument(fmt::format("endpoint {}: bad host", url));
    e.host = std::string(authority.substr(1, close - 1));
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return InvalidArgument(fmt::format("endpoint {}: bad host", url));
      port = authority.substr(close + 2);
    }
  } else {
    size_t colon = authority.rfind(':');
    e.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (e.host.empty()) return InvalidArgument(fmt::format("endpoint {}: missing host", url));
  if (!port.empty() || authority.find(':') != std::string_view::npos) {
    unsigned value = 0;
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || p != port.data() + port.size() || value == 0 || value > 65535) {
      return InvalidArgument(fmt::format("endpoint {}: bad port", url));
    }
    e.port = static_cast<uint16_t>(value);
  }
  return e;
}

Result<Response> HttpClient::Send(const Request& request,
                                        const SendOptions& options) const {
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  const std::string& url = endpoint_.url;

  // Every step is an async operation run to completion so that the stream's
  // expiry applies (Beast's synchronous calls ignore it).
  auto run = [&] {
    ioc.run();
    ioc.restart();
  };

  error_code ec;
  tcp::resolver resolver(ioc);
  tcp::resolver::results_type endpoints;
  resolver.async_resolve(endpoint_.host, std::to_string(endpoint_.port),
                         [&](error_code e, tcp::resolver::results_type r) {
                           ec = e;
                           endpoints = std::move(r);
                         });
  run();
  if (ec) return Unavailable(fmt::format("cannot connect to {}: {}", url, ec.message()));

  stream.expires_after(options.connect_timeout);
  stream.async_connect(endpoints, [&](error_code e, const tcp::endpoint&) { ec = e; });
  run();
  if (ec == beast::error::timeout) {
    return Status(Code::kDeadlineExceeded, fmt::format("{}: timed out connecting", url));
  }
  if (ec) return Unavailable(fmt::format("cannot connect to {}: {}", url, ec.message()));

  bhttp::request<bhttp::string_body> req;
  req.method_string(request.method);
  req.target(endpoint_.base_path + request.target);
  req.version(11);
  for (const auto& [name, value] : request.headers.entries()) req.insert(name, value);
  if (!request.headers.Has("Host")) req.set(bhttp::field::host, HostHeader(endpoint_));
  req.set(bhttp::field::connection, "close");
  req.body() = request.body;
  req.prepare_payload();

  stream.expires_after(options.timeout);
  bhttp::request_serializer<bhttp::string_body> serializer(req);
  serializer.limit(kWriteChunk);
  const uint64_t body_size = request.body.size();
  uint64_t written = 0;  // header and body; the header is small enough to ignore
  while (!serializer.is_done()) {
    size_t n = 0;
    bhttp::async_write_some(stream, serializer, [&](error_code e, size_t bytes) {
      ec = e;
      n = bytes;
    });
    run();
    if (ec == beast::error::timeout) {
      return Status(Code::kDeadlineExceeded, fmt::format("{}: timed out sending the request", url));
    }
    if (ec) return Unavailable(fmt::format("{}: sending the request: {}", url, ec.message()));
    written += n;
    if (options.on_upload_progress && body_size > 0) {
      options.on_upload_progress(std::min(written, body_size), body_size);
    }
  }

  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(kMaxResponseBytes);
  bhttp::async_read(stream, buffer, parser, [&](error_code e, size_t) { ec = e; });
  run();
  if (ec == beast::error::timeout) {
    return Status(Code::kDeadlineExceeded,
                  fmt::format("{}: timed out waiting for the response", url));
  }
  if (ec) return Unavailable(fmt::format("{}: reading the response: {}", url, ec.message()));

  auto& res = parser.get();
  Response out;
  out.status = static_cast<int>(res.result_int());
  for (const auto& field : res) {
    out.headers.Add(std::string(field.name_string()), std::string(field.value()));
  }
  out.body = std::move(res.body());
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  return out;
}

}  // namespace nimbus::http
