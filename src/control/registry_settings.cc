// Registry operations on a function's settings rather than its code and
// configuration: aliases, reserved and provisioned concurrency, tags and the
// resource-based policy. Same class and locking rules as registry.cc.
#include <boost/json.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <variant>

#include "base/encoding.h"
#include "control/function_codec.h"
#include "control/function_name.h"
#include "control/registry.h"
#include "control/registry_common.h"
#include "control/validation.h"

namespace nimbus::control {
namespace {

namespace json = boost::json;

bool IsDigits(std::string_view q) {
  return !q.empty() &&
         std::all_of(q.begin(), q.end(), [](char c) { return c >= '0' && c <= '9'; });
}
bool IsNameChars(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
  });
}

Status ValidationError(std::string_view value, std::string_view field,
                       std::string_view constraint) {
  return ValidationFailed(fmt::format(
      "1 validation error detected: Value '{}' at '{}' failed to satisfy constraint: {}", value,
      field, constraint));
}

Status NotNull(std::string_view field) {
  return ValidationFailed(fmt::format(
      "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must "
      "not be null",
      field));
}

Status ValidateAliasName(std::string_view name) {
  if (!IsNameChars(name) || IsDigits(name)) {
    return ValidationError(name, "name",
                           "Member must satisfy regular expression pattern: "
                           "(?!^[0-9]+$)([a-zA-Z0-9-_]+)");
  }
  if (name.size() > 128) {
    return ValidationError(name, "name", "Member must have length less than or equal to 128");
  }
  return Status::Ok();
}

Status ValidateFunctionVersion(std::string_view version) {
  if (version != "$LATEST" && !IsDigits(version)) {
    return ValidationError(version, "functionVersion",
                           "Member must satisfy regular expression pattern: (\\$LATEST|[0-9]+)");
  }
  return Status::Ok();
}

std::string AliasArn(const Region& region, const std::string& function, const std::string& alias) {
  return QualifiedFunctionArn(region, function, alias);
}

// The Principal element AWS writes for AddPermission's Principal parameter.
json::value PrincipalElement(const std::string& principal) {
  if (principal == "*") return "*";
  if (principal.size() == 12 && IsDigits(principal)) {
    return json::object{{"AWS", fmt::format("arn:aws:iam::{}:root", principal)}};
  }
  if (principal.starts_with("arn:")) return json::object{{"AWS", principal}};
  if (principal.find('.') != std::string::npos) return json::object{{"Service", principal}};
  return json::object{{"AWS", principal}};
}

std::string PolicyDocument(const std::vector<std::string>& statements) {
  return fmt::format(R"({{"Version":"2012-10-17","Id":"default","Statement":[{}]}})",
                     fmt::join(statements, ","));
}

}  // namespace

// ---- aliases

Status Registry::ValidateRouting(const Entry& e, const std::string& name,
                                 const std::string& version,
                                 const std::map<std::string, double>& weights) const {
  if (weights.empty()) return Status::Ok();
  for (const auto& [v, w] : weights) {
    if (!IsDigits(v)) {
      return ValidationError(v, "routingConfig.additionalVersionWeights",
                             "Map keys must satisfy constraint: [Member must satisfy regular "
                             "expression pattern: [0-9]+]");
    }
    if (!(w >= 0.0 && w <= 1.0)) {
      return ValidationError(fmt::format("{}", w), "routingConfig.additionalVersionWeights",
                             "Map value must satisfy constraint: [Member must have value less "
                             "than or equal to 1.0, Member must have value greater than or equal "
                             "to 0.0]");
    }
  }
  if (weights.size() > 1) {
    return InvalidArgument("Number of items in AdditionalVersionWeights cannot be greater than 1");
  }
  if (version == "$LATEST") {
    return InvalidArgument("$LATEST is not supported for an alias pointing to more than 1 version");
  }
  const std::string& extra = weights.begin()->first;
  if (extra == version) {
    return InvalidArgument(fmt::format(
        "Invalid function version {0}. Function version {0} is already included in routing "
        "configuration.",
        version));
  }
  return VersionOf(e, name, extra).status();
}

Result<Alias> Registry::CreateAlias(CreateAliasRequest r) {
  NIMBUS_ASSIGN_OR_RETURN(std::string name, UnqualifiedName(r.function_name));
  if (r.name.empty()) return NotNull("name");
  if (r.function_version.empty()) return NotNull("functionVersion");
  NIMBUS_RETURN_IF_ERROR(ValidateAliasName(r.name));
  NIMBUS_RETURN_IF_ERROR(ValidateFunctionVersion(r.function_version));
  NIMBUS_RETURN_IF_ERROR(ValidateDescription(r.description));
  NIMBUS_ASSIGN_OR_RETURN(Entry e, ClaimEntry(name));
  Claim claim(*this, name);
  if (e.aliases.count(r.name) > 0) {
    return Conflict("Alias already exists: " + AliasArn(region_, name, r.name));
  }
  if (r.function_version != "$LATEST") {
    NIMBUS_RETURN_IF_ERROR(VersionOf(e, name, r.function_version).status());
  }
  NIMBUS_RETURN_IF_ERROR(
      ValidateRouting(e, name, r.function_version, r.additional_version_weights));
  Alias a{r.name, r.function_version, r.description, r.additional_version_weights, NewUuid()};
  NIMBUS_RETURN_IF_ERROR(Write([&]() -> Status {
    NIMBUS_ASSIGN_OR_RETURN(
        storage::Statement st,
        store_->Prepare("INSERT INTO aliases (function, name, config) VALUES (?, ?, ?)"));
    NIMBUS_RETURN_IF_ERROR(st.BindText(1, name));
    NIMBUS_RETURN_IF_ERROR(st.BindText(2, a.name));
    NIMBUS_RETURN_IF_ERROR(st.BindText(3, EncodeAlias(a)));
    return st.Run();
  }));
  e.aliases[a.name] = a;
  Install(name, std::move(e));
  return a;
}

Result<Alias> Registry::GetAlias(std::string_view function_name, std::string_view alias) const {
  NIMBUS_ASSIGN_OR_RETURN(std::string name, UnqualifiedName(function_name));
  NIMBUS_RETURN_IF_ERROR(ValidateAliasName(alias));
  MutexLock l(mu_);
  auto it = functions_.find(name);
  if (it == functions_.end()) {
    return NotFound("Function not found: " + FunctionArn(region_, name));
  }
  auto a = it->second.aliases.find(std::string(alias));
  if (a == it->second.aliases.end()) {
    return NotFound("Alias not found: " + AliasArn(region_, name, std::string(alias)));
  }
  return a->second;
}

Result<AliasResult> Registry::UpdateAlias(UpdateAliasRequest r) {
  NIMBUS_ASSIGN_OR_RETURN(std::string name, UnqualifiedName(r.function_name));
  NIMBUS_RETURN_IF_ERROR(ValidateAliasName(r.name));
  if (r.function_version) NIMBUS_RETURN_IF_ERROR(ValidateFunctionVersion(*r.function_version));
  if (r.description) NIMBUS_RETURN_IF_ERROR(ValidateDescription(*r.description));
  NIMBUS_ASSIGN_OR_RETURN(Entry e, ClaimEntry(name));
  Claim claim(*this, name);
  auto it = e.aliases.find(r.name);
  if (it == e.aliases.end()) {
    return NotFound("Alias not found: " + AliasArn(region_, name, r.name));
  }
  Alias before = it->second;
  if (r.revision_id && *r.revision_id != before.revision_id) return RevisionMismatch();
  Alias a = before;
  if (r.function_version) a.function_version = *r.function_version;
  if (r.description) a.description = *r.description;
  if (r.additional_version_weights) a.additional_version_weights = *r.additional_version_weights;
  if (a.function_version != "$LATEST") {
    NIMBUS_RETURN_IF_ERROR(VersionOf(e, name, a.function_version).status());
  }
  NIMBUS_RETURN_IF_ERROR(ValidateRouting(e, name, a.function_version, a.additional_version_weights));
  AliasResult out;
  auto pc = e.provisioned.find(a.name);
  if (pc != e.provisioned.end() && a.function_version != before.function_version) {
    if (a.function_version == "$LATEST") {
      return InvalidArgument(
          "Provisioned Concurrency Configs cannot be applied to unpublished function versions.");
    }
    if (e.provisioned.count(a.function_version) > 0) {
      return Conflict(
          "Alias can't be used for Provisioned Concurrency configuration on an already "
          "Provisioned version");
    }
    // Move the provisioned environments: the old version's go first.
    NIMBUS_ASSIGN_OR_RETURN(FunctionSnapshot old_v, VersionOf(e, name, before.function_version));
    NIMBUS_ASSIGN_OR_RETURN(FunctionSnapshot new_v, VersionOf(e, name, a.function_version));
    out.provisioning.settings.push_back({old_v, a.name, 0});
    out.provisioning.settings.push_back({new_v, a.name, pc->second.requested});
  }
  a.revision_id = NewUuid();
  NIMBUS_RETURN_IF_ERROR(Write([&]() -> Status {
    NIMBUS_ASSIGN_OR_RETURN(
        storage::Statement st,
        store_->Prepare("UPDATE aliases SET config = ? WHERE function = ? AND name = ?"));
    NIMBUS_RETURN_IF_ERROR(st.BindText(1, EncodeAlias(a)));
    NIMBUS_RETURN_IF_ERROR(st.BindText(2, name));
    NIMBUS_RETURN_IF_ERROR(st.BindText(3, a.name));
    return st.Run();
  }));
  e.aliases[a.name] = a;
  out.alias = std::move(a);
  Install(name, std::move(e));
  return out;
}

Result<ProvisioningChange> Registry::DeleteAlias(std::string_view function_name,
                                                 std::string_view alias) {
  NIMBUS_ASSIGN_OR_RETURN(std::string name, UnqualifiedName(function_name));
  NIMBUS_RETURN_IF_ERROR(ValidateAliasName(alias));
  NIMBUS_ASSIGN_OR_RETURN(Entry e, ClaimEntry(name));
  Claim claim(*this, name);
  std::string a(alias);
  auto it = e.aliases.find(a);
  if (it == e.aliases.end()) return NotFound("Alias not found: " + AliasArn(region_, name, a));
  ProvisioningChange out;
  if (e.provisioned.count(a) > 0) out.settings.push_back({ProvisionedTarget(e, a), a, 0});
  NIMBUS_RETURN_IF_ERROR(Write([&]() -> Status {
    for (std::string_view sql :
         {"DELETE FROM aliases WHERE function = ? AND name = ?",
          "DELETE FROM provisioned_concurrency WHERE function = ? AND qualifier = ?",
          "DELETE FROM policies WHERE function = ? AND qualifier = ?"}) {
      NIMBUS_ASSIGN_OR_RETURN(storage::Statement st, store_->Prepare(sql));
      NIMBUS_RETURN_IF_ERROR(st.BindText(1, name));
      NIMBUS_RETURN_IF_ERROR(st.BindText(2, a));
      NIMBUS_RETURN_IF_ERROR(st.Run());
    }
    return Status::Ok();
  }));
  e.aliases.erase(a);
  e.provisioned.erase(a);
  e.policies.erase(a);
  Install(name, std::move(e));
  return out;
}

Result<AliasPage> Registry::ListAliases(std::string_view function_name,
                                        std::string_view function_version,
                                        std::string_view marker, int max_items) const {
  NIMBUS_ASSIGN_OR_RETURN(std::string name, UnqualifiedName(function_name));
  NIMBUS_RETURN_IF_ERROR(ValidateMaxItems(max_items));
  if (!function_version.empty()) NIMBUS_RETURN_IF_ERROR(ValidateFunctionVersion(function_version));
  int page = std::min(max_items, kMaxListPage);
  MutexLock l(mu_);
  auto it = functions_.find(name);
  if (it == functions_.end()) return NotFound("Function not found: " + FunctionArn(region_, name));
  AliasPage out;
  const auto& aliases = it->second.aliases;
  auto a = marker.empty() ? aliases.begin() : aliases.upper_bound(std::string(marker));
  for (; a != aliases.end(); ++a) {
    const Alias& alias = a->second;
    bool routes = function_version.empty() || alias.function_version == function_version ||
                  alias.additional_version_weights.count(std::string(function_version)) > 0;
    if (!routes) continue;
    if (static_cast<int>(out.aliases.size()) == page) {
      out.next_marker = out.aliases.back().name;
      break;
    }
    out.aliases.push_back(alias);
  }
  return out;
}

// ---- reserved concurrency

Status Registry::PutFunctionConcurrency(std::string_view function_name, int reserved) {
  NIMBUS_ASSIGN_OR_RETURN(std::string name, UnqualifiedName(function_name));
  if (reserved < 0) {
    return ValidationError(std::to_string(reserved), "reservedConcurrentExecutions",
                           "Member must have value greater than or equal to 0");
  }
  NIMBUS_ASSIGN_OR_RETURN(Entry e, ClaimEntry(name));
  Claim claim(*this, name);
  int others = 0;
  {
    MutexLock l(mu_);
    for (const auto& [n, f] : functions_) {
      if (n != name && f.reserved) others += *f.reserved;
    }
  }
  if (others + reserved > account_concurrency_limit_ - kMinUnreservedConcurrency) {
    return InvalidArgument(fmt::format(
        "Specified ReservedConcurrentExecutions for function decreases account's "
        "UnreservedConcurrentExecution below its minimum value of [{}].",
        kMinUnreservedConcurrency));
  }
  int provisioned = 0;
  for (const auto& [q, pc] : e.provisioned) provisioned += pc.requested;
  if (reserved < provisioned) {
    return InvalidArgument(fmt::format(
        "ReservedConcurrentExecutions {} should not be lower than function's total provisioned "
        "concurrency [{}].",
        reserved, provisioned));
  }
  NIMBUS_RETURN_IF_ERROR(Write([&]() -> Status {
    NIMBUS_ASSIGN_OR_RETURN(
        storage::Statement st,
        store_->Prepare("UPDATE functions SET reserved_concurrency = ? WHERE name = ?"));
    NIMBUS_RETURN_IF_ERROR(st.BindInt64(1, reserved));
    NIMBUS_RETURN_IF_ERROR(st.BindText(2, name));
    return st.Run();
  }));
  e.reserved = reserved;
  Install(name, std::move(e));
  return Status::Ok();
}

Status Registry::DeleteFunctionConcurrency(std::string_view function_name) {
  NIMBUS_ASSIGN_OR_RETURN(std::string name, UnqualifiedName(function_name));
  NIMBUS_ASSIGN_OR_RETURN(Entry e, ClaimEntry(name));
  Claim claim(*this, name);
  NIMBUS_RETURN_IF_ERROR(Write([&]() -> Status {
    NIMBUS_ASSIGN_OR_RETURN(
        storage::Statement st,
        store_->Prepare("UPDATE functions SET reserved_concurrency = NULL WHERE name = ?"));
    NIMBUS_RETURN_IF_ERROR(st.BindText(1, name));
    return st.Run();
  }));
  e.reserved.reset();
  Install(name, std::move(e));
  return Status::Ok();
}

Result<std::optional<int>> Registry::GetFunctionConcurrency(std::string_view function_name) const {
  NIMBUS_ASSIGN_OR_RETURN(std::string name, UnqualifiedName(function_name));
  MutexLock l(mu_);
  auto it = functions_.find(name);
  if (it == functions_.end()) return NotFound("Function not found: " + FunctionArn(region_, name));
  return it->second.reserved;
}

int Registry::UnreservedConcurrency() const {
  int reserved = 0;
  MutexLock l(mu_);
  for (const auto& [n, f] : functions_) reserved += f.reserved.value_or(0);
  return account_concurrency_limit_ - reserved;
}

// ---- provisioned concurrency

Result<ProvisionedConcurrencySetting> Registry::PutProvisionedConcurrency(
    std::string_view function_name, std::string_view qualifier_view, int count) {
  NIMBUS_ASSIGN_OR_RETURN(std::string name, UnqualifiedName(function_name));
  std::string qualifier(qualifier_view);
  if (qualifier.empty()) return NotNull("qualifier");
  if (count < 1) {
    return ValidationError(std::to_string(count), "provisionedConcurrentExecutions",
                           "Member must have value greater than or equal to 1");
  }
  Status unpublished = InvalidArgument(
      "Provisioned Concurrency Configs cannot be applied to unpublished function versions.");
  if (qualifier == "$LATEST") return unpublished;
  NIMBUS_ASSIGN_OR_RETURN(Entry e, ClaimEntry(name));
  Claim claim(*this, name);
  FunctionSnapshot target;
  if (IsVersionNumber(qualifier)) {
    NIMBUS_ASSIGN_OR_RETURN(target, VersionOf(e, name, qualifier));
    for (const auto& [q, pc] : e.provisioned) {
      auto a = e.aliases.find(q);
      if (a != e.aliases.end() && a->second.function_version == qualifier) {
        return Conflict(fmt::format(
            "Version {} is already provisioned through alias {}: remove that configuration first",
            qualifier, q));
      }
    }
  } else {
    auto a = e.aliases.find(qualifier);
    if (a == e.aliases.end()) {
      return NotFound("Function not found: " + QualifiedFunctionArn(region_, name, qualifier));
    }
    if (a->second.function_version == "$LATEST") return unpublished;
    if (e.provisioned.count(a->second.function_version) > 0) {
      return Conflict(
          "Alias can't be used for Provisioned Concurrency configuration on an already "
          "Provisioned version");
    }
    NIMBUS_ASSIGN_OR_RETURN(target, VersionOf(e, name, a->second.function_version));
  }
  int others_here = 0;
  for (const auto& [q, pc] : e.provisioned) {
    if (q != qualifier) others_here += pc.requested;
  }
  if (e.reserved && others_here + count > *e.reserved) {
    return InvalidArgument(
        "Requested Provisioned Concurrency should not be greater than the "
        "reservedConcurrentExecution for function");
  }
  if (!e.reserved) {
    // Provisioned concurrency of a function without a reservation comes out of
    // the unreserved pool, which must keep its minimum.
    int committed = 0;
    {
      MutexLock l(mu_);
      for (const auto& [n, f] : functions_) {
        if (f.reserved) {
          committed += *f.reserved;
        } else if (n != name) {
          for (const auto& [q, pc] : f.provisioned) committed += pc.requested;
        }
      }
    }
    if (committed + others_here + count > account_concurrency_limit_ - kMinUnreservedConcurrency) {
      return InvalidArgument(fmt::format(
          "Specified ProvisionedConcurrentExecutions for function decreases account's "
          "UnreservedConcurrentExecution below its minimum value of [{}].",
          kMinUnreservedConcurrency));
    }
  }
  ProvisionedConcurrencyConfig pc{qualifier, count, NowTimestamp()};
  NIMBUS_RETURN_IF_ERROR(Write([&]() -> Status {
    NIMBUS_ASSIGN_OR_RETURN(
        storage::Statement st,
        store_->Prepare("INSERT OR REPLACE INTO provisioned_concurrency (function, qualifier, "
                        "requested, last_modified) VALUES (?, ?, ?, ?)"));
    NIMBUS_RETURN_IF_ERROR(st.BindText(1, name));
    NIMBUS_RETURN_IF_ERROR(st.BindText(2, qualifier));
    NIMBUS_RETURN_IF_ERROR(st.BindInt64(3, count));
    NIMBUS_RETURN_IF_ERROR(st.BindText(4, pc.last_modified));
    return st.Run();
  }));
  e.provisioned[qualifier] = pc;
  Install(name, std::move(e));
  return ProvisionedConcurrencySetting{target, qualifier, count};
}

Result<std::optional<ProvisionedConcurrencyConfig>> Registry::GetProvisionedConcurrency(
    std::string_view function_name, std::string_view qualifier) const {
  NIMBUS_ASSIGN_OR_RETURN(std::string name, UnqualifiedName(function_name));
  if (qualifier.empty()) return NotNull("qualifier");
  MutexLock l(mu_);
  auto it = functions_.find(name);
  if (it == functions_.end()) return NotFound("Function not found: " + FunctionArn(region_, name));
  const Entry& e = it->second;
  std::string q(qualifier);
  bool exists = q == "$LATEST" || (IsVersionNumber(q) && e.versions.count(std::stoi(q)) > 0) ||
                e.aliases.count(q) > 0;
  if (!exists) return NotFound("Function not found: " + QualifiedFunctionArn(region_, name, q));
  auto pc = e.provisioned.find(q);
  if (pc == e.provisioned.end()) return std::optional<ProvisionedConcurrencyConfig>();
  return std::optional<ProvisionedConcurrencyConfig>(pc->second);
}

Result<std::optional<ProvisionedConcurrencySetting>> Registry::DeleteProvisionedConcurrency(
    std::string_view function_name, std::string_view qualifier_view) {
  NIMBUS_ASSIGN_OR_RETURN(auto existing, GetProvisionedConcurrency(function_name, qualifier_view));
  if (!existing) return std::optional<ProvisionedConcurrencySetting>();
  NIMBUS_ASSIGN_OR_RETURN(std::string name, UnqualifiedName(function_name));
  std::string qualifier(qualifier_view);
  NIMBUS_ASSIGN_OR_RETURN(Entry e, ClaimEntry(name));
  Claim claim(*this, name);
  if (e.provisioned.count(qualifier) == 0) return std::optional<ProvisionedConcurrencySetting>();
  FunctionSnapshot target;
  if (IsVersionNumber(qualifier)) {
    NIMBUS_ASSIGN_OR_RETURN(target, VersionOf(e, name, qualifier));
  } else {
    const std::string& fv = e.aliases.at(qualifier).function_version;
    target = fv == "$LATEST" ? e.latest : e.versions.at(std::stoi(fv));
  }
  NIMBUS_RETURN_IF_ERROR(Write([&]() -> Status {
    NIMBUS_ASSIGN_OR_RETURN(
        storage::Statement st,
        store_->Prepare("DELETE FROM provisioned_concurrency WHERE function = ? AND qualifier = ?"));
    NIMBUS_RETURN_IF_ERROR(st.BindText(1, name));
    NIMBUS_RETURN_IF_ERROR(st.BindText(2, qualifier));
    return st.Run();
  }));
  e.provisioned.erase(qualifier);
  Install(name, std::move(e));
  return std::optional<ProvisionedConcurrencySetting>(
      ProvisionedConcurrencySetting{target, qualifier, 0});
}

Result<ProvisionedConcurrencyPage> Registry::ListProvisionedConcurrency(
    std::string_view function_name, std::string_view marker, int max_items) const {
  NIMBUS_ASSIGN_OR_RETURN(std::string name, UnqualifiedName(function_name));
  NIMBUS_RETURN_IF_ERROR(ValidateMaxItems(max_items));
  int page = std::min(max_items, kMaxListPage);
  MutexLock l(mu_);
  auto it = functions_.find(name);
  if (it == functions_.end()) return NotFound("Function not found: " + FunctionArn(region_, name));
  const auto& all = it->second.provisioned;
  ProvisionedConcurrencyPage out;
  auto pc = marker.empty() ? all.begin() : all.upper_bound(std::string(marker));
  for (; pc != all.end() && static_cast<int>(out.configs.size()) < page; ++pc) {
    out.configs.push_back(pc->second);
  }
  if (pc != all.end() && !out.configs.empty()) out.next_marker = out.configs.back().qualifier;
  return out;
}

FunctionSnapshot Registry::ProvisionedTarget(const Entry& e, const std::string& qualifier) {
  if (IsVersionNumber(qualifier)) return e.versions.at(std::stoi(qualifier));
  const std::string& fv = e.aliases.at(qualifier).function_version;
  return fv == "$LATEST" ? e.latest : e.versions.at(std::stoi(fv));
}

ConcurrencySettings Registry::ListConcurrencySettings() const {
  ConcurrencySettings out;
  MutexLock l(mu_);
  for (const auto& [name, e] : functions_) {
    if (e.reserved) out.reserved[name] = *e.reserved;
    for (const auto& [q, pc] : e.provisioned) {
      out.provisioned.push_back({ProvisionedTarget(e, q), q, pc.requested});
    }
  }
  return out;
}

// ---- tags

namespace {
// The function name of a TaggableResource ARN (unqualified function ARNs only).
Result<std::string> TaggedFunction(std::string_view arn) {
  if (!arn.starts_with("arn:")) {
    return ValidationError(arn, "resource",
                           "Member must satisfy regular expression pattern: "
                           "arn:(aws[a-zA-Z-]*):lambda:[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-"
                           "\\d{1}:\\d{12}:(function:[a-zA-Z0-9-_]+(:(\\$LATEST|[a-zA-Z0-9-_]+))?"
                           "|code-signing-config:csc-[a-z0-9]{17}|event-source-mapping:[0-9a-fA-F]"
                           "{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|"
                           "capacity-provider:[a-zA-Z0-9-_]+)");
  }
  NIMBUS_ASSIGN_OR_RETURN(FunctionRef ref, ParseFunctionRef(arn));
  if (ref.qualifier) {
    return InvalidArgument("Tags are not supported on function versions or aliases: use the "
                           "unqualified function ARN");
  }
  return ref.name;
}
}  // namespace

Result<std::map<std::string, std::string>> Registry::ListTags(std::string_view arn) const {
  NIMBUS_ASSIGN_OR_RETURN(std::string name, TaggedFunction(arn));
  MutexLock l(mu_);
  auto it = functions_.find(name);
  if (it == functions_.end()) return NotFound("Function not found: " + FunctionArn(region_, name));
  return it->second.latest->config.tags;
}

Status Registry::TagResource(std::string_view arn, const std::map<std::string, std::string>& tags) {
  NIMBUS_ASSIGN_OR_RETURN(std::string name, TaggedFunction(arn));
  NIMBUS_ASSIGN_OR_RETURN(Entry e, ClaimEntry(name));
  Claim claim(*this, name);
  FunctionConfig c = e.latest->config;
  for (const auto& [k, v] : tags) c.tags[k] = v;
  NIMBUS_RETURN_IF_ERROR(ValidateTags(c.tags));
  e.latest = MakeSnapshot(std::move(c), e.latest->code_hex);
  NIMBUS_RETURN_IF_ERROR(Persist(*e.latest, /*insert=*/false));
  Install(name, std::move(e));
  return Status::Ok();
}

Status Registry::UntagResource(std::string_view arn, const std::vector<std::string>& keys) {
  NIMBUS_ASSIGN_OR_RETURN(std::string name, TaggedFunction(arn));
  NIMBUS_ASSIGN_OR_RETURN(Entry e, ClaimEntry(name));
  Claim claim(*this, name);
  FunctionConfig c = e.latest->config;
  for (const auto& k : keys) c.tags.erase(k);
  e.latest = MakeSnapshot(std::move(c), e.latest->code_hex);
  NIMBUS_RETURN_IF_ERROR(Persist(*e.latest, /*insert=*/false));
  Install(name, std::move(e));
  return Status::Ok();
}

// ---- resource-based policy

Result<std::string> Registry::AddPermission(AddPermissionRequest r) {
  NIMBUS_ASSIGN_OR_RETURN(FunctionRef ref, ParseFunctionRef(r.function_name, r.qualifier));
  if (r.statement_id.empty()) return NotNull("statementId");
  if (r.action.empty()) return NotNull("action");
  if (r.principal.empty()) return NotNull("principal");
  if (!IsNameChars(r.statement_id)) {
    return ValidationError(r.statement_id, "statementId",
                           "Member must satisfy regular expression pattern: ([a-zA-Z0-9-_]+)");
  }
  if (r.statement_id.size() > 100) {
    return ValidationError(r.statement_id, "statementId",
                           "Member must have length less than or equal to 100");
  }
  bool action_ok = r.action == "*" || r.action == "lambda:*" ||
                   (r.action.starts_with("lambda:") && r.action.size() > 7 &&
                    std::all_of(r.action.begin() + 7, r.action.end(), [](char c) {
                      return std::isalpha(static_cast<unsigned char>(c));
                    }));
  if (!action_ok) {
    return ValidationError(r.action, "action",
                           "Member must satisfy regular expression pattern: "
                           "(lambda:[*]|lambda:[a-zA-Z]+|[*])");
  }
  if (std::any_of(r.principal.begin(), r.principal.end(),
                  [](char c) { return std::isspace(static_cast<unsigned char>(c)); })) {
    return ValidationError(r.principal, "principal",
                           "Member must satisfy regular expression pattern: [^\\s]+");
  }
  std::string key = ref.qualifier && *ref.qualifier != "$LATEST" ? *ref.qualifier : "";
  NIMBUS_ASSIGN_OR_RETURN(Entry e, ClaimEntry(ref.name));
  Claim claim(*this, ref.name);
  if (!key.empty()) {
    bool exists = (IsVersionNumber(key) && e.versions.count(std::stoi(key)) > 0) ||
                  e.aliases.count(key) > 0;
    if (!exists) return NotFound("Function not found: " + QualifiedFunctionArn(region_, ref.name, key));
  }
  StoredPolicy policy = e.policies.count(key) > 0 ? e.policies[key] : StoredPolicy{};
  if (r.revision_id && *r.revision_id != policy.revision_id) return RevisionMismatch();
  for (const auto& s : policy.statements) {
    json::value v = json::parse(s);
    if (v.at("Sid").as_string() == r.statement_id) {
      return Conflict(
          "The statement id (sid) provided already exists. Please choose a new statement id, or "
          "remove the existing statement.");
    }
  }
  json::object statement;
  statement["Sid"] = r.statement_id;
  statement["Effect"] = "Allow";
  statement["Principal"] = PrincipalElement(r.principal);
  statement["Action"] = r.action;
  statement["Resource"] = key.empty() ? FunctionArn(region_, ref.name)
                                      : QualifiedFunctionArn(region_, ref.name, key);
  json::object string_equals;
  if (!r.source_account.empty()) string_equals["AWS:SourceAccount"] = r.source_account;
  if (!r.event_source_token.empty()) string_equals["lambda:EventSourceToken"] = r.event_source_token;
  if (!r.principal_org_id.empty()) string_equals["aws:PrincipalOrgID"] = r.principal_org_id;
  if (!r.function_url_auth_type.empty()) {
    string_equals["lambda:FunctionUrlAuthType"] = r.function_url_auth_type;
  }
  json::object condition;
  if (!string_equals.empty()) condition["StringEquals"] = std::move(string_equals);
  if (!r.source_arn.empty()) condition["ArnLike"] = json::object{{"AWS:SourceArn", r.source_arn}};
  if (!condition.empty()) statement["Condition"] = std::move(condition);
  std::string text = json::serialize(statement);
  policy.statements.push_back(text);
  policy.revision_id = NewUuid();
  NIMBUS_RETURN_IF_ERROR(Write([&]() -> Status {
    NIMBUS_ASSIGN_OR_RETURN(
        storage::Statement st,
        store_->Prepare("INSERT OR REPLACE INTO policies (function, qualifier, statements, "
                        "revision_id) VALUES (?, ?, ?, ?)"));
    NIMBUS_RETURN_IF_ERROR(st.BindText(1, ref.name));
    NIMBUS_RETURN_IF_ERROR(st.BindText(2, key));
    NIMBUS_RETURN_IF_ERROR(
        st.BindText(3, fmt::format("[{}]", fmt::join(policy.statements, ","))));
    NIMBUS_RETURN_IF_ERROR(st.BindText(4, policy.revision_id));
    return st.Run();
  }));
  e.policies[key] = std::move(policy);
  Install(ref.name, std::move(e));
  return text;
}

Result<Policy> Registry::GetPolicy(std::string_view function_name,
                                   std::string_view qualifier) const {
  NIMBUS_ASSIGN_OR_RETURN(FunctionRef ref, ParseFunctionRef(function_name, qualifier));
  std::string key = ref.qualifier && *ref.qualifier != "$LATEST" ? *ref.qualifier : "";
  MutexLock l(mu_);
  auto it = functions_.find(ref.name);
  if (it == functions_.end()) {
    return NotFound("Function not found: " + FunctionArn(region_, ref.name));
  }
  auto p = it->second.policies.find(key);
  if (p == it->second.policies.end() || p->second.statements.empty()) {
    return NotFound("The resource you requested does not exist.");
  }
  return Policy{PolicyDocument(p->second.statements), p->second.revision_id};
}

Status Registry::RemovePermission(std::string_view function_name, std::string_view qualifier,
                                  std::string_view statement_id,
                                  const std::optional<std::string>& revision_id) {
  NIMBUS_ASSIGN_OR_RETURN(FunctionRef ref, ParseFunctionRef(function_name, qualifier));
  std::string key = ref.qualifier && *ref.qualifier != "$LATEST" ? *ref.qualifier : "";
  NIMBUS_ASSIGN_OR_RETURN(Entry e, ClaimEntry(ref.name));
  Claim claim(*this, ref.name);
  auto p = e.policies.find(key);
  if (p == e.policies.end()) {
    return NotFound("No policy is associated with the given resource.");
  }
  if (revision_id && *revision_id != p->second.revision_id) return RevisionMismatch();
  auto& statements = p->second.statements;
  auto s = std::find_if(statements.begin(), statements.end(), [&](const std::string& text) {
    return json::parse(text).at("Sid").as_string() == statement_id;
  });
  if (s == statements.end()) {
    return NotFound(fmt::format("Statement {} is not found in resource policy.", statement_id));
  }
  statements.erase(s);
  p->second.revision_id = NewUuid();
  NIMBUS_RETURN_IF_ERROR(Write([&]() -> Status {
    NIMBUS_ASSIGN_OR_RETURN(
        storage::Statement st,
        store_->Prepare(statements.empty()
                            ? "DELETE FROM policies WHERE function = ? AND qualifier = ?"
                            : "UPDATE policies SET statements = ?3, revision_id = ?4 WHERE "
                              "function = ?1 AND qualifier = ?2"));
    NIMBUS_RETURN_IF_ERROR(st.BindText(1, ref.name));
    NIMBUS_RETURN_IF_ERROR(st.BindText(2, key));
    if (!statements.empty()) {
      NIMBUS_RETURN_IF_ERROR(st.BindText(3, fmt::format("[{}]", fmt::join(statements, ","))));
      NIMBUS_RETURN_IF_ERROR(st.BindText(4, p->second.revision_id));
    }
    return st.Run();
  }));
  if (statements.empty()) e.policies.erase(p);
  Install(ref.name, std::move(e));
  return Status::Ok();
}

}  // namespace nimbus::control
