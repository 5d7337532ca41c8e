// LogsApi::Handle, kept apart from logs_api.cc so that tests of HandleSync do
// not need the HTTP server (which defines Responder) linked in.
#include <memory>

#include "obs/logs_api.h"

namespace nimbus::obs {

void LogsApi::Handle(http::Request&& request, http::Responder responder) {
  // BlockingPool takes a copyable std::function; the request and the move-only
  // Responder ride along in a shared_ptr owned by that one task.
  auto call = std::make_shared<std::pair<http::Request, http::Responder>>(std::move(request),
                                                                          std::move(responder));
  pool_.Submit([this, call] { call->second.Respond(HandleSync(call->first)); });
}

}  // namespace nimbus::obs
