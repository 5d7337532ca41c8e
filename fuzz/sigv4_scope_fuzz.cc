// http::ParseCredentialScope: the scope of a SigV4/SigV4a signature, from the
// Authorization header or a presigned URL's X-Amz-Credential query parameter;
// it decides which API a request on the shared port goes to.
//
// Input: "<Authorization value>\n%%\n<request target>"; an empty first part
// means no Authorization header (the presigned form is read from the target).
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_input.h"
#include "http/message.h"
#include "http/sigv4_scope.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto parts = nimbus::fuzz::SplitParts(data, size, 2);
  nimbus::http::Request request;
  request.method = "GET";
  request.target = std::string(parts[1]);
  if (!parts[0].empty()) request.headers.Add("Authorization", std::string(parts[0]));
  auto scope = nimbus::http::ParseCredentialScope(request);
  if (!scope) return 0;
  // The scope is "key/date[/region]/service/aws4_request": no field holds a '/'.
  for (const std::string* field :
       {&scope->access_key_id, &scope->date, &scope->region, &scope->service}) {
    NIMBUS_FUZZ_CHECK(field->find('/') == std::string::npos, "a scope field holds no '/'");
  }
  NIMBUS_FUZZ_CHECK(!scope->access_key_id.empty(), "access key id present");
  NIMBUS_FUZZ_CHECK(!scope->service.empty(), "service present");
  return 0;
}
