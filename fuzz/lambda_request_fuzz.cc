// The Lambda control plane's JSON request bodies (api/requests.h), parsed into
// control's typed requests as LambdaApi does before anything touches the
// registry.
//
// Input: one byte choosing the operation (a digit, else its value modulo 10),
// then the body:
//   0 CreateFunction  1 UpdateFunctionCode  2 UpdateFunctionConfiguration
//   3 PublishVersion  4 CreateAlias  5 UpdateAlias  6 AddPermission
//   7 PutFunctionConcurrency  8 PublishLayerVersion  9 TagResource
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "api/requests.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace api = nimbus::api;
  if (size == 0) return 0;
  const int op = (data[0] >= '0' && data[0] <= '9') ? data[0] - '0' : data[0] % 10;
  const std::string_view body = nimbus::fuzz::AsText(data + 1, size - 1);
  const std::string_view fn = "my-function";
  switch (op) {
    case 0:
      (void)api::ParseCreateFunction(body);
      break;
    case 1:
      (void)api::ParseUpdateFunctionCode(fn, body);
      break;
    case 2:
      (void)api::ParseUpdateFunctionConfiguration(fn, body);
      break;
    case 3:
      (void)api::ParsePublishVersion(fn, body);
      break;
    case 4:
      (void)api::ParseCreateAlias(fn, body);
      break;
    case 5:
      (void)api::ParseUpdateAlias(fn, "live", body);
      break;
    case 6:
      (void)api::ParseAddPermission(fn, "", body);
      break;
    case 7:
      (void)api::ParseIntMember(body, "ReservedConcurrentExecutions",
                                "reservedConcurrentExecutions");
      break;
    case 8:
      (void)api::ParsePublishLayerVersion("my-layer", body);
      break;
    case 9:
      (void)api::ParseTagResource(body);
      break;
  }
  return 0;
}
