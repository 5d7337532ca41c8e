#include "control/function_codec.h"

#include <boost/json.hpp>
#include <fmt/format.h>

namespace nimbus::control {
namespace {

namespace json = boost::json;

json::object MapToObject(const std::map<std::string, std::string>& m) {
  json::object o;
  for (const auto& [k, v] : m) o[k] = v;
  return o;
}

// Each Get* leaves `out` untouched when the key is absent and fails when the key
// holds the wrong type.
bool GetString(const json::object& o, std::string_view key, std::string& out) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) return true;
  if (!v->is_string()) return false;
  out = std::string(v->get_string());
  return true;
}

template <typename Int>
bool GetInt(const json::object& o, std::string_view key, Int& out) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) return true;
  if (!v->is_int64()) return false;
  out = static_cast<Int>(v->get_int64());
  return true;
}

bool GetMap(const json::object& o, std::string_view key, std::map<std::string, std::string>& out) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) return true;
  if (!v->is_object()) return false;
  for (const auto& [k, val] : v->get_object()) {
    if (!val.is_string()) return false;
    out[std::string(k)] = std::string(val.get_string());
  }
  return true;
}

bool GetStringList(const json::object& o, std::string_view key, std::vector<std::string>& out) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) return true;
  if (!v->is_array()) return false;
  for (const auto& e : v->get_array()) {
    if (!e.is_string()) return false;
    out.emplace_back(e.get_string());
  }
  return true;
}

json::array StringList(const std::vector<std::string>& v) {
  json::array a;
  for (const auto& s : v) a.emplace_back(s);
  return a;
}

bool GetLayers(const json::object& o, std::vector<FunctionLayer>& out) {
  const json::value* v = o.if_contains("layers");
  if (v == nullptr) return true;
  if (!v->is_array()) return false;
  for (const auto& e : v->get_array()) {
    if (!e.is_object()) return false;
    FunctionLayer l;
    const json::object& lo = e.get_object();
    if (!GetString(lo, "arn", l.arn) || !GetInt(lo, "code_size", l.code_size) ||
        !GetInt(lo, "unzipped_size", l.unzipped_size) || !GetString(lo, "code_hex", l.code_hex)) {
      return false;
    }
    out.push_back(std::move(l));
  }
  return true;
}

}  // namespace

std::string EncodeFunctionConfig(const FunctionConfig& c) {
  json::object o;
  o["name"] = c.name;
  o["version"] = c.version;
  o["runtime"] = c.runtime;
  o["handler"] = c.handler;
  o["role"] = c.role;
  o["description"] = c.description;
  o["timeout_seconds"] = c.timeout_seconds;
  o["memory_mb"] = c.memory_mb;
  o["ephemeral_storage_mb"] = c.ephemeral_storage_mb;
  o["environment"] = MapToObject(c.environment);
  o["architecture"] = c.architecture;
  o["package_type"] = c.package_type;
  o["tracing_mode"] = c.tracing_mode;
  o["log_format"] = c.log_format;
  o["log_group"] = c.log_group;
  o["application_log_level"] = c.application_log_level;
  o["system_log_level"] = c.system_log_level;
  o["dead_letter_target_arn"] = c.dead_letter_target_arn;
  o["code_sha256"] = c.code_sha256;
  o["code_size"] = c.code_size;
  o["last_modified"] = c.last_modified;
  o["revision_id"] = c.revision_id;
  o["state"] = c.state;
  o["state_reason"] = c.state_reason;
  o["state_reason_code"] = c.state_reason_code;
  o["last_update_status"] = c.last_update_status;
  o["last_update_status_reason"] = c.last_update_status_reason;
  o["last_update_status_reason_code"] = c.last_update_status_reason_code;
  o["tags"] = MapToObject(c.tags);
  o["code_unzipped_size"] = c.code_unzipped_size;
  json::array layers;
  for (const auto& l : c.layers) {
    layers.push_back(json::object{{"arn", l.arn},
                                  {"code_size", l.code_size},
                                  {"unzipped_size", l.unzipped_size},
                                  {"code_hex", l.code_hex}});
  }
  o["layers"] = std::move(layers);
  return json::serialize(o);
}

Result<FunctionConfig> DecodeFunctionConfig(std::string_view text) {
  json::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) {
    return Internal(fmt::format("function record is not a JSON object: {}", ec.message()));
  }
  const json::object& o = v.get_object();
  FunctionConfig c;
  bool ok = GetString(o, "name", c.name) && GetString(o, "version", c.version) &&
            GetString(o, "runtime", c.runtime) && GetString(o, "handler", c.handler) &&
            GetString(o, "role", c.role) && GetString(o, "description", c.description) &&
            GetInt(o, "timeout_seconds", c.timeout_seconds) &&
            GetInt(o, "memory_mb", c.memory_mb) &&
            GetInt(o, "ephemeral_storage_mb", c.ephemeral_storage_mb) &&
            GetMap(o, "environment", c.environment) &&
            GetString(o, "architecture", c.architecture) &&
            GetString(o, "package_type", c.package_type) &&
            GetString(o, "tracing_mode", c.tracing_mode) &&
            GetString(o, "log_format", c.log_format) && GetString(o, "log_group", c.log_group) &&
            GetString(o, "application_log_level", c.application_log_level) &&
            GetString(o, "system_log_level", c.system_log_level) &&
            GetString(o, "dead_letter_target_arn", c.dead_letter_target_arn) &&
            GetString(o, "code_sha256", c.code_sha256) && GetInt(o, "code_size", c.code_size) &&
            GetString(o, "last_modified", c.last_modified) &&
            GetString(o, "revision_id", c.revision_id) && GetString(o, "state", c.state) &&
            GetString(o, "state_reason", c.state_reason) &&
            GetString(o, "state_reason_code", c.state_reason_code) &&
            GetString(o, "last_update_status", c.last_update_status) &&
            GetString(o, "last_update_status_reason", c.last_update_status_reason) &&
            GetString(o, "last_update_status_reason_code", c.last_update_status_reason_code) &&
            GetMap(o, "tags", c.tags) && GetInt(o, "code_unzipped_size", c.code_unzipped_size) &&
            GetLayers(o, c.layers);
  if (!ok || c.name.empty()) return Internal("function record has a field of the wrong type");
  return c;
}

std::string EncodeAlias(const Alias& a) {
  json::object o;
  o["name"] = a.name;
  o["function_version"] = a.function_version;
  o["description"] = a.description;
  json::object weights;
  for (const auto& [k, v] : a.additional_version_weights) weights[k] = v;
  o["additional_version_weights"] = std::move(weights);
  o["revision_id"] = a.revision_id;
  return json::serialize(o);
}

Result<Alias> DecodeAlias(std::string_view text) {
  json::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) {
    return Internal(fmt::format("alias record is not a JSON object: {}", ec.message()));
  }
  const json::object& o = v.get_object();
  Alias a;
  bool ok = GetString(o, "name", a.name) && GetString(o, "function_version", a.function_version) &&
            GetString(o, "description", a.description) &&
            GetString(o, "revision_id", a.revision_id);
  if (const json::value* w = o.if_contains("additional_version_weights")) {
    if (!w->is_object()) ok = false;
    for (const auto& [k, val] : w->is_object() ? w->get_object() : json::object()) {
      if (!val.is_number()) {
        ok = false;
        break;
      }
      a.additional_version_weights[std::string(k)] = val.to_number<double>();
    }
  }
  if (!ok || a.name.empty()) return Internal("alias record has a field of the wrong type");
  return a;
}

std::string EncodeLayerVersion(const LayerVersion& l) {
  json::object o;
  o["name"] = l.name;
  o["version"] = l.version;
  o["description"] = l.description;
  o["compatible_runtimes"] = StringList(l.compatible_runtimes);
  o["compatible_architectures"] = StringList(l.compatible_architectures);
  o["license_info"] = l.license_info;
  o["code_sha256"] = l.code_sha256;
  o["code_size"] = l.code_size;
  o["unzipped_size"] = l.unzipped_size;
  o["code_hex"] = l.code_hex;
  o["created_date"] = l.created_date;
  return json::serialize(o);
}

Result<LayerVersion> DecodeLayerVersion(std::string_view text) {
  json::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) {
    return Internal(fmt::format("layer version record is not a JSON object: {}", ec.message()));
  }
  const json::object& o = v.get_object();
  LayerVersion l;
  bool ok = GetString(o, "name", l.name) && GetInt(o, "version", l.version) &&
            GetString(o, "description", l.description) &&
            GetStringList(o, "compatible_runtimes", l.compatible_runtimes) &&
            GetStringList(o, "compatible_architectures", l.compatible_architectures) &&
            GetString(o, "license_info", l.license_info) &&
            GetString(o, "code_sha256", l.code_sha256) && GetInt(o, "code_size", l.code_size) &&
            GetInt(o, "unzipped_size", l.unzipped_size) &&
            GetString(o, "code_hex", l.code_hex) && GetString(o, "created_date", l.created_date);
  if (!ok || l.name.empty() || l.version < 1) {
    return Internal("layer version record has a field of the wrong type");
  }
  return l;
}

}  // namespace nimbus::control
