// Bytes from a client socket, parsed by the server's RequestParser
// (http/request_parser.h, its Put) with the limits and in the order server.cc's
// Session::Parse applies them: header limit kMaxRequestHeaderBytes, no body
// limit until the header is complete, then a declared Content-Length above
// max_body_bytes answered as too large, else body_limit(max_body_bytes).
// Pipelined requests are parsed one after another with a fresh parser while the
// connection stays keep-alive. Each complete request then goes through what
// every handler does with it: path and query split, DecodedPathSegments,
// ParseQuery and QueryParam, PercentDecode, the SigV4 scope and the trace header.
//
// Input: the first byte chooses how the bytes arrive (all at once, or in reads
// of 1..255 bytes, which exercises Beast's resumption at every split point);
// the rest is the byte stream.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_input.h"
#include "http/message.h"
#include "http/request_parser.h"
#include "http/server.h"
#include "http/sigv4_scope.h"
#include "http/trace_header.h"

namespace {

namespace http = nimbus::http;
namespace beast = boost::beast;

// What a handler does with a request's target and headers.
void Handle(const http::Request& request) {
  std::string_view path = request.path();
  std::string_view query = request.query();
  NIMBUS_FUZZ_CHECK(path.size() + query.size() <= request.target.size(),
                    "path and query within target");
  if (auto segments = http::DecodedPathSegments(path)) {
    for (const std::string& s : *segments)
      NIMBUS_FUZZ_CHECK(s.size() <= path.size(), "segment size");
  }
  auto params = http::ParseQuery(query);
  (void)http::QueryParam(params, "X-Amz-Credential");
  (void)http::QueryParam(params, "Qualifier");
  if (auto decoded = http::PercentDecode(path))
    NIMBUS_FUZZ_CHECK(decoded->size() <= path.size(), "decoded size");
  if (auto scope = http::ParseCredentialScope(request)) {
    NIMBUS_FUZZ_CHECK(!scope->access_key_id.empty() && !scope->service.empty(),
                      "scope has key and service");
  }
  std::string trace = http::TraceHeaderOf(request.headers);
  NIMBUS_FUZZ_CHECK(trace.empty() || http::IsTraceHeader(trace), "trace header taken is one");
  (void)request.headers.Get("Host");
  (void)request.headers.Get("Content-Type");
}

// Returns false when the connection would be closed (malformed, too large, or
// not keep-alive).
bool ParseOne(const std::string& stream, size_t& consumed, size_t& delivered, size_t step,
              uint64_t max_body_bytes) {
  http::RequestParser parser;
  parser.body_limit(boost::none);
  parser.header_limit(http::kMaxRequestHeaderBytes);
  bool header_done = false;
  while (true) {
    // Bytes that have "arrived": the connection delivers `step` more at a time.
    while (consumed < delivered) {
      beast::error_code ec;
      size_t used = parser.Put(stream.data() + consumed, delivered - consumed, ec);
      NIMBUS_FUZZ_CHECK(used <= delivered - consumed, "parser used what it was given");
      consumed += used;
      if (ec == beast::http::error::need_more) break;
      if (ec == beast::http::error::body_limit) {
        Handle(parser.request());  // dispatched with body_too_large set
        return false;
      }
      if (ec) return false;  // malformed: the server drops the connection
      if (!header_done && parser.is_header_done()) {
        header_done = true;
        auto declared = parser.content_length();
        if (declared && *declared > max_body_bytes) {
          Handle(parser.request());
          return false;
        }
        parser.body_limit(max_body_bytes);
      }
      if (parser.is_done()) {
        Handle(parser.request());
        NIMBUS_FUZZ_CHECK(parser.version() == 10 || parser.version() == 11, "HTTP/1.0 or 1.1");
        return parser.keep_alive();
      }
      if (used == 0) break;
    }
    if (delivered == stream.size()) return false;  // the peer sent nothing more
    delivered = std::min(stream.size(), delivered + step);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t step = data[0] == 0 ? size : data[0];
  // Beast's parser keeps pointers into the buffer between calls only within one
  // put(); a std::string the size of the input is the server's flat_buffer.
  const std::string stream(reinterpret_cast<const char*>(data + 1), size - 1);
  const uint64_t max_body_bytes = http::ListenerOptions{}.max_body_bytes;
  size_t consumed = 0;
  size_t delivered = std::min(stream.size(), step);
  // A bound on pipelined requests, so one input cannot take unbounded time.
  for (int requests = 0; requests < 64 && consumed < stream.size(); ++requests) {
    if (!ParseOne(stream, consumed, delivered, step, max_body_bytes)) break;
  }
  return 0;
}
