#include "control/registry.h"

#include <fmt/format.h>
#include <time.h>

#include <system_error>
#include <utility>

#include "base/encoding.h"
#include "base/log.h"
#include "control/function_codec.h"
#include "control/function_name.h"
#include "control/validation.h"
#include "storage/zip_unpacker.h"

namespace nimbus::control {
namespace {

// The registry's schema. Append-only (see storage::Migration).
// Persisted format: functions.config is EncodeFunctionConfig's JSON;
// functions.code_hex names the blob and the code directory.
const std::vector<storage::Migration>& Migrations() {
  static const std::vector<storage::Migration> kMigrations = {
      {1,
       "CREATE TABLE functions ("
       "  name TEXT PRIMARY KEY NOT NULL,"
       "  config TEXT NOT NULL,"
       "  code_hex TEXT NOT NULL)"},
  };
  return kMigrations;
}

constexpr int kMaxListPage = 50;

std::string NotFoundMessage(const Region& region, const std::string& name,
                            const std::optional<std::string>& qualifier) {
  return "Function not found: " + (qualifier ? QualifiedFunctionArn(region, name, *qualifier)
                                             : FunctionArn(region, name));
}

Status RevisionMismatch() {
  return Status(Code::kFailedPrecondition,
                "The Revision Id provided does not match the latest Revision Id. Call the "
                "GetFunction/GetAlias API to retrieve the latest Revision Id");
}

Status PublishUnsupported() {
  return InvalidArgument(
      "Publish is not supported yet: this Nimbus has only the $LATEST version of each function");
}

// The name of an unqualified reference for an operation on the function itself.
Result<std::string> UnqualifiedName(std::string_view text) {
  NIMBUS_ASSIGN_OR_RETURN(FunctionRef ref, ParseFunctionRef(text));
  if (ref.qualifier.has_value()) {
    return ValidationFailed(fmt::format(
        "1 validation error detected: Value '{}' at 'functionName' failed to satisfy constraint: "
        "Member must not include a qualifier",
        text));
  }
  return ref.name;
}

}  // namespace

std::string FormatLastModified(std::chrono::system_clock::time_point t) {
  int64_t ms = ToUnixMillis(t);
  time_t secs = static_cast<time_t>(ms / 1000);
  int millis = static_cast<int>(ms % 1000);
  if (millis < 0) {
    millis += 1000;
    secs -= 1;
  }
  struct tm tm;
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}+0000", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
}

// Marks a function name as being mutated; released (under mu_) on destruction.
class Registry::Claim {
 public:
  Claim(Registry& r, std::string name) : r_(r), name_(std::move(name)) {}
  ~Claim() {
    MutexLock l(r_.mu_);
    r_.busy_.erase(name_);
  }
  Claim(const Claim&) = delete;
  Claim& operator=(const Claim&) = delete;

 private:
  Registry& r_;
  std::string name_;
};

Registry::Registry(const RegistryOptions& options, const Clock& clock,
                   std::unique_ptr<storage::Store> store,
                   std::unique_ptr<storage::BlobStore> blobs)
    : data_dir_(options.data_dir),
      region_(options.region),
      clock_(clock),
      blobs_(std::move(blobs)),
      store_(std::move(store)) {}

Registry::~Registry() = default;

Result<std::unique_ptr<Registry>> Registry::Open(const RegistryOptions& options,
                                                 const Clock& clock) {
  std::error_code ec;
  std::filesystem::create_directories(options.data_dir / "code", ec);
  if (ec) {
    return Internal(fmt::format("registry: create {}: {}", options.data_dir.string(),
                                ec.message()));
  }
  // Unpacks interrupted by a crash leave ".tmp-*" directories; none is in use now.
  for (const auto& entry : std::filesystem::directory_iterator(options.data_dir / "code", ec)) {
    if (entry.path().filename().string().starts_with(".tmp-")) {
      std::error_code ignored;
      std::filesystem::remove_all(entry.path(), ignored);
    }
  }
  auto store = storage::Store::Open(options.data_dir / "nimbus.db", Migrations());
  if (!store.has_value()) return store.error().WithContext("registry");
  auto blobs = storage::BlobStore::Open(options.data_dir / "blobs");
  if (!blobs.has_value()) return blobs.error().WithContext("registry");
  std::unique_ptr<Registry> registry(
      new Registry(options, clock, std::move(store).value(), std::move(blobs).value()));
  NIMBUS_RETURN_IF_ERROR(registry->LoadAll());
  return registry;
}

std::filesystem::path Registry::CodeDir(std::string_view hex) const {
  return data_dir_ / "code" / std::string(hex);
}

std::string Registry::NowTimestamp() const { return FormatLastModified(clock_.Now()); }

FunctionSnapshot Registry::MakeSnapshot(FunctionConfig config, std::string hex) const {
  auto v = std::make_shared<FunctionVersion>();
  v->arn = FunctionArn(region_, config.name);
  v->code_dir = CodeDir(hex);
  v->code_hex = std::move(hex);
  v->config = std::move(config);
  return v;
}

Status Registry::LoadAll() {
  std::vector<std::pair<FunctionConfig, std::string>> rows;
  {
    MutexLock l(store_mu_);
    NIMBUS_ASSIGN_OR_RETURN(storage::Statement st,
                            store_->Prepare("SELECT config, code_hex FROM functions"));
    for (;;) {
      NIMBUS_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      auto config = DecodeFunctionConfig(st.ColumnText(0));
      if (!config.has_value()) return config.error().WithContext("registry: load");
      rows.emplace_back(std::move(config).value(), st.ColumnText(1));
    }
  }
  std::map<std::string, FunctionSnapshot> loaded;
  for (auto& [config, hex] : rows) {
    if (!std::filesystem::is_directory(CodeDir(hex))) {
      // The crash came between the commit and the unpack becoming durable, or
      // someone removed the directory: rebuild it from the blob.
      auto zip = blobs_->Get(hex);
      Status s = zip.status();
      if (s.ok()) s = storage::UnpackZip(*zip, CodeDir(hex)).status();
      if (!s.ok()) {
        log::Error("registry: function {}: cannot restore code package {}: {}", config.name, hex,
                   s.ToString());
        config.state = "Failed";
        config.state_reason = "The function's code package is missing from the data directory.";
        config.state_reason_code = "InternalError";
      }
    }
    std::string name = config.name;
    loaded[name] = MakeSnapshot(std::move(config), hex);
  }
  MutexLock l(mu_);
  functions_ = std::move(loaded);
  return Status::Ok();
}

Result<Registry::PreparedCode> Registry::PrepareCode(std::string_view zip, bool store_blob) {
  if (static_cast<int64_t>(zip.size()) > kMaxZippedCodeBytes) {
    return Status(Code::kTooLarge, "Zipped size must be smaller than 52428800 bytes");
  }
  std::string digest = Sha256(zip);
  PreparedCode code;
  code.hex = HexEncode(digest);
  code.sha256_base64 = Base64Encode(digest);
  code.size = static_cast<int64_t>(zip.size());
  // Unpack before storing the blob, so a package that is not a valid zip leaves
  // nothing behind.
  if (!std::filesystem::is_directory(CodeDir(code.hex))) {
    storage::UnpackLimits limits;
    limits.max_unzipped_bytes = kMaxUnzippedCodeBytes;
    NIMBUS_RETURN_IF_ERROR(storage::UnpackZip(zip, CodeDir(code.hex), limits).status());
  }
  if (store_blob) {
    NIMBUS_ASSIGN_OR_RETURN(std::string hex, blobs_->Put(zip));
    NIMBUS_CHECK(hex == code.hex);
  }
  return code;
}

Status Registry::ValidateConfig(const FunctionConfig& c) const {
  if (c.package_type != "Zip") {
    return InvalidArgument(fmt::format(
        "PackageType {} is not supported: this Nimbus runs .zip deployment packages only",
        c.package_type));
  }
  if (c.runtime.empty() || c.handler.empty()) {
    return InvalidArgument(
        "Runtime and Handler are mandatory parameters for functions created with deployment "
        "packages.");
  }
  NIMBUS_RETURN_IF_ERROR(ValidateRuntime(c.runtime));
  NIMBUS_RETURN_IF_ERROR(ValidateHandler(c.handler));
  NIMBUS_RETURN_IF_ERROR(ValidateRole(c.role));
  NIMBUS_RETURN_IF_ERROR(ValidateDescription(c.description));
  NIMBUS_RETURN_IF_ERROR(ValidateTimeout(c.timeout_seconds));
  NIMBUS_RETURN_IF_ERROR(ValidateMemorySize(c.memory_mb));
  NIMBUS_RETURN_IF_ERROR(ValidateEphemeralStorage(c.ephemeral_storage_mb));
  NIMBUS_RETURN_IF_ERROR(ValidateEnvironment(c.environment));
  NIMBUS_RETURN_IF_ERROR(ValidateArchitecture(c.architecture));
  NIMBUS_RETURN_IF_ERROR(ValidateTracingMode(c.tracing_mode));
  NIMBUS_RETURN_IF_ERROR(ValidateLogFormat(c.log_format));
  return Status::Ok();
}

Status Registry::Persist(const FunctionVersion& v, bool insert) {
  MutexLock l(store_mu_);
  return storage::InTransaction(*store_, [&]() -> Status {
    NIMBUS_ASSIGN_OR_RETURN(
        storage::Statement st,
        store_->Prepare(insert ? "INSERT INTO functions (config, code_hex, name) VALUES (?, ?, ?)"
                               : "UPDATE functions SET config = ?, code_hex = ? WHERE name = ?"));
    NIMBUS_RETURN_IF_ERROR(st.BindText(1, EncodeFunctionConfig(v.config)));
    NIMBUS_RETURN_IF_ERROR(st.BindText(2, v.code_hex));
    NIMBUS_RETURN_IF_ERROR(st.BindText(3, v.config.name));
    return st.Run();
  });
}

Result<FunctionSnapshot> Registry::CreateFunction(CreateFunctionRequest r) {
  NIMBUS_ASSIGN_OR_RETURN(std::string name, UnqualifiedName(r.function_name));
  if (r.publish) return PublishUnsupported();
  FunctionConfig c;
  c.name = name;
  c.runtime = std::move(r.runtime);
  c.handler = std::move(r.handler);
  c.role = std::move(r.role);
  c.description = std::move(r.description);
  if (r.timeout_seconds) NIMBUS_RETURN_IF_ERROR(ValidateTimeout(*r.timeout_seconds));
  if (r.memory_mb) NIMBUS_RETURN_IF_ERROR(ValidateMemorySize(*r.memory_mb));
  if (r.ephemeral_storage_mb) {
    NIMBUS_RETURN_IF_ERROR(ValidateEphemeralStorage(*r.ephemeral_storage_mb));
  }
  c.timeout_seconds = static_cast<int>(r.timeout_seconds.value_or(c.timeout_seconds));
  c.memory_mb = static_cast<int>(r.memory_mb.value_or(c.memory_mb));
  c.ephemeral_storage_mb = static_cast<int>(r.ephemeral_storage_mb.value_or(c.ephemeral_storage_mb));
  c.environment = std::move(r.environment);
  c.architecture = std::move(r.architecture);
  c.package_type = std::move(r.package_type);
  c.tracing_mode = std::move(r.tracing_mode);
  c.log_format = std::move(r.log_format);
  c.log_group = r.log_group.empty() ? "/aws/lambda/" + name : std::move(r.log_group);
  c.tags = std::move(r.tags);
  NIMBUS_RETURN_IF_ERROR(ValidateConfig(c));

  {
    MutexLock l(mu_);
    if (functions_.count(name) > 0 || busy_.count(name) > 0) {
      return Conflict("Function already exist: " + name);
    }
    int64_t total = 0;
    for (const auto& [n, f] : functions_) total += f->config.code_size;
    if (total + static_cast<int64_t>(r.zip_file.size()) > kMaxTotalCodeBytes) {
      return Status(Code::kResourceExhausted, "Code storage limit exceeded.");
    }
    busy_.insert(name);
  }
  Claim claim(*this, name);

  NIMBUS_ASSIGN_OR_RETURN(PreparedCode code, PrepareCode(r.zip_file, /*store_blob=*/true));
  c.code_sha256 = code.sha256_base64;
  c.code_size = code.size;
  c.last_modified = NowTimestamp();
  c.revision_id = NewUuid();
  c.state = "Active";
  c.last_update_status = "Successful";
  FunctionSnapshot snapshot = MakeSnapshot(std::move(c), code.hex);
  Status s = Persist(*snapshot, /*insert=*/true);
  if (s.code() == Code::kConflict) return Conflict("Function already exist: " + name);
  NIMBUS_RETURN_IF_ERROR(s);
  MutexLock l(mu_);
  functions_[name] = snapshot;
  return snapshot;
}

Result<FunctionSnapshot> Registry::Resolve(std::string_view name_or_arn,
                                           std::string_view qualifier) const {
  NIMBUS_ASSIGN_OR_RETURN(FunctionRef ref, ParseFunctionRef(name_or_arn, qualifier));
  if (ref.qualifier.has_value() && *ref.qualifier != "$LATEST") {
    // TODO(#versions): published versions and aliases.
    return NotFound(NotFoundMessage(region_, ref.name, ref.qualifier));
  }
  MutexLock l(mu_);
  auto it = functions_.find(ref.name);
  if (it == functions_.end()) return NotFound(NotFoundMessage(region_, ref.name, std::nullopt));
  return it->second;
}

Result<FunctionSnapshot> Registry::CurrentForUpdate(const std::string& name,
                                                    const std::optional<std::string>& revision_id,
                                                    bool claim) {
  MutexLock l(mu_);
  auto it = functions_.find(name);
  if (it == functions_.end()) return NotFound(NotFoundMessage(region_, name, std::nullopt));
  const FunctionSnapshot& current = it->second;
  if (busy_.count(name) > 0) {
    return Conflict(
        "The operation cannot be performed at this time. An update is in progress for "
        "resource: " +
        current->arn);
  }
  if (revision_id && *revision_id != current->config.revision_id) return RevisionMismatch();
  if (claim) busy_.insert(name);
  return current;
}

Result<FunctionSnapshot> Registry::UpdateFunctionCode(UpdateFunctionCodeRequest r) {
  NIMBUS_ASSIGN_OR_RETURN(std::string name, UnqualifiedName(r.function_name));
  if (r.publish) return PublishUnsupported();
  if (r.architecture) NIMBUS_RETURN_IF_ERROR(ValidateArchitecture(*r.architecture));
  NIMBUS_ASSIGN_OR_RETURN(FunctionSnapshot current,
                          CurrentForUpdate(name, r.revision_id, /*claim=*/!r.dry_run));
  std::optional<Claim> claim;
  if (!r.dry_run) claim.emplace(*this, name);

  NIMBUS_ASSIGN_OR_RETURN(PreparedCode code, PrepareCode(r.zip_file, /*store_blob=*/!r.dry_run));
  FunctionConfig c = current->config;
  c.code_sha256 = code.sha256_base64;
  c.code_size = code.size;
  if (r.architecture) c.architecture = *r.architecture;
  if (r.dry_run) return MakeSnapshot(std::move(c), code.hex);
  c.last_modified = NowTimestamp();
  c.revision_id = NewUuid();
  c.last_update_status = "Successful";
  FunctionSnapshot snapshot = MakeSnapshot(std::move(c), code.hex);
  NIMBUS_RETURN_IF_ERROR(Persist(*snapshot, /*insert=*/false));
  MutexLock l(mu_);
  functions_[name] = snapshot;
  return snapshot;
}

Result<FunctionSnapshot> Registry::UpdateFunctionConfiguration(
    UpdateFunctionConfigurationRequest r) {
  NIMBUS_ASSIGN_OR_RETURN(std::string name, UnqualifiedName(r.function_name));
  // Range checks before the narrowing into FunctionConfig's ints.
  if (r.timeout_seconds) NIMBUS_RETURN_IF_ERROR(ValidateTimeout(*r.timeout_seconds));
  if (r.memory_mb) NIMBUS_RETURN_IF_ERROR(ValidateMemorySize(*r.memory_mb));
  if (r.ephemeral_storage_mb) {
    NIMBUS_RETURN_IF_ERROR(ValidateEphemeralStorage(*r.ephemeral_storage_mb));
  }
  NIMBUS_ASSIGN_OR_RETURN(FunctionSnapshot current,
                          CurrentForUpdate(name, r.revision_id, /*claim=*/true));
  Claim claim(*this, name);
  FunctionConfig c = current->config;
  if (r.runtime) c.runtime = *r.runtime;
  if (r.handler) c.handler = *r.handler;
  if (r.role) c.role = *r.role;
  if (r.description) c.description = *r.description;
  if (r.timeout_seconds) c.timeout_seconds = static_cast<int>(*r.timeout_seconds);
  if (r.memory_mb) c.memory_mb = static_cast<int>(*r.memory_mb);
  if (r.ephemeral_storage_mb) c.ephemeral_storage_mb = static_cast<int>(*r.ephemeral_storage_mb);
  if (r.environment) c.environment = *r.environment;
  if (r.tracing_mode) c.tracing_mode = *r.tracing_mode;
  if (r.log_format) c.log_format = *r.log_format;
  if (r.log_group) c.log_group = r.log_group->empty() ? "/aws/lambda/" + name : *r.log_group;
  NIMBUS_RETURN_IF_ERROR(ValidateConfig(c));
  c.last_modified = NowTimestamp();
  c.revision_id = NewUuid();
  c.last_update_status = "Successful";
  FunctionSnapshot snapshot = MakeSnapshot(std::move(c), current->code_hex);
  NIMBUS_RETURN_IF_ERROR(Persist(*snapshot, /*insert=*/false));
  MutexLock l(mu_);
  functions_[name] = snapshot;
  return snapshot;
}

Status Registry::DeleteFunction(std::string_view name_or_arn, std::string_view qualifier) {
  NIMBUS_ASSIGN_OR_RETURN(FunctionRef ref, ParseFunctionRef(name_or_arn, qualifier));
  if (ref.qualifier == "$LATEST") {
    return InvalidArgument("$LATEST version cannot be deleted without deleting the function.");
  }
  if (ref.qualifier.has_value()) return NotFound(NotFoundMessage(region_, ref.name, ref.qualifier));
  {
    MutexLock l(mu_);
    auto it = functions_.find(ref.name);
    if (it == functions_.end()) {
      return NotFound(NotFoundMessage(region_, ref.name, std::nullopt));
    }
    if (busy_.count(ref.name) > 0) {
      return Conflict(
          "The operation cannot be performed at this time. An update is in progress for "
          "resource: " +
          it->second->arn);
    }
    busy_.insert(ref.name);
  }
  Claim claim(*this, ref.name);
  {
    MutexLock l(store_mu_);
    NIMBUS_RETURN_IF_ERROR(storage::InTransaction(*store_, [&]() -> Status {
      NIMBUS_ASSIGN_OR_RETURN(storage::Statement st,
                              store_->Prepare("DELETE FROM functions WHERE name = ?"));
      NIMBUS_RETURN_IF_ERROR(st.BindText(1, ref.name));
      return st.Run();
    }));
  }
  // TODO(#gc): drop blobs and code directories no function references once no
  // execution environment can still be using them.
  MutexLock l(mu_);
  functions_.erase(ref.name);
  return Status::Ok();
}

Result<FunctionPage> Registry::ListFunctions(std::string_view marker, int max_items) const {
  if (max_items < 1 || max_items > 10000) {
    return ValidationFailed(fmt::format(
        "1 validation error detected: Value '{}' at 'maxItems' failed to satisfy constraint: "
        "Member must have value {}",
        max_items, max_items < 1 ? "greater than or equal to 1" : "less than or equal to 10000"));
  }
  int page = std::min(max_items, kMaxListPage);
  FunctionPage out;
  MutexLock l(mu_);
  auto it = marker.empty() ? functions_.begin() : functions_.upper_bound(std::string(marker));
  for (; it != functions_.end() && static_cast<int>(out.functions.size()) < page; ++it) {
    out.functions.push_back(it->second);
  }
  if (it != functions_.end() && !out.functions.empty()) {
    out.next_marker = out.functions.back()->config.name;
  }
  return out;
}

AccountUsage Registry::GetAccountUsage() const {
  AccountUsage usage;
  MutexLock l(mu_);
  for (const auto& [name, f] : functions_) {
    usage.total_code_size += f->config.code_size;
    ++usage.function_count;
  }
  return usage;
}

Result<std::string> Registry::ReadCodePackage(std::string_view hex) const {
  if (!storage::IsSha256Hex(hex)) return NotFound(fmt::format("code package {} not found", hex));
  auto zip = blobs_->Get(hex);
  if (!zip.has_value() && zip.error().code() == Code::kNotFound) {
    return NotFound(fmt::format("code package {} not found", hex));
  }
  return zip;
}

}  // namespace nimbus::control
