// Parsing at the edge: JSON request bodies of the control-plane operations into
// control's typed requests. Nothing here touches the registry. Pure functions,
// thread-safe.
//
// Errors: a body that is not a JSON object, or a member of the wrong JSON type,
// is 400 InvalidRequestContentException "Could not parse request body into
// json: ..."; a field Nimbus does not implement yet (VpcConfig subnets,
// S3 code locations, ...) is 400 InvalidParameterValueException saying so,
// rather than being silently ignored.
#pragma once

#include <string_view>

#include "api/errors.h"
#include "control/registry.h"

namespace nimbus::api {

// `function_name` is the decoded path label where the operation has one.
ApiResult<control::CreateFunctionRequest> ParseCreateFunction(std::string_view body);
ApiResult<control::UpdateFunctionCodeRequest> ParseUpdateFunctionCode(
    std::string_view function_name, std::string_view body);
ApiResult<control::UpdateFunctionConfigurationRequest> ParseUpdateFunctionConfiguration(
    std::string_view function_name, std::string_view body);

ApiResult<control::PublishVersionRequest> ParsePublishVersion(std::string_view function_name,
                                                              std::string_view body);
ApiResult<control::CreateAliasRequest> ParseCreateAlias(std::string_view function_name,
                                                        std::string_view body);
ApiResult<control::UpdateAliasRequest> ParseUpdateAlias(std::string_view function_name,
                                                        std::string_view alias,
                                                        std::string_view body);
ApiResult<control::AddPermissionRequest> ParseAddPermission(std::string_view function_name,
                                                            std::string_view qualifier,
                                                            std::string_view body);
// A body holding one required integer `member` (ReservedConcurrentExecutions,
// ProvisionedConcurrentExecutions); `field` names it in the missing-member error.
ApiResult<int> ParseIntMember(std::string_view body, std::string_view member,
                              std::string_view field);
// PublishLayerVersion's body; `layer_name` is the decoded path label.
ApiResult<control::PublishLayerVersionRequest> ParsePublishLayerVersion(
    std::string_view layer_name, std::string_view body);
// TagResource's {"Tags":{...}}.
ApiResult<std::map<std::string, std::string>> ParseTagResource(std::string_view body);

}  // namespace nimbus::api
