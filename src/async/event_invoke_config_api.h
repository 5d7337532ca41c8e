// EventInvokeConfigApi: the Lambda operations on asynchronous invocation
// configuration, PUT (Put: replaces), POST (Update: merges), GET and DELETE on
// /2019-09-25/functions/{FunctionName}/event-invoke-config[?Qualifier=] and GET
// .../event-invoke-config/list. Shapes follow the botocore model
// (FunctionEventInvokeConfig: LastModified as epoch seconds, FunctionArn
// qualified); errors go through api/errors.h like every Lambda API error.
//
// Threads: confined to the reactor. Nothing blocks: the function is resolved
// in memory and writes go through the Journal; the reply is sent once the
// change is durable.
#pragma once

#include <functional>
#include <string>

#include "api/errors.h"
#include "async/dispatcher.h"
#include "async/event_invoke_config.h"
#include "async/journal.h"
#include "base/clock.h"
#include "control/function.h"
#include "http/message.h"
#include "http/server.h"

namespace nimbus::async {

class EventInvokeConfigApi {
 public:
  struct Deps {
    Journal& journal;
    EventInvokeConfigs& configs;
    Resolver resolve;
    const Clock& clock;
    control::Region region;
    std::function<std::string()> new_request_id;
  };
  explicit EventInvokeConfigApi(Deps deps);
  EventInvokeConfigApi(const EventInvokeConfigApi&) = delete;
  EventInvokeConfigApi& operator=(const EventInvokeConfigApi&) = delete;

  // True for /2019-09-25/functions/{name}/event-invoke-config[/list].
  static bool Matches(const http::Request& request);

  // `respond` is called exactly once, on the reactor. REQUIRES: on the reactor.
  void HandleAsync(const http::Request& request, std::function<void(http::Response)> respond);
  void Handle(http::Request&& request, http::Responder responder);

 private:
  Deps deps_;
};

// The FunctionEventInvokeConfig JSON of `config`.
std::string FunctionEventInvokeConfigJson(const EventInvokeConfig& config,
                                          const control::Region& region);

}  // namespace nimbus::async
