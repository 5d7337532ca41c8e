// Helpers shared by the targets that drive a whole API front end over its store
// (sqs_api, dynamodb_api, logs_api, cloudwatch_api, eventbridge_api,
// apigateway_api): the scratch directory the stores live in, the choice of an
// operation from the input's first byte, and the check every response must pass.
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
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
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
