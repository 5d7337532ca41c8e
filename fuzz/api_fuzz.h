// Helpers shared by the targets that drive a whole API front end over its store
// (sqs_api, dynamodb_api, logs_api, cloudwatch_api, eventbridge_api,
// apigateway_api, s3_api, lambda_api): the scratch directory the stores live
// in, the choice of an operation from the input's first byte, a request spelled
// as text, and the check every response must pass.
//
// The targets call each API's HandleSync() (HandleApiSync() for API Gateway),
// the blocking core that Handle() runs on the BlockingPool: Handle() adds only
// that hop (and, for SQS, parking an empty long poll on the reactor), while
// calling the core keeps each run on one thread, deterministic and about twice
// as fast. A Responder cannot be made without a server connection, so Handle()
// could only be reached through a socket.
#pragma once

#include <stdlib.h>

#include <boost/json.hpp>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "fuzz_input.h"
#include "http/message.h"

namespace nimbus::fuzz {

// A fresh directory "nimbus-<name>-fuzz-XXXXXX" under $TMPDIR (run.sh points
// it at NIMBUS_FUZZ_TMPDIR, else /dev/shm), made on first use and removed when
// the process exits normally (a crash leaves it for inspection).
inline const std::filesystem::path& ScratchDir(std::string_view name) {
  static const std::filesystem::path dir = [name] {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / ("nimbus-" + std::string(name) + "-fuzz-XXXXXX"))
            .string();
    NIMBUS_FUZZ_CHECK(::mkdtemp(tmpl.data()) != nullptr, "mkdtemp");
    static const std::string path = tmpl;
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    });
    return std::filesystem::path(tmpl);
  }();
  return dir;
}

// Removes and recreates `dir` (a store's directory inside the scratch one).
inline void EmptyDir(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  std::filesystem::create_directories(dir, ec);
  NIMBUS_FUZZ_CHECK(!ec, "creating a store directory");
}

// The operation `byte` chooses among `n`: a letter A..Z or a..z is its
// position in the alphabet (so seeds stay readable: "C{...}"), any other byte
// its value; both modulo n.
inline size_t OperationOf(uint8_t byte, size_t n) {
  if (byte >= 'A' && byte <= 'Z') return static_cast<size_t>(byte - 'A') % n;
  if (byte >= 'a' && byte <= 'z') return static_cast<size_t>(byte - 'a') % n;
  return byte % n;
}

// Replaces every `from` in `s` with `to`: the targets' placeholders ("@receipt")
// for ids the store makes at random, which the fuzzer could never guess.
inline void ReplaceAll(std::string& s, std::string_view from, std::string_view to) {
  if (from.empty()) return;
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
}

// A token (RFC 9110 5.6.2): what the server's parser accepts as a method or a
// header name.
inline bool IsToken(std::string_view s) {
  constexpr std::string_view kTokenPunctuation = "!#$%&'*+-.^_`|~";
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (!std::isalnum(c) &&
        kTokenPunctuation.find(static_cast<char>(c)) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

// An HTTP request written as text, without its framing (s3_api, lambda_api):
//   <METHOD> <target>
//   <Name>: <value>          (any number of header lines, kept in order)
//                            (an empty line)
//   <body>                   (its first `max_body` bytes)
// nullopt when the server's parser would refuse the request (RFC 9112 3.2,
// RFC 9110 5.5): a method or header name that is not a token, a target with
// spaces or control characters, a value with control characters other than
// tab, a header line without ':'. Host is `default_host` unless a line gives it.
inline std::optional<http::Request> ParseRequest(std::string_view text,
                                                 std::string_view default_host, size_t max_body) {
  auto next_line = [&text] {
    const size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
    return line;
  };
  http::Request r;
  std::string_view line = next_line();
  const size_t space = line.find(' ');
  if (space == std::string_view::npos || !IsToken(line.substr(0, space))) return std::nullopt;
  const std::string_view target = line.substr(space + 1);
  if (target.empty()) return std::nullopt;
  for (unsigned char c : target) {
    if (c <= 0x20 || c == 0x7f) return std::nullopt;
  }
  r.method = std::string(line.substr(0, space));
  r.target = std::string(target);
  while (!text.empty()) {
    line = next_line();
    if (line.empty()) break;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || !IsToken(line.substr(0, colon))) return std::nullopt;
    std::string_view value = line.substr(colon + 1);
    const size_t first = value.find_first_not_of(" \t");
    value = first == std::string_view::npos
                ? std::string_view()
                : value.substr(first, value.find_last_not_of(" \t") - first + 1);
    for (unsigned char c : value) {
      if ((c < 0x20 && c != '\t') || c == 0x7f) return std::nullopt;
    }
    r.headers.Add(std::string(line.substr(0, colon)), std::string(value));
  }
  if (!r.headers.Has("Host")) r.headers.Set("Host", std::string(default_host));
  r.body = std::string(text.substr(0, max_body));
  return r;
}

// What every API promises for any request: a status an HTTP client can read,
// a client error that says what was wrong, and a JSON body (when it says it is
// one) that parses, since the SDKs parse it. Compiled with
// -DNIMBUS_FUZZ_DEBUG_PRINT it also prints each response, to check what seeds
// reach.
inline void CheckResponse(const http::Response& r) {
#ifdef NIMBUS_FUZZ_DEBUG_PRINT
  std::fprintf(stderr, "RESPONSE %d %.300s\n", r.status, r.body.c_str());
#endif
  NIMBUS_FUZZ_CHECK(r.status >= 200 && r.status <= 599, "the status is 200..599");
  if (r.status >= 400 && r.status <= 499) {
    NIMBUS_FUZZ_CHECK(!r.body.empty(), "a 4xx response has a body saying why");
  }
  std::string_view type = r.headers.Get("Content-Type").value_or("");
  if (type.find("json") != std::string_view::npos && !r.body.empty()) {
    boost::system::error_code ec;
    (void)boost::json::parse(r.body, ec);
    NIMBUS_FUZZ_CHECK(!ec, "a JSON response body parses");
  }
}

}  // namespace nimbus::fuzz
