// gateway: function URLs (issue #5, scope 5). The Lambda API's
// Create/Get/Update/Delete/ListFunctionUrlConfig(s) (kept in <data>/urls.db),
// and the URLs themselves: http://<url-id>.lambda-url.localhost:<port>/ and, for
// clients that cannot resolve *.localhost, http://127.0.0.1:<port>/lambda-url/<url-id>/.
// A request becomes a payload format 2.0 event, the function runs synchronously,
// and its result becomes the response (gateway/payload_v2.h). AuthType NONE
// needs a resource-based policy letting "*" call lambda:InvokeFunctionUrl, as on
// AWS; AWS_IAM needs a SigV4-signed request (the signature itself is verified once
// Nimbus verifies signatures, issue #8). CORS settings answer preflights and add
// the Access-Control-* headers.
//
// Threads: HandleApi() and HandleInvoke() on the reactor that owns the invoker;
// SQLite runs on the BlockingPool; mu_ guards the in-memory index of URLs.
#pragma once

#include <atomic>
#include <filesystem>
#include <map>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/blocking_pool.h"
#include "base/reactor.h"
#include "base/thread_annotations.h"
#include "control/registry.h"
#include "http/message.h"
#include "http/server.h"
#include "invoke/invoker.h"
#include "storage/store.h"

namespace nimbus::gateway {

struct Cors {
  bool allow_credentials = false;
  std::vector<std::string> allow_headers, allow_methods, allow_origins, expose_headers;
  int max_age = 0;
  bool set = false;
};

struct UrlConfig {
  std::string url_id;
  std::string function_name;
  std::string qualifier;  // "" for the unqualified function
  std::string auth_type;  // "NONE" or "AWS_IAM"
  Cors cors;
  std::string created;    // ISO 8601
  std::string modified;
};

struct FunctionUrlsDeps {
  Reactor& reactor;
  BlockingPool& blocking;
  control::Registry& registry;
  invoke::Invoker& invoker;  // confined to `reactor`
  control::Region region;
  // AuthType AWS_IAM: verifies the request's SigV4 signature for "lambda" (any
  // key may invoke, invoke-only ones too) and returns the access key that
  // signed it ("" when the server verifies nothing), or nullopt: 403 Forbidden.
  // Null: only the scope's service is checked.
  std::function<std::optional<std::string>(http::Request&)> verify_iam;
};

class FunctionUrls {
 public:
  static Result<std::unique_ptr<FunctionUrls>> Open(const std::filesystem::path& db, FunctionUrlsDeps deps);

  // The port the URLs name (the server's). Before serving.
  void set_port(uint16_t port) { port_ = port; }

  // /2021-10-31/functions/<name>/url or /urls
  static bool MatchesApi(const http::Request& request);
  // The url id a request is addressed to (by Host or by the /lambda-url/ path), or "".
  static std::string UrlIdOf(const http::Request& request);

  // REQUIRES: on the reactor.
  void HandleApi(http::Request&& request, http::Responder responder);
  void HandleInvoke(http::Request&& request, http::Responder responder);
  // The blocking core of HandleApi(), which runs it on the BlockingPool: one
  // management request, one response. REQUIRES: MatchesApi(request).
  http::Response HandleApiSync(const http::Request& request);

 private:
  FunctionUrls(FunctionUrlsDeps deps, std::unique_ptr<storage::Store> store);
  std::string UrlOf(const UrlConfig& c) const;

  FunctionUrlsDeps deps_;
  std::atomic<uint16_t> port_{0};
  Mutex store_mu_;
  std::unique_ptr<storage::Store> store_ NIMBUS_PT_GUARDED_BY(store_mu_);
  mutable Mutex mu_;
  std::map<std::string, UrlConfig> by_id_ NIMBUS_GUARDED_BY(mu_);
};

}  // namespace nimbus::gateway
