#include "api/requests.h"

#include <boost/json.hpp>
#include <fmt/format.h>

#include <limits>
#include <optional>

#include "base/encoding.h"

namespace nimbus::api {
namespace {

namespace json = boost::json;

// Reads members of one JSON object, remembering the first type error. Absent and
// null members are "not given".
class Fields {
 public:
  explicit Fields(const json::object& o, std::string prefix = "") : o_(o), prefix_(std::move(prefix)) {}

  const json::value* Get(std::string_view key) {
    const json::value* v = o_.if_contains(key);
    return v == nullptr || v->is_null() ? nullptr : v;
  }
  std::optional<std::string> String(std::string_view key) {
    const json::value* v = Get(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_string()) return Fail(key, "a string"), std::nullopt;
    return std::string(v->get_string());
  }
  std::optional<int64_t> Int(std::string_view key) {
    const json::value* v = Get(key);
    if (v == nullptr) return std::nullopt;
    if (v->is_int64()) return v->get_int64();
    if (v->is_uint64()) return Fail(key, "an integer in range"), std::nullopt;
    return Fail(key, "an integer"), std::nullopt;
  }
  std::optional<bool> Bool(std::string_view key) {
    const json::value* v = Get(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_bool()) return Fail(key, "a boolean"), std::nullopt;
    return v->get_bool();
  }
  const json::object* Object(std::string_view key) {
    const json::value* v = Get(key);
    if (v == nullptr) return nullptr;
    if (!v->is_object()) return Fail(key, "an object"), nullptr;
    return &v->get_object();
  }
  const json::array* Array(std::string_view key) {
    const json::value* v = Get(key);
    if (v == nullptr) return nullptr;
    if (!v->is_array()) return Fail(key, "an array"), nullptr;
    return &v->get_array();
  }
  std::optional<std::map<std::string, std::string>> StringMap(std::string_view key) {
    const json::object* o = Object(key);
    if (o == nullptr) return std::nullopt;
    std::map<std::string, std::string> out;
    for (const auto& [k, v] : *o) {
      if (!v.is_string()) return Fail(key, "a map of strings"), std::nullopt;
      out[std::string(k)] = std::string(v.get_string());
    }
    return out;
  }
  // Architectures: exactly one string.
  std::optional<std::string> Architecture() {
    const json::array* a = Array("Architectures");
    if (a == nullptr) return std::nullopt;
    std::vector<std::string> values;
    for (const auto& v : *a) {
      if (!v.is_string()) return Fail("Architectures", "an array of strings"), std::nullopt;
      values.emplace_back(v.get_string());
    }
    if (values.size() != 1) {
      std::string list;
      for (const auto& v : values) list += (list.empty() ? "" : ", ") + v;
      unsupported_ = fmt::format(
          "1 validation error detected: Value '[{}]' at 'architectures' failed to satisfy "
          "constraint: Member must have length less than or equal to 1",
          list);
      if (values.empty()) {
        unsupported_ = "1 validation error detected: Value '[]' at 'architectures' failed to "
                       "satisfy constraint: Member must have length greater than or equal to 1";
      }
      return std::nullopt;
    }
    return values[0];
  }
  void Unsupported(std::string message) {
    if (!unsupported_) unsupported_ = std::move(message);
  }

  // The first problem found, if any.
  std::optional<ApiError> error() const {
    if (type_error_) return RequestNotJson(*type_error_);
    if (unsupported_) {
      // Model-constraint messages are the framework's ValidationException.
      bool model = unsupported_->starts_with("1 validation error detected");
      return ApiError{400, model ? "ValidationException" : "InvalidParameterValueException",
                      *unsupported_};
    }
    return std::nullopt;
  }

 private:
  void Fail(std::string_view key, std::string_view expected) {
    if (!type_error_) {
      type_error_ = fmt::format("member '{}{}' must be {}", prefix_, key, expected);
    }
  }

  const json::object& o_;
  std::string prefix_;
  std::optional<std::string> type_error_;
  std::optional<std::string> unsupported_;
};

ApiResult<json::object> ParseObject(std::string_view body) {
  if (body.empty()) return json::object();
  json::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec) return RequestNotJson(ec.message());
  if (!v.is_object()) return RequestNotJson("the body must be a JSON object");
  return std::move(v.get_object());
}

// Members that change how a function runs but that Nimbus does not implement yet.
void RejectUnimplemented(Fields& f) {
  if (const json::array* fs = f.Array("FileSystemConfigs"); fs && !fs->empty()) {
    f.Unsupported("FileSystemConfigs are not supported by this Nimbus yet");
  }
  if (const json::object* vpc = f.Object("VpcConfig")) {
    Fields v(*vpc);
    if (const json::array* subnets = v.Array("SubnetIds"); subnets && !subnets->empty()) {
      f.Unsupported("VpcConfig is not supported by this Nimbus");
    }
  }
  if (f.Object("ImageConfig") != nullptr) {
    f.Unsupported("ImageConfig is not supported: this Nimbus runs .zip packages only");
  }
  if (const json::object* snap = f.Object("SnapStart")) {
    Fields s(*snap);
    if (auto apply = s.String("ApplyOn"); apply && *apply != "None") {
      f.Unsupported("SnapStart is not supported by this Nimbus");
    }
  }
}

// Environment.Variables, TracingConfig.Mode, EphemeralStorage.Size, LoggingConfig.
struct NestedConfig {
  std::optional<std::map<std::string, std::string>> environment;
  std::optional<std::string> tracing_mode;
  std::optional<int64_t> ephemeral_storage_mb;
  std::optional<std::string> log_format;
  std::optional<std::string> log_group;
  std::optional<std::string> application_log_level;
  std::optional<std::string> system_log_level;
  std::optional<std::string> dead_letter_target_arn;  // "" when given without TargetArn
};

std::optional<ApiError> ParseNested(Fields& f, NestedConfig& out) {
  if (const json::object* env = f.Object("Environment")) {
    Fields e(*env, "Environment.");
    out.environment = e.StringMap("Variables");
    if (!out.environment) out.environment.emplace();
    if (auto err = e.error()) return err;
  }
  if (const json::object* tracing = f.Object("TracingConfig")) {
    Fields t(*tracing, "TracingConfig.");
    out.tracing_mode = t.String("Mode");
    if (auto err = t.error()) return err;
  }
  if (const json::object* eph = f.Object("EphemeralStorage")) {
    Fields e(*eph, "EphemeralStorage.");
    out.ephemeral_storage_mb = e.Int("Size");
    if (auto err = e.error()) return err;
  }
  if (const json::object* logging = f.Object("LoggingConfig")) {
    Fields l(*logging, "LoggingConfig.");
    out.log_format = l.String("LogFormat");
    out.log_group = l.String("LogGroup");
    out.application_log_level = l.String("ApplicationLogLevel");
    out.system_log_level = l.String("SystemLogLevel");
    if (auto err = l.error()) return err;
  }
  if (const json::object* dlq = f.Object("DeadLetterConfig")) {
    Fields d(*dlq, "DeadLetterConfig.");
    out.dead_letter_target_arn = d.String("TargetArn").value_or("");
    if (auto err = d.error()) return err;
  }
  return std::nullopt;
}

// Layers: an array of LayerVersionArn strings.
std::optional<std::vector<std::string>> ParseLayers(Fields& f) {
  const json::array* a = f.Array("Layers");
  if (a == nullptr) return std::nullopt;
  std::vector<std::string> out;
  for (const auto& v : *a) {
    if (!v.is_string()) {
      f.Unsupported("1 validation error detected: Value at 'layers' failed to satisfy "
                    "constraint: Member must be a list of strings");
      return std::nullopt;
    }
    out.emplace_back(v.get_string());
  }
  return out;
}

// A list of strings (CompatibleRuntimes, CompatibleArchitectures).
std::vector<std::string> StringList(Fields& f, std::string_view key, bool& type_error) {
  std::vector<std::string> out;
  const json::array* a = f.Array(key);
  if (a == nullptr) return out;
  for (const auto& v : *a) {
    if (!v.is_string()) {
      type_error = true;
      return out;
    }
    out.emplace_back(v.get_string());
  }
  return out;
}

// Code.ZipFile / ZipFile: base64 of the zip.
ApiResult<std::string> DecodeZip(const std::optional<std::string>& b64, std::string_view member) {
  std::optional<std::string> zip = Base64Decode(*b64);
  if (!zip) return RequestNotJson(fmt::format("member '{}' is not valid base64", member));
  return std::move(*zip);
}

}  // namespace

ApiResult<control::CreateFunctionRequest> ParseCreateFunction(std::string_view body) {
  ApiResult<json::object> parsed = ParseObject(body);
  if (!parsed.ok()) return parsed.error();
  Fields f(*parsed);
  control::CreateFunctionRequest r;
  r.function_name = f.String("FunctionName").value_or("");
  r.runtime = f.String("Runtime").value_or("");
  r.handler = f.String("Handler").value_or("");
  r.role = f.String("Role").value_or("");
  r.description = f.String("Description").value_or("");
  r.timeout_seconds = f.Int("Timeout");
  r.memory_mb = f.Int("MemorySize");
  r.publish = f.Bool("Publish").value_or(false);
  if (auto pt = f.String("PackageType")) r.package_type = *pt;
  if (auto arch = f.Architecture()) r.architecture = *arch;
  if (auto tags = f.StringMap("Tags")) r.tags = *tags;
  NestedConfig nested;
  if (auto err = ParseNested(f, nested)) return *err;
  if (nested.environment) r.environment = *nested.environment;
  if (nested.tracing_mode) r.tracing_mode = *nested.tracing_mode;
  r.ephemeral_storage_mb = nested.ephemeral_storage_mb;
  if (nested.log_format) r.log_format = *nested.log_format;
  if (nested.log_group) r.log_group = *nested.log_group;
  r.application_log_level = nested.application_log_level.value_or("");
  r.system_log_level = nested.system_log_level.value_or("");
  r.dead_letter_target_arn = nested.dead_letter_target_arn.value_or("");
  if (auto layers = ParseLayers(f)) r.layers = std::move(*layers);
  RejectUnimplemented(f);
  const json::object* code = f.Object("Code");
  if (auto err = f.error()) return *err;
  // Required members, in the model's order of its `required` list.
  if (r.function_name.empty() || r.role.empty() || code == nullptr) {
    std::string_view missing = r.function_name.empty() ? "FunctionName"
                               : r.role.empty()       ? "Role"
                                                      : "Code";
    return ApiError{400, "ValidationException",
                    fmt::format("1 validation error detected: Value null at '{}' failed to "
                                "satisfy constraint: Member must not be null",
                                missing == "FunctionName" ? "functionName"
                                : missing == "Role"       ? "role"
                                                          : "code")};
  }
  Fields c(*code, "Code.");
  std::optional<std::string> zip_b64 = c.String("ZipFile");
  bool s3 = c.String("S3Bucket").has_value() || c.String("S3Key").has_value();
  bool image = c.String("ImageUri").has_value();
  if (auto err = c.error()) return *err;
  if (!zip_b64) {
    if (s3) {
      return ApiError{400, "InvalidParameterValueException",
                      "Code.S3Bucket is not supported by this Nimbus: upload the package as "
                      "Code.ZipFile"};
    }
    if (image) {
      return ApiError{400, "InvalidParameterValueException",
                      "Code.ImageUri is not supported: this Nimbus runs .zip packages only"};
    }
    return ApiError{400, "InvalidParameterValueException",
                    "Please provide a source for function code."};
  }
  ApiResult<std::string> zip = DecodeZip(zip_b64, "Code.ZipFile");
  if (!zip.ok()) return zip.error();
  r.zip_file = std::move(*zip);
  return r;
}

ApiResult<control::UpdateFunctionCodeRequest> ParseUpdateFunctionCode(
    std::string_view function_name, std::string_view body) {
  ApiResult<json::object> parsed = ParseObject(body);
  if (!parsed.ok()) return parsed.error();
  Fields f(*parsed);
  control::UpdateFunctionCodeRequest r;
  r.function_name = std::string(function_name);
  std::optional<std::string> zip_b64 = f.String("ZipFile");
  bool s3 = f.String("S3Bucket").has_value() || f.String("S3Key").has_value();
  bool image = f.String("ImageUri").has_value();
  r.revision_id = f.String("RevisionId");
  r.dry_run = f.Bool("DryRun").value_or(false);
  r.publish = f.Bool("Publish").value_or(false);
  r.architecture = f.Architecture();
  if (auto err = f.error()) return *err;
  if (!zip_b64) {
    if (s3 || image) {
      return ApiError{400, "InvalidParameterValueException",
                      "Only ZipFile code is supported by this Nimbus: S3 and image locations are "
                      "not"};
    }
    return ApiError{400, "InvalidParameterValueException",
                    "Please provide a source for function code."};
  }
  ApiResult<std::string> zip = DecodeZip(zip_b64, "ZipFile");
  if (!zip.ok()) return zip.error();
  r.zip_file = std::move(*zip);
  return r;
}

ApiResult<control::UpdateFunctionConfigurationRequest> ParseUpdateFunctionConfiguration(
    std::string_view function_name, std::string_view body) {
  ApiResult<json::object> parsed = ParseObject(body);
  if (!parsed.ok()) return parsed.error();
  Fields f(*parsed);
  control::UpdateFunctionConfigurationRequest r;
  r.function_name = std::string(function_name);
  r.runtime = f.String("Runtime");
  r.handler = f.String("Handler");
  r.role = f.String("Role");
  r.description = f.String("Description");
  r.timeout_seconds = f.Int("Timeout");
  r.memory_mb = f.Int("MemorySize");
  r.revision_id = f.String("RevisionId");
  r.publish = f.Bool("Publish").value_or(false);
  NestedConfig nested;
  if (auto err = ParseNested(f, nested)) return *err;
  r.environment = std::move(nested.environment);
  r.tracing_mode = nested.tracing_mode;
  r.ephemeral_storage_mb = nested.ephemeral_storage_mb;
  r.log_format = nested.log_format;
  r.log_group = nested.log_group;
  r.application_log_level = nested.application_log_level;
  r.system_log_level = nested.system_log_level;
  r.dead_letter_target_arn = nested.dead_letter_target_arn;
  r.layers = ParseLayers(f);
  RejectUnimplemented(f);
  if (auto err = f.error()) return *err;
  return r;
}

namespace {

ApiError MissingMember(std::string_view field) {
  return ApiError{400, "ValidationException",
                  fmt::format("1 validation error detected: Value null at '{}' failed to satisfy "
                              "constraint: Member must not be null",
                              field)};
}

// RoutingConfig.AdditionalVersionWeights: version -> weight.
std::optional<ApiError> ParseRouting(Fields& f,
                                     std::optional<std::map<std::string, double>>& out) {
  const json::object* routing = f.Object("RoutingConfig");
  if (auto err = f.error()) return err;
  if (routing == nullptr) return std::nullopt;
  Fields r(*routing, "RoutingConfig.");
  const json::object* weights = r.Object("AdditionalVersionWeights");
  if (auto err = r.error()) return err;
  out.emplace();
  if (weights == nullptr) return std::nullopt;
  for (const auto& [k, v] : *weights) {
    if (!v.is_number()) {
      return RequestNotJson(
          "member 'RoutingConfig.AdditionalVersionWeights' must be a map of numbers");
    }
    (*out)[std::string(k)] = v.to_number<double>();
  }
  return std::nullopt;
}

}  // namespace

ApiResult<control::PublishVersionRequest> ParsePublishVersion(std::string_view function_name,
                                                              std::string_view body) {
  ApiResult<json::object> parsed = ParseObject(body);
  if (!parsed.ok()) return parsed.error();
  Fields f(*parsed);
  control::PublishVersionRequest r;
  r.function_name = std::string(function_name);
  r.code_sha256 = f.String("CodeSha256");
  r.description = f.String("Description");
  r.revision_id = f.String("RevisionId");
  if (auto err = f.error()) return *err;
  return r;
}

ApiResult<control::CreateAliasRequest> ParseCreateAlias(std::string_view function_name,
                                                        std::string_view body) {
  ApiResult<json::object> parsed = ParseObject(body);
  if (!parsed.ok()) return parsed.error();
  Fields f(*parsed);
  control::CreateAliasRequest r;
  r.function_name = std::string(function_name);
  std::optional<std::string> name = f.String("Name");
  std::optional<std::string> version = f.String("FunctionVersion");
  r.description = f.String("Description").value_or("");
  std::optional<std::map<std::string, double>> weights;
  if (auto err = ParseRouting(f, weights)) return *err;
  if (auto err = f.error()) return *err;
  if (!name) return MissingMember("name");
  if (!version) return MissingMember("functionVersion");
  r.name = *name;
  r.function_version = *version;
  if (weights) r.additional_version_weights = *weights;
  return r;
}

ApiResult<control::UpdateAliasRequest> ParseUpdateAlias(std::string_view function_name,
                                                        std::string_view alias,
                                                        std::string_view body) {
  ApiResult<json::object> parsed = ParseObject(body);
  if (!parsed.ok()) return parsed.error();
  Fields f(*parsed);
  control::UpdateAliasRequest r;
  r.function_name = std::string(function_name);
  r.name = std::string(alias);
  r.function_version = f.String("FunctionVersion");
  r.description = f.String("Description");
  r.revision_id = f.String("RevisionId");
  if (auto err = ParseRouting(f, r.additional_version_weights)) return *err;
  if (auto err = f.error()) return *err;
  return r;
}

ApiResult<control::AddPermissionRequest> ParseAddPermission(std::string_view function_name,
                                                            std::string_view qualifier,
                                                            std::string_view body) {
  ApiResult<json::object> parsed = ParseObject(body);
  if (!parsed.ok()) return parsed.error();
  Fields f(*parsed);
  control::AddPermissionRequest r;
  r.function_name = std::string(function_name);
  r.qualifier = std::string(qualifier);
  std::optional<std::string> sid = f.String("StatementId");
  std::optional<std::string> action = f.String("Action");
  std::optional<std::string> principal = f.String("Principal");
  r.source_arn = f.String("SourceArn").value_or("");
  r.source_account = f.String("SourceAccount").value_or("");
  r.event_source_token = f.String("EventSourceToken").value_or("");
  r.principal_org_id = f.String("PrincipalOrgID").value_or("");
  r.function_url_auth_type = f.String("FunctionUrlAuthType").value_or("");
  r.revision_id = f.String("RevisionId");
  if (auto err = f.error()) return *err;
  if (!sid) return MissingMember("statementId");
  if (!action) return MissingMember("action");
  if (!principal) return MissingMember("principal");
  r.statement_id = *sid;
  r.action = *action;
  r.principal = *principal;
  return r;
}

ApiResult<int> ParseIntMember(std::string_view body, std::string_view member,
                              std::string_view field) {
  ApiResult<json::object> parsed = ParseObject(body);
  if (!parsed.ok()) return parsed.error();
  Fields f(*parsed);
  std::optional<int64_t> v = f.Int(member);
  if (auto err = f.error()) return *err;
  if (!v) return MissingMember(field);
  if (*v < std::numeric_limits<int>::min() || *v > std::numeric_limits<int>::max()) {
    return RequestNotJson(fmt::format("member '{}' must be an integer in range", member));
  }
  return static_cast<int>(*v);
}

ApiResult<std::map<std::string, std::string>> ParseTagResource(std::string_view body) {
  ApiResult<json::object> parsed = ParseObject(body);
  if (!parsed.ok()) return parsed.error();
  Fields f(*parsed);
  std::optional<std::map<std::string, std::string>> tags = f.StringMap("Tags");
  if (auto err = f.error()) return *err;
  if (!tags) return MissingMember("tags");
  return *tags;
}

ApiResult<control::PublishLayerVersionRequest> ParsePublishLayerVersion(
    std::string_view layer_name, std::string_view body) {
  ApiResult<json::object> parsed = ParseObject(body);
  if (!parsed.ok()) return parsed.error();
  Fields f(*parsed);
  control::PublishLayerVersionRequest r;
  r.layer_name = std::string(layer_name);
  r.description = f.String("Description").value_or("");
  r.license_info = f.String("LicenseInfo").value_or("");
  bool list_error = false;
  r.compatible_runtimes = StringList(f, "CompatibleRuntimes", list_error);
  r.compatible_architectures = StringList(f, "CompatibleArchitectures", list_error);
  const json::object* content = f.Object("Content");
  if (auto err = f.error()) return *err;
  if (list_error) {
    return RequestNotJson("CompatibleRuntimes and CompatibleArchitectures must be lists of strings");
  }
  if (content == nullptr) return MissingMember("content");
  Fields c(*content, "Content.");
  std::optional<std::string> zip_b64 = c.String("ZipFile");
  bool s3 = c.String("S3Bucket").has_value() || c.String("S3Key").has_value();
  if (auto err = c.error()) return *err;
  if (!zip_b64) {
    if (s3) {
      return ApiError{400, "InvalidParameterValueException",
                      "Content.S3Bucket is not supported by this Nimbus: upload the layer as "
                      "Content.ZipFile"};
    }
    return ApiError{400, "InvalidParameterValueException",
                    "Please provide a source for layer content."};
  }
  ApiResult<std::string> zip = DecodeZip(zip_b64, "Content.ZipFile");
  if (!zip.ok()) return zip.error();
  r.zip_file = std::move(*zip);
  return r;
}

}  // namespace nimbus::api
