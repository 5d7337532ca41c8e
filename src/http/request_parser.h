// The HTTP/1.1 request parser of http::Listen / http::Serve (server.cc), in a
// header of its own so that the fuzz target (fuzz/http_request_fuzz.cc) parses
// bytes with exactly the code the server runs. Private to http/: nothing outside
// server.cc and the fuzzer includes it, and it is the only other place that
// includes Beast's parser.
//
// Thread-compatible; one parser per request.
#pragma once

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <cstddef>
#include <cstdint>
#include <string>

#include "http/message.h"

namespace nimbus::http {

// The most a request line plus headers may take (Beast's own default is 8 KiB;
// presigned S3 URLs and SigV4 headers can be several KiB each).
inline constexpr size_t kMaxRequestHeaderBytes = 64 * 1024;

// Parses one request into the http::Request handed to the handler, as it
// arrives: method, target, headers and body go straight into it. (Beast's
// request_parser<string_body> built a beast::http::fields list first, an
// allocation per header, which then had to be copied.)
//
// The server feeds it with Put(), sets header_limit(kMaxRequestHeaderBytes) and
// body_limit(none) before the header, compares the declared Content-Length with
// its max_body_bytes itself once the header is parsed, and only then sets
// body_limit(max_body_bytes) (which bounds chunked bodies).
class RequestParser final : public boost::beast::http::basic_parser<true> {
 public:
  using error_code = boost::beast::error_code;

  Request& request() { return request_; }
  // 10 or 11.
  unsigned version() const { return version_; }

  // basic_parser::put over the `size` bytes the connection holds, returning the
  // bytes used. When the parser needs more and already leaves more than
  // kMaxRequestHeaderBytes of them unused, fails with error::header_limit
  // instead: only a chunk header or trailer that never ends can do that, and
  // Beast 1.81 bounds neither, so the connection would buffer without limit.
  size_t Put(const char* data, size_t size, error_code& ec) {
    size_t used = put(boost::asio::const_buffer(data, size), ec);
    if (ec == boost::beast::http::error::need_more && size - used > kMaxRequestHeaderBytes) {
      ec = boost::beast::http::error::header_limit;
    }
    return used;
  }

 private:
  using string_view = boost::beast::string_view;

  void on_request_impl(boost::beast::http::verb, string_view method, string_view target,
                       int version, error_code&) override {
    request_.method.assign(method.data(), method.size());
    request_.target.assign(target.data(), target.size());
    version_ = static_cast<unsigned>(version);
  }
  void on_response_impl(int, string_view, int, error_code&) override {}
  void on_field_impl(boost::beast::http::field, string_view name, string_view value,
                     error_code&) override {
    request_.headers.Add(std::string(name), std::string(value));
  }
  void on_header_impl(error_code&) override {}
  // Called only once the body is being read: after the server has refused a
  // declared length above the listener's limit.
  void on_body_init_impl(const boost::optional<std::uint64_t>& length, error_code& ec) override {
    if (!length) return;
    if (*length > request_.body.max_size()) {
      ec = boost::beast::http::error::buffer_overflow;
      return;
    }
    request_.body.reserve(static_cast<size_t>(*length));
  }
  size_t on_body_impl(string_view body, error_code&) override {
    request_.body.append(body.data(), body.size());
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, string_view, error_code&) override {}
  size_t on_chunk_body_impl(std::uint64_t, string_view body, error_code&) override {
    request_.body.append(body.data(), body.size());
    return body.size();
  }
  void on_finish_impl(error_code&) override {}

  Request request_;
  unsigned version_ = 11;
};

}  // namespace nimbus::http
