// Registry operations on layers: PublishLayerVersion, Get/List/Delete, and the
// resolution of a function's Layers. Same class and locking rules as
// registry.cc; layer publishes and deletes are also serialised by
// layer_write_mu_ (numbering).
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <regex>
#include <set>
#include <variant>

#include "base/encoding.h"
#include "control/function_codec.h"
#include "control/registry.h"
#include "control/validation.h"

namespace nimbus::control {
namespace {

constexpr int kMaxLayerListPage = 50;
constexpr size_t kMaxLayerNameLength = 140;
constexpr size_t kMaxCompatibleRuntimes = 15;
constexpr size_t kMaxCompatibleArchitectures = 2;
constexpr size_t kMaxLicenseInfoLength = 512;

// The model's patterns (lambda 2015-03-31, LayerName and LayerVersionArn).
constexpr char kLayerNamePattern[] =
    "(arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\\d{12}:layer:[a-zA-Z0-9-_]+)|[a-zA-Z0-9-_]+";
constexpr char kLayerVersionArnPattern[] =
    "arn:(aws[a-zA-Z-]*)+:lambda:[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:\\d{12}:layer:"
    "[a-zA-Z0-9-_]+:[0-9]+";

Status ValidationError(std::string_view value, std::string_view field,
                       std::string_view constraint) {
  return ValidationFailed(fmt::format(
      "1 validation error detected: Value '{}' at '{}' failed to satisfy constraint: {}", value,
      field, constraint));
}

Status LayerNotFound() { return NotFound("The resource you requested does not exist."); }

// LayerName: a name, or a layer ARN whose last label is the name.
Result<std::string> ParseLayerName(std::string_view text) {
  static const std::regex kPattern(kLayerNamePattern);
  if (text.empty() || text.size() > kMaxLayerNameLength ||
      !std::regex_match(text.begin(), text.end(), kPattern)) {
    return ValidationError(
        text, "layerName",
        fmt::format("Member must satisfy regular expression pattern: {}", kLayerNamePattern));
  }
  size_t colon = text.rfind(':');
  return std::string(colon == std::string_view::npos ? text : text.substr(colon + 1));
}

struct LayerVersionRef {
  std::string name;
  int version = 0;
};

// "arn:aws:lambda:REGION:ACCOUNT:layer:NAME:N". nullopt if malformed.
std::optional<LayerVersionRef> ParseLayerVersionArn(std::string_view arn) {
  static const std::regex kPattern(kLayerVersionArnPattern);
  if (arn.empty() || arn.size() > 140 || !std::regex_match(arn.begin(), arn.end(), kPattern)) {
    return std::nullopt;
  }
  size_t last = arn.rfind(':');
  size_t name_start = arn.rfind(':', last - 1) + 1;
  std::string_view number = arn.substr(last + 1);
  if (number.size() > 9) return std::nullopt;
  LayerVersionRef ref;
  ref.name = std::string(arn.substr(name_start, last - name_start));
  ref.version = std::stoi(std::string(number));
  return ref;
}

bool Compatible(const LayerVersion& v, std::string_view runtime, std::string_view architecture) {
  auto has = [](const std::vector<std::string>& list, std::string_view x) {
    return std::find(list.begin(), list.end(), x) != list.end();
  };
  return (runtime.empty() || has(v.compatible_runtimes, runtime)) &&
         (architecture.empty() || has(v.compatible_architectures, architecture));
}

Status ValidateLayerListFilters(std::string_view runtime, std::string_view architecture,
                                int max_items) {
  if (!runtime.empty() && !IsRuntimeEnumValue(runtime)) {
    return ValidationError(runtime, "compatibleRuntime",
                           "Member must satisfy enum value set: [see the Runtime enum]");
  }
  if (!architecture.empty() && architecture != "x86_64" && architecture != "arm64") {
    return ValidationError(architecture, "compatibleArchitecture",
                           "Member must satisfy enum value set: [x86_64, arm64]");
  }
  if (max_items < 1 || max_items > kMaxLayerListPage) {
    return ValidationError(std::to_string(max_items), "maxItems",
                           max_items < 1 ? "Member must have value greater than or equal to 1"
                                         : "Member must have value less than or equal to 50");
  }
  return Status::Ok();
}

std::string JoinList(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

}  // namespace

Result<LayerVersion> Registry::PublishLayerVersion(PublishLayerVersionRequest r) {
  NIMBUS_ASSIGN_OR_RETURN(std::string name, ParseLayerName(r.layer_name));
  NIMBUS_RETURN_IF_ERROR(ValidateDescription(r.description));
  if (r.compatible_runtimes.size() > kMaxCompatibleRuntimes) {
    return ValidationError(fmt::format("[{}]", JoinList(r.compatible_runtimes)),
                           "compatibleRuntimes",
                           "Member must have length less than or equal to 15");
  }
  for (const auto& rt : r.compatible_runtimes) {
    if (!IsRuntimeEnumValue(rt)) {
      return ValidationError(fmt::format("[{}]", JoinList(r.compatible_runtimes)),
                             "compatibleRuntimes",
                             "Member must satisfy constraint: [Member must satisfy enum value "
                             "set: [see the Runtime enum]]");
    }
  }
  if (r.compatible_architectures.size() > kMaxCompatibleArchitectures) {
    return ValidationError(fmt::format("[{}]", JoinList(r.compatible_architectures)),
                           "compatibleArchitectures",
                           "Member must have length less than or equal to 2");
  }
  for (const auto& arch : r.compatible_architectures) {
    if (arch != "x86_64" && arch != "arm64") {
      return ValidationError(fmt::format("[{}]", JoinList(r.compatible_architectures)),
                             "compatibleArchitectures",
                             "Member must satisfy constraint: [Member must satisfy enum value "
                             "set: [x86_64, arm64]]");
    }
  }
  if (r.license_info.size() > kMaxLicenseInfoLength) {
    return ValidationError(r.license_info, "licenseInfo",
                           "Member must have length less than or equal to 512");
  }

  // Unpack and store before taking a number: a bad zip uses none.
  NIMBUS_ASSIGN_OR_RETURN(PreparedCode code, PrepareCode(r.zip_file, /*store_blob=*/true));
  LayerVersion v;
  v.name = name;
  v.description = std::move(r.description);
  v.compatible_runtimes = std::move(r.compatible_runtimes);
  v.compatible_architectures = std::move(r.compatible_architectures);
  v.license_info = std::move(r.license_info);
  v.code_sha256 = code.sha256_base64;
  v.code_size = code.size;
  v.unzipped_size = code.unzipped_size;
  v.code_hex = code.hex;
  v.created_date = NowTimestamp();

  MutexLock write(layer_write_mu_);
  int last = 0;
  {
    MutexLock l(mu_);
    auto it = layers_.find(name);
    if (it != layers_.end()) last = it->second.last_version;
  }
  v.version = last + 1;
  NIMBUS_RETURN_IF_ERROR(Write([&]() -> Status {
    NIMBUS_ASSIGN_OR_RETURN(
        storage::Statement up,
        store_->Prepare("INSERT INTO layers (name, last_version) VALUES (?, ?) "
                        "ON CONFLICT(name) DO UPDATE SET last_version = excluded.last_version"));
    NIMBUS_RETURN_IF_ERROR(up.BindText(1, name));
    NIMBUS_RETURN_IF_ERROR(up.BindInt64(2, v.version));
    NIMBUS_RETURN_IF_ERROR(up.Run());
    NIMBUS_ASSIGN_OR_RETURN(
        storage::Statement ins,
        store_->Prepare("INSERT INTO layer_versions (layer, version, config, code_hex) "
                        "VALUES (?, ?, ?, ?)"));
    NIMBUS_RETURN_IF_ERROR(ins.BindText(1, name));
    NIMBUS_RETURN_IF_ERROR(ins.BindInt64(2, v.version));
    NIMBUS_RETURN_IF_ERROR(ins.BindText(3, EncodeLayerVersion(v)));
    NIMBUS_RETURN_IF_ERROR(ins.BindText(4, v.code_hex));
    return ins.Run();
  }));
  MutexLock l(mu_);
  LayerEntry& e = layers_[name];
  e.last_version = v.version;
  e.versions[v.version] = v;
  return v;
}

Result<LayerVersion> Registry::GetLayerVersion(std::string_view layer_name,
                                               int64_t version) const {
  NIMBUS_ASSIGN_OR_RETURN(std::string name, ParseLayerName(layer_name));
  MutexLock l(mu_);
  auto it = layers_.find(name);
  if (it == layers_.end() || version < 1 || version > it->second.last_version) {
    return LayerNotFound();
  }
  auto v = it->second.versions.find(static_cast<int>(version));
  if (v == it->second.versions.end()) return LayerNotFound();
  return v->second;
}

Result<LayerVersion> Registry::GetLayerVersionByArn(std::string_view arn) const {
  std::optional<LayerVersionRef> ref = ParseLayerVersionArn(arn);
  if (!ref) {
    return ValidationError(arn, "arn",
                           fmt::format("Member must satisfy regular expression pattern: {}",
                                       kLayerVersionArnPattern));
  }
  if (LayerVersionArn(region_, ref->name, ref->version) != arn) return LayerNotFound();
  return GetLayerVersion(ref->name, ref->version);
}

Result<LayerVersionPage> Registry::ListLayerVersions(std::string_view layer_name,
                                                     std::string_view compatible_runtime,
                                                     std::string_view compatible_architecture,
                                                     std::string_view marker,
                                                     int max_items) const {
  NIMBUS_ASSIGN_OR_RETURN(std::string name, ParseLayerName(layer_name));
  NIMBUS_RETURN_IF_ERROR(
      ValidateLayerListFilters(compatible_runtime, compatible_architecture, max_items));
  int after = 0;  // versions below `after` (newest first: the next page)
  if (!marker.empty()) {
    bool digits = marker.size() <= 9 && std::all_of(marker.begin(), marker.end(), [](char c) {
                    return c >= '0' && c <= '9';
                  });
    if (!digits) return InvalidArgument(fmt::format("Invalid Marker: {}", marker));
    after = std::stoi(std::string(marker));
  }
  LayerVersionPage out;
  MutexLock l(mu_);
  auto it = layers_.find(name);
  if (it == layers_.end()) return out;
  const auto& versions = it->second.versions;
  for (auto v = versions.rbegin(); v != versions.rend(); ++v) {
    if (after > 0 && v->first >= after) continue;
    if (!Compatible(v->second, compatible_runtime, compatible_architecture)) continue;
    if (static_cast<int>(out.versions.size()) == max_items) {
      out.next_marker = std::to_string(out.versions.back().version);
      break;
    }
    out.versions.push_back(v->second);
  }
  return out;
}

Result<LayerPage> Registry::ListLayers(std::string_view compatible_runtime,
                                       std::string_view compatible_architecture,
                                       std::string_view marker, int max_items) const {
  NIMBUS_RETURN_IF_ERROR(
      ValidateLayerListFilters(compatible_runtime, compatible_architecture, max_items));
  LayerPage out;
  MutexLock l(mu_);
  auto it = marker.empty() ? layers_.begin() : layers_.upper_bound(std::string(marker));
  for (; it != layers_.end(); ++it) {
    const LayerVersion* latest = nullptr;
    for (auto v = it->second.versions.rbegin(); v != it->second.versions.rend(); ++v) {
      if (Compatible(v->second, compatible_runtime, compatible_architecture)) {
        latest = &v->second;
        break;
      }
    }
    if (latest == nullptr) continue;
    if (static_cast<int>(out.layers.size()) == max_items) {
      out.next_marker = out.layers.back().name;
      break;
    }
    out.layers.push_back(LayerSummary{it->first, *latest});
  }
  return out;
}

Status Registry::DeleteLayerVersion(std::string_view layer_name, int64_t version) {
  Status s = DeleteLayerVersionImpl(layer_name, version);
  if (s.ok()) Collect(/*at_open=*/false);
  return s;
}

Status Registry::DeleteLayerVersionImpl(std::string_view layer_name, int64_t version) {
  NIMBUS_ASSIGN_OR_RETURN(std::string name, ParseLayerName(layer_name));
  MutexLock write(layer_write_mu_);
  {
    MutexLock l(mu_);
    auto it = layers_.find(name);
    if (it == layers_.end() || version < 1 || version > it->second.last_version ||
        it->second.versions.count(static_cast<int>(version)) == 0) {
      return Status::Ok();
    }
  }
  NIMBUS_RETURN_IF_ERROR(Write([&]() -> Status {
    NIMBUS_ASSIGN_OR_RETURN(
        storage::Statement st,
        store_->Prepare("DELETE FROM layer_versions WHERE layer = ? AND version = ?"));
    NIMBUS_RETURN_IF_ERROR(st.BindText(1, name));
    NIMBUS_RETURN_IF_ERROR(st.BindInt64(2, version));
    return st.Run();
  }));
  // Its blob and directory go with the collection that follows, unless
  // functions still reference them (they keep working, as in Lambda).
  MutexLock l(mu_);
  layers_[name].versions.erase(static_cast<int>(version));
  return Status::Ok();
}

Result<std::map<std::string, Registry::LayerEntry>> Registry::LoadLayers() {
  std::map<std::string, LayerEntry> out;
  NIMBUS_ASSIGN_OR_RETURN(storage::Statement ls,
                          store_->Prepare("SELECT name, last_version FROM layers"));
  for (;;) {
    NIMBUS_ASSIGN_OR_RETURN(bool row, ls.Step());
    if (!row) break;
    out[ls.ColumnText(0)].last_version = static_cast<int>(ls.ColumnInt64(1));
  }
  NIMBUS_ASSIGN_OR_RETURN(storage::Statement vs,
                          store_->Prepare("SELECT config FROM layer_versions"));
  for (;;) {
    NIMBUS_ASSIGN_OR_RETURN(bool row, vs.Step());
    if (!row) break;
    auto v = DecodeLayerVersion(vs.ColumnText(0));
    if (!v.has_value()) return v.error().WithContext("registry: load layer version");
    LayerEntry& e = out[v->name];
    e.last_version = std::max(e.last_version, v->version);
    e.versions[v->version] = std::move(v).value();
  }
  return out;
}

Result<std::vector<FunctionLayer>> Registry::ResolveLayers(
    const std::vector<std::string>& arns) const {
  if (arns.size() > kMaxLayersPerFunction) {
    return InvalidArgument("Cannot reference more than 5 layers.");
  }
  for (const auto& arn : arns) {
    if (!ParseLayerVersionArn(arn)) {
      return ValidationError(
          fmt::format("[{}]", JoinList(arns)), "layers",
          fmt::format("Member must satisfy constraint: [Member must have length less than or "
                      "equal to 140, Member must have length greater than or equal to 1, Member "
                      "must satisfy regular expression pattern: {}]",
                      kLayerVersionArnPattern));
    }
  }
  std::vector<FunctionLayer> out;
  std::map<std::string, std::string> seen;  // layer ARN -> the version ARN that named it
  MutexLock l(mu_);
  for (const auto& arn : arns) {
    LayerVersionRef ref = *ParseLayerVersionArn(arn);
    std::string layer_arn = arn.substr(0, arn.rfind(':'));
    if (auto s = seen.find(layer_arn); s != seen.end()) {
      return InvalidArgument(fmt::format(
          "Two different versions of the same layer are not allowed to be referenced in the "
          "same function. {} and {} are versions of the same layer.",
          s->second, arn));
    }
    seen[layer_arn] = arn;
    const LayerVersion* v = nullptr;
    if (LayerVersionArn(region_, ref.name, ref.version) == arn) {
      auto it = layers_.find(ref.name);
      if (it != layers_.end()) {
        auto found = it->second.versions.find(ref.version);
        if (found != it->second.versions.end()) v = &found->second;
      }
    }
    if (v == nullptr) return InvalidArgument(fmt::format("Layer version {} does not exist.", arn));
    out.push_back(FunctionLayer{arn, v->code_size, v->unzipped_size, v->code_hex});
  }
  return out;
}

}  // namespace nimbus::control
