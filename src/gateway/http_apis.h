// gateway: HTTP APIs (API Gateway v2 subset, issue #5 scope 5). The management
// API the SDKs and CLI use (service "apigateway", /v2/apis...: Create/Get/Delete
// Api, Integration, Route and Stage, quick create with `target`), kept in
// <data>/apis.db, and the APIs themselves at http://<api-id>.execute-api.localhost:<port>/
// (or http://127.0.0.1:<port>/execute-api/<api-id>/). A request picks its stage
// ("$default", else the first path segment), then its route: the exact method
// or ANY, literal segments before {name} before {proxy+}, else "$default". The
// route's AWS_PROXY integration invokes its function with payload format 2.0 or
// 1.0, which needs the function's policy to let apigateway.amazonaws.com invoke it
// (as on AWS: a 500 otherwise). Stages serve their API's current routes (every
// stage behaves as if AutoDeploy were on).
//
// Threads: as FunctionUrls.
#pragma once

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
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

struct HttpApi {
  std::string id;
  std::string name;
  std::string created;
  std::string description;
  struct Integration {
    std::string id, function_arn, uri, payload_version = "2.0";
  };
  struct Route {
    std::string id, key, target;  // key "GET /items/{id}" or "$default"; target "integrations/<id>"
  };
  struct Stage {
    std::string name, created;
    bool auto_deploy = false;
  };
  std::vector<Integration> integrations;
  std::vector<Route> routes;
  std::vector<Stage> stages;
};

struct HttpApisDeps {
  Reactor& reactor;
  BlockingPool& blocking;
  control::Registry& registry;
  invoke::Invoker& invoker;  // confined to `reactor`
  control::Region region;
};

class HttpApis {
 public:
  static Result<std::unique_ptr<HttpApis>> Open(const std::filesystem::path& db, HttpApisDeps deps);
  void set_port(uint16_t port) { port_ = port; }

  // /v2/apis...
  static bool MatchesApi(const http::Request& request);
  // The api id a request is addressed to (Host <id>.execute-api.localhost, or
  // the /execute-api/<id>/ path), or "".
  static std::string ApiIdOf(const http::Request& request);

  // REQUIRES: on the reactor.
  void HandleApi(http::Request&& request, http::Responder responder);
  void HandleInvoke(http::Request&& request, http::Responder responder);
  // The blocking core of HandleApi(), which runs it on the BlockingPool: one
  // management request, one response. REQUIRES: MatchesApi(request).
  http::Response HandleApiSync(const http::Request& request);

  // The route of `api` that `method` and `path` select, and its path parameters;
  // nullptr when none does. Exposed for tests.
  static const HttpApi::Route* Match(const HttpApi& api, std::string_view method, std::string_view path,
                                     std::map<std::string, std::string>* parameters);

 private:
  HttpApis(HttpApisDeps deps, std::unique_ptr<storage::Store> store);
  Status Save(const HttpApi& api, bool remove);
  std::string EndpointOf(const HttpApi& api) const;

  HttpApisDeps deps_;
  std::atomic<uint16_t> port_{0};
  Mutex store_mu_;
  std::unique_ptr<storage::Store> store_ NIMBUS_PT_GUARDED_BY(store_mu_);
  mutable Mutex mu_;
  std::map<std::string, HttpApi> apis_ NIMBUS_GUARDED_BY(mu_);
};

}  // namespace nimbus::gateway
