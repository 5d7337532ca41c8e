// LambdaApi::Handle, the adapter to http::Responder. Kept in its own file so
// that tests of the rest of LambdaApi link without the HTTP server.
#include <memory>

#include "api/lambda_api.h"

namespace nimbus::api {

void LambdaApi::Handle(http::Request&& request, http::Responder responder) {
  // std::function needs a copyable callable; the Responder is move-only.
  auto shared = std::make_shared<http::Responder>(std::move(responder));
  HandleAsync(std::move(request),
              [shared](http::Response response) { shared->Respond(std::move(response)); });
}

}  // namespace nimbus::api
