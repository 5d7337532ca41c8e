// HTTP request and response values shared by every front end (api/, runtime_api/,
// events/). Only http/ knows the wire library; components see these structs.
// Value types, thread-compatible.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/unique_fd.h"

namespace nimbus::http {

// Header list preserving order and duplicates; names compare case-insensitively.
class Headers {
 public:
  // First value of `name`, or nullopt.
  std::optional<std::string_view> Get(std::string_view name) const;
  bool Has(std::string_view name) const { return Get(name).has_value(); }
  // Replaces every value of `name` with one value.
  void Set(std::string name, std::string value);
  void Add(std::string name, std::string value);
  void Remove(std::string_view name);

  const std::vector<std::pair<std::string, std::string>>& entries() const { return entries_; }

 private:
  std::vector<std::pair<std::string, std::string>> entries_;
};

bool EqualsIgnoreCase(std::string_view a, std::string_view b);

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // raw request target: "/2015-03-31/functions/f%3A1/invocations?Qualifier=2"
  Headers headers;
  std::string body;
  // Set when the declared body was larger than the listener's max body size: the
  // body was not read, `body` is empty, and the connection closes after the reply.
  bool body_too_large = false;
  uint64_t declared_body_size = 0;
  std::string remote_address;  // "127.0.0.1"

  // The path part of `target` (still percent-encoded) and the query (without '?').
  std::string_view path() const;
  std::string_view query() const;
};

// A response body sent from a file with sendfile(2), never read into memory:
// `length` bytes of `fd` from `offset`. A file shorter than that ends the
// connection after what it holds (the client sees a short body, not a wrong one).
struct FileBody {
  UniqueFd fd;
  uint64_t offset = 0;
  uint64_t length = 0;
};

struct Response {
  int status = 200;
  Headers headers;
  std::string body;
  // When set, the body (and `body` stays empty).
  std::shared_ptr<FileBody> file;
  // A reply to HEAD: the Content-Length its GET would have had (the body stays
  // empty). Unset: Content-Length is the body's size.
  std::optional<uint64_t> head_content_length;

  static Response Json(int status, std::string body);
  static Response Text(int status, std::string body);
};

// Percent-decodes `s` ('+' is left alone: Lambda paths are not form-encoded).
// Returns nullopt on a malformed escape.
std::optional<std::string> PercentDecode(std::string_view s);

// Splits the path into percent-decoded segments: "/a/b%3Ac" -> {"a", "b:c"}.
std::optional<std::vector<std::string>> DecodedPathSegments(std::string_view path);

// Parses "a=1&b=x%20y&a=2" into decoded (name, value) pairs in order.
std::vector<std::pair<std::string, std::string>> ParseQuery(std::string_view query);
// First value of `name` in a parsed query.
std::optional<std::string> QueryParam(const std::vector<std::pair<std::string, std::string>>& q,
                                      std::string_view name);

}  // namespace nimbus::http
