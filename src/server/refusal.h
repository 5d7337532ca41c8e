// Refusals of unauthenticated or unauthorized API requests (issue #8), in the
// protocol of the API the request was for, so that each SDK reads the error
// code and message as it does AWS's:
//   s3                       <Error><Code/><Message/>…details…<RequestId/></Error>
//   sqs, monitoring (query)  <ErrorResponse><Error><Type>Sender</Type><Code/>…
//   monitoring (RPC v2 CBOR) {"__type","message"} in CBOR, smithy-protocol header
//   every JSON API           {"__type","message"} and x-amzn-ErrorType; awsJson
//                            services that are awsQueryCompatible (sqs,
//                            monitoring) also get x-amzn-query-error
#pragma once

#include <string_view>

#include "auth/authenticator.h"
#include "http/message.h"

namespace nimbus::server {

// `service` is the SigV4 signing name of the API `request` was routed to.
http::Response RefusalResponse(std::string_view service, const http::Request& request,
                               const auth::Refusal& refusal);

}  // namespace nimbus::server
