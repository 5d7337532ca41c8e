#include "server/refusal.h"

#include <boost/json.hpp>
#include <fmt/format.h>

#include "base/encoding.h"
#include "metrics/cbor.h"

namespace nimbus::server {

http::Response RefusalResponse(std::string_view service, const http::Request& request,
                               const auth::Refusal& refusal) {
  http::Response r;
  r.status = refusal.status;
  const std::string request_id = NewUuid();
  const char* fault = refusal.status >= 500 ? "Receiver" : "Sender";
  const bool json_target = request.headers.Has("X-Amz-Target");
  const bool cbor = request.headers.Get("smithy-protocol") == std::optional<std::string_view>("rpc-v2-cbor");
  if (service == "s3") {
    r.headers.Set("Content-Type", "application/xml");
    r.headers.Set("x-amz-request-id", request_id);
    std::string xml = fmt::format(R"(<?xml version="1.0" encoding="UTF-8"?>)"
                                  "\n<Error><Code>{}</Code><Message>{}</Message>",
                                  XmlEscape(refusal.code), XmlEscape(refusal.message));
    for (const auto& [name, value] : refusal.details) xml += fmt::format("<{0}>{1}</{0}>", name, XmlEscape(value));
    xml += fmt::format("<RequestId>{}</RequestId></Error>", request_id);
    if (request.method != "HEAD") r.body = std::move(xml);
    return r;
  }
  if ((service == "sqs" || service == "monitoring") && !json_target && !cbor) {
    const std::string_view xmlns = service == "sqs" ? "http://queue.amazonaws.com/doc/2012-11-05/"
                                                    : "http://monitoring.amazonaws.com/doc/2010-08-01/";
    r.headers.Set("Content-Type", "text/xml");
    r.headers.Set("x-amzn-RequestId", request_id);
    r.body = fmt::format(
        R"(<?xml version="1.0" encoding="UTF-8"?><ErrorResponse xmlns="{}"><Error><Type>{}</Type>)"
        "<Code>{}</Code><Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
        xmlns, fault, XmlEscape(refusal.code), XmlEscape(refusal.message), request_id);
    return r;
  }
  r.headers.Set("x-amzn-RequestId", request_id);
  r.headers.Set("x-amzn-ErrorType", refusal.code);
  if (service == "sqs" || service == "monitoring") {
    r.headers.Set("x-amzn-query-error", fmt::format("{};{}", refusal.code, fault));
  }
  boost::json::object body{{"__type", refusal.code}, {"message", refusal.message}};
  if (cbor) {
    r.headers.Set("smithy-protocol", "rpc-v2-cbor");
    r.headers.Set("Content-Type", "application/cbor");
    r.body = metrics::JsonToCbor(body);
    return r;
  }
  r.headers.Set("Content-Type", json_target ? "application/x-amz-json-1.0" : "application/json");
  r.body = boost::json::serialize(body);
  return r;
}

}  // namespace nimbus::server
