#include "control/registry.h"

#include <boost/json.hpp>
#include <fmt/format.h>
#include <time.h>

#include <algorithm>
#include <cctype>
#include <random>
#include <system_error>
#include <utility>
#include <variant>

#include "base/encoding.h"
#include "base/log.h"
#include "control/function_codec.h"
#include "control/function_name.h"
#include "control/registry_common.h"
#include "control/validation.h"
#include "storage/zip_unpacker.h"

namespace nimbus::control {
namespace {

// The registry's schema. Append-only (see storage::Migration).
// Persisted format: functions.config, versions.config are EncodeFunctionConfig's
// JSON; aliases.config is EncodeAlias's; code_hex names the blob and the code
// directory; policies.statements is a JSON array of statement objects.
// versions.fingerprint is $LATEST's configuration at publish time
// (Fingerprint()), compared by PublishVersion's no-op check.
// layers.last_version is the highest version ever published (numbers are never
// reused); layer_versions.config is EncodeLayerVersion's JSON, code_hex names
// the layer's blob and code directory.
const std::vector<storage::Migration>& Migrations() {
  static const std::vector<storage::Migration> kMigrations = {
      {1,
       "CREATE TABLE functions ("
       "  name TEXT PRIMARY KEY NOT NULL,"
       "  config TEXT NOT NULL,"
       "  code_hex TEXT NOT NULL)"},
      {2,
       "ALTER TABLE functions ADD COLUMN last_version INTEGER NOT NULL DEFAULT 0;"
       "ALTER TABLE functions ADD COLUMN reserved_concurrency INTEGER;"
       "CREATE TABLE versions ("
       "  function TEXT NOT NULL REFERENCES functions(name) ON DELETE CASCADE,"
       "  version INTEGER NOT NULL,"
       "  config TEXT NOT NULL,"
       "  code_hex TEXT NOT NULL,"
       "  fingerprint TEXT NOT NULL,"
       "  PRIMARY KEY (function, version));"
       "CREATE TABLE aliases ("
       "  function TEXT NOT NULL REFERENCES functions(name) ON DELETE CASCADE,"
       "  name TEXT NOT NULL,"
       "  config TEXT NOT NULL,"
       "  PRIMARY KEY (function, name));"
       "CREATE TABLE provisioned_concurrency ("
       "  function TEXT NOT NULL REFERENCES functions(name) ON DELETE CASCADE,"
       "  qualifier TEXT NOT NULL,"
       "  requested INTEGER NOT NULL,"
       "  last_modified TEXT NOT NULL,"
       "  PRIMARY KEY (function, qualifier));"
       "CREATE TABLE policies ("
       "  function TEXT NOT NULL REFERENCES functions(name) ON DELETE CASCADE,"
       "  qualifier TEXT NOT NULL,"
       "  statements TEXT NOT NULL,"
       "  revision_id TEXT NOT NULL,"
       "  PRIMARY KEY (function, qualifier));"},
      {3,
       "CREATE TABLE layers ("
       "  name TEXT PRIMARY KEY NOT NULL,"
       "  last_version INTEGER NOT NULL);"
       "CREATE TABLE layer_versions ("
       "  layer TEXT NOT NULL REFERENCES layers(name),"
       "  version INTEGER NOT NULL,"
       "  config TEXT NOT NULL,"
       "  code_hex TEXT NOT NULL,"
       "  PRIMARY KEY (layer, version));"},
  };
  return kMigrations;
}

std::string NotFoundMessage(const Region& region, const std::string& name,
                            const std::optional<std::string>& qualifier) {
  return "Function not found: " + (qualifier ? QualifiedFunctionArn(region, name, *qualifier)
                                             : FunctionArn(region, name));
}

Status UpdateInProgress(const std::string& arn) {
  return Conflict(
      "The operation cannot be performed at this time. An update is in progress for "
      "resource: " +
      arn);
}

// $LATEST's configuration without what changes on every update (RevisionId,
// LastModified) or does not belong to a version (tags): equal fingerprints mean
// "nothing to publish".
std::string Fingerprint(const FunctionConfig& c) {
  FunctionConfig f = c;
  f.version.clear();
  f.last_modified.clear();
  f.revision_id.clear();
  f.tags.clear();
  f.state.clear();
  f.state_reason.clear();
  f.state_reason_code.clear();
  f.last_update_status.clear();
  f.last_update_status_reason.clear();
  f.last_update_status_reason_code.clear();
  return EncodeFunctionConfig(f);
}

using SqlValue = std::variant<std::string, int64_t, std::nullptr_t>;

Status RunSql(storage::Store& store, std::string_view sql, const std::vector<SqlValue>& args) {
  NIMBUS_ASSIGN_OR_RETURN(storage::Statement st, store.Prepare(sql));
  for (size_t i = 0; i < args.size(); ++i) {
    int index = static_cast<int>(i) + 1;
    if (const auto* text = std::get_if<std::string>(&args[i])) {
      NIMBUS_RETURN_IF_ERROR(st.BindText(index, *text));
    } else if (const auto* n = std::get_if<int64_t>(&args[i])) {
      NIMBUS_RETURN_IF_ERROR(st.BindInt64(index, *n));
    } else {
      NIMBUS_RETURN_IF_ERROR(st.BindNull(index));
    }
  }
  return st.Run();
}

// Bytes of an unpacked tree as UnpackZip counts them: file contents and
// symlink targets. Blocking.
int64_t MeasureTree(const std::filesystem::path& dir) {
  int64_t total = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code e2;
    if (it->is_symlink(e2)) {
      total += static_cast<int64_t>(std::filesystem::read_symlink(it->path(), e2).string().size());
    } else if (it->is_regular_file(e2)) {
      auto size = it->file_size(e2);
      if (!e2) total += static_cast<int64_t>(size);
    }
  }
  return total;
}

// The default RandomSource: a Mersenne Twister seeded once from std::random_device.
class Mt19937Random final : public RandomSource {
 public:
  Mt19937Random() : engine_(std::random_device{}()) {}
  double NextUnit() override {
    MutexLock l(mu_);
    return std::uniform_real_distribution<double>(0.0, 1.0)(engine_);
  }

 private:
  Mutex mu_;
  std::mt19937_64 engine_ NIMBUS_GUARDED_BY(mu_);
};

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

Registry::Registry(const RegistryOptions& options, const Clock& clock,
                   std::unique_ptr<storage::Store> store,
                   std::unique_ptr<storage::BlobStore> blobs)
    : data_dir_(options.data_dir),
      region_(options.region),
      clock_(clock),
      account_concurrency_limit_(options.account_concurrency_limit),
      owned_random_(options.random == nullptr ? std::make_unique<Mt19937Random>() : nullptr),
      random_(options.random != nullptr ? options.random : owned_random_.get()),
      blobs_(std::move(blobs)),
      store_(std::move(store)),
      code_dir_grace_(options.code_dir_grace),
      disk_(options.disk) {}

Registry::~Registry() = default;

Result<std::unique_ptr<Registry>> Registry::Open(const RegistryOptions& options,
                                                 const Clock& clock) {
  std::error_code ec;
  std::filesystem::create_directories(options.data_dir / "code", ec);
  if (ec) {
    return Internal(fmt::format("registry: create {}: {}", options.data_dir.string(),
                                ec.message()));
  }
  // Unpacks and code removals interrupted by a crash leave ".tmp-*"
  // directories (a removal renames the tree there first); none is in use now.
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
  // No environment exists yet: every unreferenced directory can go now.
  registry->Collect(/*at_open=*/true);
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
  for (const FunctionLayer& layer : config.layers) v->layer_dirs.push_back(CodeDir(layer.code_hex));
  v->config = std::move(config);
  return v;
}

void Registry::Install(const std::string& name, Entry entry) {
  MutexLock l(mu_);
  functions_[name] = std::move(entry);
}

Status Registry::LoadAll() {
  struct Row {
    FunctionConfig config;
    std::string hex;
  };
  std::map<std::string, Entry> loaded;
  std::vector<Row> rows;  // $LATEST and versions, to restore packages outside store_mu_
  std::map<std::string, LayerEntry> layers;
  {
    MutexLock l(store_mu_);
    NIMBUS_ASSIGN_OR_RETURN(layers, LoadLayers());
    NIMBUS_ASSIGN_OR_RETURN(
        storage::Statement st,
        store_->Prepare("SELECT config, code_hex, last_version, reserved_concurrency "
                        "FROM functions"));
    for (;;) {
      NIMBUS_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      auto config = DecodeFunctionConfig(st.ColumnText(0));
      if (!config.has_value()) return config.error().WithContext("registry: load");
      Entry& e = loaded[config->name];
      e.last_version = static_cast<int>(st.ColumnInt64(2));
      if (!st.ColumnIsNull(3)) e.reserved = static_cast<int>(st.ColumnInt64(3));
      rows.push_back(Row{std::move(config).value(), st.ColumnText(1)});
    }
    NIMBUS_ASSIGN_OR_RETURN(
        storage::Statement vs,
        store_->Prepare("SELECT function, version, config, code_hex, fingerprint FROM versions"));
    for (;;) {
      NIMBUS_ASSIGN_OR_RETURN(bool row, vs.Step());
      if (!row) break;
      auto config = DecodeFunctionConfig(vs.ColumnText(2));
      if (!config.has_value()) return config.error().WithContext("registry: load version");
      auto it = loaded.find(vs.ColumnText(0));
      if (it == loaded.end()) continue;  // ON DELETE CASCADE makes this impossible
      it->second.fingerprints[static_cast<int>(vs.ColumnInt64(1))] = vs.ColumnText(4);
      rows.push_back(Row{std::move(config).value(), vs.ColumnText(3)});
    }
    NIMBUS_ASSIGN_OR_RETURN(storage::Statement as,
                            store_->Prepare("SELECT function, config FROM aliases"));
    for (;;) {
      NIMBUS_ASSIGN_OR_RETURN(bool row, as.Step());
      if (!row) break;
      auto alias = DecodeAlias(as.ColumnText(1));
      if (!alias.has_value()) return alias.error().WithContext("registry: load alias");
      auto it = loaded.find(as.ColumnText(0));
      if (it != loaded.end()) it->second.aliases[alias->name] = std::move(alias).value();
    }
    NIMBUS_ASSIGN_OR_RETURN(
        storage::Statement ps,
        store_->Prepare(
            "SELECT function, qualifier, requested, last_modified FROM provisioned_concurrency"));
    for (;;) {
      NIMBUS_ASSIGN_OR_RETURN(bool row, ps.Step());
      if (!row) break;
      auto it = loaded.find(ps.ColumnText(0));
      if (it == loaded.end()) continue;
      ProvisionedConcurrencyConfig pc{ps.ColumnText(1), static_cast<int>(ps.ColumnInt64(2)),
                                      ps.ColumnText(3)};
      it->second.provisioned[pc.qualifier] = pc;
    }
    NIMBUS_ASSIGN_OR_RETURN(
        storage::Statement pol,
        store_->Prepare("SELECT function, qualifier, statements, revision_id FROM policies"));
    for (;;) {
      NIMBUS_ASSIGN_OR_RETURN(bool row, pol.Step());
      if (!row) break;
      auto it = loaded.find(pol.ColumnText(0));
      if (it == loaded.end()) continue;
      boost::json::error_code ec;
      boost::json::value v = boost::json::parse(pol.ColumnText(2), ec);
      if (ec || !v.is_array()) return Internal("registry: load policy: not a JSON array");
      StoredPolicy p;
      for (const auto& statement : v.get_array()) {
        p.statements.push_back(boost::json::serialize(statement));
      }
      p.revision_id = pol.ColumnText(3);
      it->second.policies[pol.ColumnText(1)] = std::move(p);
    }
  }
  // Layer versions' packages, restored like functions' (a failure only logs:
  // the functions that use the layer report it below).
  for (const auto& [name, layer] : layers) {
    for (const auto& [n, v] : layer.versions) {
      if (std::filesystem::is_directory(CodeDir(v.code_hex))) continue;
      auto zip = blobs_->Get(v.code_hex);
      Status s = zip.status();
      if (s.ok()) s = storage::UnpackZip(*zip, CodeDir(v.code_hex)).status();
      if (!s.ok()) {
        log::Error("registry: layer {}:{}: cannot restore package {}: {}", name, n, v.code_hex,
                   s.ToString());
      }
    }
  }
  for (auto& [config, hex] : rows) {
    std::vector<std::string> hexes{hex};
    for (const FunctionLayer& layer : config.layers) hexes.push_back(layer.code_hex);
    for (const std::string& h : hexes) {
      if (std::filesystem::is_directory(CodeDir(h))) continue;
      // The crash came between the commit and the unpack becoming durable, or
      // someone removed the directory: rebuild it from the blob.
      auto zip = blobs_->Get(h);
      Status s = zip.status();
      if (s.ok()) s = storage::UnpackZip(*zip, CodeDir(h)).status();
      if (!s.ok()) {
        log::Error("registry: function {}:{}: cannot restore code package {}: {}", config.name,
                   config.version, h, s.ToString());
        config.state = "Failed";
        config.state_reason = h == hex
                                  ? "The function's code package is missing from the data "
                                    "directory."
                                  : "A layer's package is missing from the data directory.";
        config.state_reason_code = "InternalError";
      }
    }
    Entry& e = loaded[config.name];
    if (config.version == "$LATEST") {
      e.latest = MakeSnapshot(std::move(config), hex);
    } else {
      int n = std::stoi(config.version);
      e.versions[n] = MakeSnapshot(std::move(config), hex);
    }
  }
  MutexLock l(mu_);
  functions_ = std::move(loaded);
  layers_ = std::move(layers);
  return Status::Ok();
}

Result<Registry::PreparedCode> Registry::PrepareCode(std::string_view zip, bool store_blob) {
  if (static_cast<int64_t>(zip.size()) > kMaxZippedCodeBytes) {
    return Status(Code::kTooLarge, "Zipped size must be smaller than 52428800 bytes");
  }
  if (disk_ != nullptr) NIMBUS_RETURN_IF_ERROR(disk_->CheckRoomFor(2 * zip.size()));
  std::string digest = Sha256(zip);
  PreparedCode code;
  code.hex = HexEncode(digest);
  code.sha256_base64 = Base64Encode(digest);
  code.size = static_cast<int64_t>(zip.size());
  // Pinned before the directory is looked at: a collection can no longer
  // remove it (or the blob) until the caller commits or fails.
  code.pin = CodePin(*this, code.hex);
  // Unpack before storing the blob, so a package that is not a valid zip leaves
  // nothing behind.
  if (!std::filesystem::is_directory(CodeDir(code.hex))) {
    storage::UnpackLimits limits;
    limits.max_unzipped_bytes = kMaxUnzippedCodeBytes;
    NIMBUS_ASSIGN_OR_RETURN(storage::UnpackStats stats,
                            storage::UnpackZip(zip, CodeDir(code.hex), limits));
    code.unzipped_size = static_cast<int64_t>(stats.unzipped_bytes);
  } else {
    code.unzipped_size = MeasureTree(CodeDir(code.hex));
  }
  if (store_blob) {
    NIMBUS_ASSIGN_OR_RETURN(std::string hex, blobs_->Put(zip));
    NIMBUS_CHECK(hex == code.hex);
    std::function<void()> hook;
    {
      MutexLock l(mu_);
      hook = code_stored_hook_;
    }
    if (hook) hook();
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
  NIMBUS_RETURN_IF_ERROR(ValidateLogGroup(c.log_group));
  NIMBUS_RETURN_IF_ERROR(
      ValidateLogLevels(c.log_format, c.application_log_level, c.system_log_level));
  if (!c.dead_letter_target_arn.empty()) {
    NIMBUS_RETURN_IF_ERROR(ValidateDeadLetterTarget(c.dead_letter_target_arn));
  }
  return Status::Ok();
}

Status Registry::CheckCombinedSize(const FunctionConfig& c, const std::string& code_hex) const {
  if (c.layers.empty()) return Status::Ok();
  // Records written before layers existed did not keep the unpacked size.
  int64_t total = c.code_unzipped_size > 0 ? c.code_unzipped_size : MeasureTree(CodeDir(code_hex));
  for (const FunctionLayer& layer : c.layers) total += layer.unzipped_size;
  if (total > kMaxUnzippedCodeBytes) {
    return InvalidArgument(fmt::format(
        "Function code combined with layers exceeds the maximum allowed size of {} bytes. The "
        "actual size is {} bytes.",
        kMaxUnzippedCodeBytes, total));
  }
  return Status::Ok();
}

Status Registry::Persist(const FunctionVersion& v, bool insert) {
  return Write([&]() -> Status {
    return RunSql(*store_,
                  insert ? "INSERT INTO functions (config, code_hex, name) VALUES (?, ?, ?)"
                         : "UPDATE functions SET config = ?, code_hex = ? WHERE name = ?",
                  {EncodeFunctionConfig(v.config), v.code_hex, v.config.name});
  });
}

Result<UpdateResult> Registry::CreateFunction(CreateFunctionRequest r) {
  NIMBUS_ASSIGN_OR_RETURN(std::string name, UnqualifiedName(r.function_name));
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
  c.application_log_level = std::move(r.application_log_level);
  c.system_log_level = std::move(r.system_log_level);
  DefaultLogLevels(c.log_format, c.application_log_level, c.system_log_level);
  c.dead_letter_target_arn = std::move(r.dead_letter_target_arn);
  c.tags = std::move(r.tags);
  NIMBUS_RETURN_IF_ERROR(ValidateTags(c.tags));
  NIMBUS_RETURN_IF_ERROR(ValidateConfig(c));
  NIMBUS_ASSIGN_OR_RETURN(c.layers, ResolveLayers(r.layers));

  {
    MutexLock l(mu_);
    if (functions_.count(name) > 0 || busy_.count(name) > 0) {
      return Conflict("Function already exist: " + name);
    }
    int64_t total = 0;
    for (const auto& [n, f] : functions_) total += f.latest->config.code_size;
    if (total + static_cast<int64_t>(r.zip_file.size()) > kMaxTotalCodeBytes) {
      return Status(Code::kResourceExhausted, "Code storage limit exceeded.").WithDetail("CodeStorageExceeded");
    }
    busy_.insert(name);
  }
  Claim claim(*this, name);

  NIMBUS_ASSIGN_OR_RETURN(PreparedCode code, PrepareCode(r.zip_file, /*store_blob=*/true));
  c.code_sha256 = code.sha256_base64;
  c.code_size = code.size;
  c.code_unzipped_size = code.unzipped_size;
  NIMBUS_RETURN_IF_ERROR(CheckCombinedSize(c, code.hex));
  c.last_modified = NowTimestamp();
  c.revision_id = NewUuid();
  c.state = "Active";
  c.last_update_status = "Successful";
  Entry e;
  e.latest = MakeSnapshot(std::move(c), code.hex);
  Status s = Persist(*e.latest, /*insert=*/true);
  if (s.code() == Code::kConflict) return Conflict("Function already exist: " + name);
  NIMBUS_RETURN_IF_ERROR(s);
  UpdateResult out;
  out.latest = e.latest;
  if (r.publish) {
    auto published = PublishLocked(e, std::nullopt);
    if (!published.has_value()) {
      Install(name, e);  // the function exists; only the publish failed
      return published.error();
    }
    out.published = *published;
  }
  Install(name, std::move(e));
  return out;
}

Result<FunctionSnapshot> Registry::Resolve(std::string_view name_or_arn,
                                           std::string_view qualifier) const {
  return ResolveImpl(name_or_arn, qualifier, /*weighted=*/false);
}

Result<FunctionSnapshot> Registry::ResolveForInvoke(std::string_view name_or_arn,
                                                    std::string_view qualifier) const {
  return ResolveImpl(name_or_arn, qualifier, /*weighted=*/true);
}

Result<FunctionSnapshot> Registry::ResolveImpl(std::string_view name_or_arn,
                                               std::string_view qualifier, bool weighted) const {
  NIMBUS_ASSIGN_OR_RETURN(FunctionRef ref, ParseFunctionRef(name_or_arn, qualifier));
  MutexLock l(mu_);
  auto it = functions_.find(ref.name);
  if (it == functions_.end()) return NotFound(NotFoundMessage(region_, ref.name, ref.qualifier));
  const Entry& e = it->second;
  if (!ref.qualifier || *ref.qualifier == "$LATEST") return e.latest;
  const std::string& q = *ref.qualifier;
  if (IsVersionNumber(q)) {
    auto v = e.versions.find(std::stoi(q));
    if (v == e.versions.end()) return NotFound(NotFoundMessage(region_, ref.name, ref.qualifier));
    return v->second;
  }
  auto a = e.aliases.find(q);
  if (a == e.aliases.end()) return NotFound(NotFoundMessage(region_, ref.name, ref.qualifier));
  std::string target = a->second.function_version;
  if (weighted && !a->second.additional_version_weights.empty()) {
    // One extra version at most: it runs with probability `weight`.
    const auto& [extra, weight] = *a->second.additional_version_weights.begin();
    if (random_->NextUnit() < weight) target = extra;
  }
  if (target == "$LATEST") return e.latest;
  auto v = e.versions.find(std::stoi(target));
  NIMBUS_CHECK(v != e.versions.end())
      << "alias " << q << " of " << ref.name << " routes to missing version " << target;
  return v->second;
}

Result<FunctionSnapshot> Registry::CurrentForUpdate(const std::string& name,
                                                    const std::optional<std::string>& revision_id,
                                                    bool claim) {
  MutexLock l(mu_);
  auto it = functions_.find(name);
  if (it == functions_.end()) return NotFound(NotFoundMessage(region_, name, std::nullopt));
  const FunctionSnapshot& current = it->second.latest;
  if (busy_.count(name) > 0) return UpdateInProgress(current->arn);
  if (revision_id && *revision_id != current->config.revision_id) return RevisionMismatch();
  if (claim) busy_.insert(name);
  return current;
}

Result<Registry::Entry> Registry::ClaimEntry(const std::string& name) {
  MutexLock l(mu_);
  auto it = functions_.find(name);
  if (it == functions_.end()) return NotFound(NotFoundMessage(region_, name, std::nullopt));
  if (busy_.count(name) > 0) return UpdateInProgress(it->second.latest->arn);
  busy_.insert(name);
  return it->second;
}

Result<FunctionSnapshot> Registry::VersionOf(const Entry& e, const std::string& name,
                                             const std::string& qualifier) const {
  if (IsVersionNumber(qualifier)) {
    auto v = e.versions.find(std::stoi(qualifier));
    if (v != e.versions.end()) return v->second;
  }
  return NotFound(NotFoundMessage(region_, name, qualifier));
}

Result<FunctionSnapshot> Registry::PublishLocked(Entry& e,
                                                 const std::optional<std::string>& description) {
  const FunctionConfig& latest = e.latest->config;
  std::string fingerprint = Fingerprint(latest);
  if (!e.versions.empty()) {
    int newest = e.versions.rbegin()->first;
    if (e.fingerprints[newest] == fingerprint) return e.versions.rbegin()->second;
  }
  int number = e.last_version + 1;
  FunctionConfig c = latest;
  c.version = std::to_string(number);
  c.description = description.value_or(latest.description);
  NIMBUS_RETURN_IF_ERROR(ValidateDescription(c.description));
  c.last_modified = NowTimestamp();
  c.revision_id = NewUuid();
  c.state = "Active";
  c.state_reason.clear();
  c.state_reason_code.clear();
  c.last_update_status = "Successful";
  c.tags.clear();
  FunctionSnapshot v = MakeSnapshot(std::move(c), e.latest->code_hex);
  NIMBUS_RETURN_IF_ERROR(Write([&]() -> Status {
    NIMBUS_RETURN_IF_ERROR(RunSql(*store_,
                                  "INSERT INTO versions (function, version, config, code_hex, "
                                  "fingerprint) VALUES (?, ?, ?, ?, ?)",
                                  {latest.name, int64_t{number}, EncodeFunctionConfig(v->config),
                                   v->code_hex, fingerprint}));
    return RunSql(*store_, "UPDATE functions SET last_version = ? WHERE name = ?",
                  {int64_t{number}, latest.name});
  }));
  e.last_version = number;
  e.versions[number] = v;
  e.fingerprints[number] = std::move(fingerprint);
  return v;
}

Result<FunctionSnapshot> Registry::PublishVersion(PublishVersionRequest r) {
  NIMBUS_ASSIGN_OR_RETURN(std::string name, UnqualifiedName(r.function_name));
  NIMBUS_ASSIGN_OR_RETURN(Entry e, ClaimEntry(name));
  Claim claim(*this, name);
  const FunctionConfig& latest = e.latest->config;
  if (r.revision_id && *r.revision_id != latest.revision_id) return RevisionMismatch();
  if (r.code_sha256 && *r.code_sha256 != latest.code_sha256) {
    return InvalidArgument(fmt::format(
        "CodeSHA256 ({}) is different from current CodeSHA256 in $LATEST ({}). Please try again "
        "with the CodeSHA256 in $LATEST.",
        *r.code_sha256, latest.code_sha256));
  }
  NIMBUS_ASSIGN_OR_RETURN(FunctionSnapshot v, PublishLocked(e, r.description));
  Install(name, std::move(e));
  return v;
}

Result<VersionPage> Registry::ListVersionsByFunction(std::string_view name_or_arn,
                                                     std::string_view marker,
                                                     int max_items) const {
  NIMBUS_ASSIGN_OR_RETURN(std::string name, UnqualifiedName(name_or_arn));
  NIMBUS_RETURN_IF_ERROR(ValidateMaxItems(max_items));
  int page = std::min(max_items, kMaxListPage);
  std::vector<FunctionSnapshot> all;
  {
    MutexLock l(mu_);
    auto it = functions_.find(name);
    if (it == functions_.end()) return NotFound(NotFoundMessage(region_, name, std::nullopt));
    all.push_back(it->second.latest);
    for (const auto& [n, v] : it->second.versions) all.push_back(v);
  }
  size_t start = 0;
  if (!marker.empty()) {
    while (start < all.size() && all[start]->config.version != marker) ++start;
    start = start < all.size() ? start + 1 : all.size();
  }
  VersionPage out;
  for (size_t i = start; i < all.size() && static_cast<int>(out.versions.size()) < page; ++i) {
    out.versions.push_back(all[i]);
  }
  if (start + out.versions.size() < all.size() && !out.versions.empty()) {
    out.next_marker = out.versions.back()->config.version;
  }
  return out;
}

Result<UpdateResult> Registry::CommitUpdate(const std::string& name, Entry e, FunctionConfig c,
                                           const std::string& code_hex, bool publish) {
  c.last_modified = NowTimestamp();
  c.revision_id = NewUuid();
  c.last_update_status = "Successful";
  e.latest = MakeSnapshot(std::move(c), code_hex);
  NIMBUS_RETURN_IF_ERROR(Persist(*e.latest, /*insert=*/false));
  UpdateResult out{e.latest, nullptr};
  if (publish) {
    auto published = PublishLocked(e, std::nullopt);
    if (!published.has_value()) {
      Install(name, e);
      return published.error();
    }
    out.published = *published;
  }
  Install(name, std::move(e));
  return out;
}

Result<UpdateResult> Registry::UpdateFunctionCode(UpdateFunctionCodeRequest r) {
  const bool dry_run = r.dry_run;
  auto out = UpdateFunctionCodeImpl(std::move(r));
  // The previous code may be unused now (a dry run changes nothing).
  if (out.has_value() && !dry_run) Collect(/*at_open=*/false);
  return out;
}

Result<UpdateResult> Registry::UpdateFunctionCodeImpl(UpdateFunctionCodeRequest r) {
  NIMBUS_ASSIGN_OR_RETURN(std::string name, UnqualifiedName(r.function_name));
  if (r.architecture) NIMBUS_RETURN_IF_ERROR(ValidateArchitecture(*r.architecture));
  if (r.dry_run) {
    NIMBUS_ASSIGN_OR_RETURN(FunctionSnapshot current,
                            CurrentForUpdate(name, r.revision_id, /*claim=*/false));
    NIMBUS_ASSIGN_OR_RETURN(PreparedCode code, PrepareCode(r.zip_file, /*store_blob=*/false));
    FunctionConfig c = current->config;
    c.code_sha256 = code.sha256_base64;
    c.code_size = code.size;
    c.code_unzipped_size = code.unzipped_size;
    NIMBUS_RETURN_IF_ERROR(CheckCombinedSize(c, code.hex));
    if (r.architecture) c.architecture = *r.architecture;
    return UpdateResult{MakeSnapshot(std::move(c), code.hex), nullptr};
  }
  NIMBUS_ASSIGN_OR_RETURN(Entry e, ClaimEntry(name));
  Claim claim(*this, name);
  if (r.revision_id && *r.revision_id != e.latest->config.revision_id) return RevisionMismatch();
  NIMBUS_ASSIGN_OR_RETURN(PreparedCode code, PrepareCode(r.zip_file, /*store_blob=*/true));
  FunctionConfig c = e.latest->config;
  c.code_sha256 = code.sha256_base64;
  c.code_size = code.size;
  c.code_unzipped_size = code.unzipped_size;
  NIMBUS_RETURN_IF_ERROR(CheckCombinedSize(c, code.hex));
  if (r.architecture) c.architecture = *r.architecture;
  return CommitUpdate(name, std::move(e), std::move(c), code.hex, r.publish);
}

Result<UpdateResult> Registry::UpdateFunctionConfiguration(UpdateFunctionConfigurationRequest r) {
  const bool layers_changed = r.layers.has_value();
  auto out = UpdateFunctionConfigurationImpl(std::move(r));
  // A layer version deleted earlier may have lost its last user.
  if (out.has_value() && layers_changed) Collect(/*at_open=*/false);
  return out;
}

Result<UpdateResult> Registry::UpdateFunctionConfigurationImpl(
    UpdateFunctionConfigurationRequest r) {
  NIMBUS_ASSIGN_OR_RETURN(std::string name, UnqualifiedName(r.function_name));
  // Range checks before the narrowing into FunctionConfig's ints.
  if (r.timeout_seconds) NIMBUS_RETURN_IF_ERROR(ValidateTimeout(*r.timeout_seconds));
  if (r.memory_mb) NIMBUS_RETURN_IF_ERROR(ValidateMemorySize(*r.memory_mb));
  if (r.ephemeral_storage_mb) {
    NIMBUS_RETURN_IF_ERROR(ValidateEphemeralStorage(*r.ephemeral_storage_mb));
  }
  NIMBUS_ASSIGN_OR_RETURN(Entry e, ClaimEntry(name));
  Claim claim(*this, name);
  if (r.revision_id && *r.revision_id != e.latest->config.revision_id) return RevisionMismatch();
  FunctionConfig c = e.latest->config;
  if (r.runtime) c.runtime = *r.runtime;
  if (r.handler) c.handler = *r.handler;
  if (r.role) c.role = *r.role;
  if (r.description) c.description = *r.description;
  if (r.timeout_seconds) c.timeout_seconds = static_cast<int>(*r.timeout_seconds);
  if (r.memory_mb) c.memory_mb = static_cast<int>(*r.memory_mb);
  if (r.ephemeral_storage_mb) c.ephemeral_storage_mb = static_cast<int>(*r.ephemeral_storage_mb);
  if (r.environment) c.environment = *r.environment;
  if (r.tracing_mode) c.tracing_mode = *r.tracing_mode;
  if (r.log_format) {
    if (*r.log_format == "Text") {
      c.application_log_level.clear();
      c.system_log_level.clear();
    }
    c.log_format = *r.log_format;
  }
  if (r.log_group) c.log_group = r.log_group->empty() ? "/aws/lambda/" + name : *r.log_group;
  if (r.application_log_level) c.application_log_level = *r.application_log_level;
  if (r.system_log_level) c.system_log_level = *r.system_log_level;
  DefaultLogLevels(c.log_format, c.application_log_level, c.system_log_level);
  if (r.dead_letter_target_arn) c.dead_letter_target_arn = *r.dead_letter_target_arn;
  NIMBUS_RETURN_IF_ERROR(ValidateConfig(c));
  if (r.layers) {
    NIMBUS_ASSIGN_OR_RETURN(c.layers, ResolveLayers(*r.layers));
    NIMBUS_RETURN_IF_ERROR(CheckCombinedSize(c, e.latest->code_hex));
  }
  std::string hex = e.latest->code_hex;
  return CommitUpdate(name, std::move(e), std::move(c), hex, r.publish);
}

Result<DeleteResult> Registry::DeleteFunction(std::string_view name_or_arn,
                                              std::string_view qualifier) {
  auto out = DeleteFunctionImpl(name_or_arn, qualifier);
  if (out.has_value()) Collect(/*at_open=*/false);
  return out;
}

Result<DeleteResult> Registry::DeleteFunctionImpl(std::string_view name_or_arn,
                                                  std::string_view qualifier) {
  NIMBUS_ASSIGN_OR_RETURN(FunctionRef ref, ParseFunctionRef(name_or_arn, qualifier));
  if (ref.qualifier == "$LATEST") {
    return InvalidArgument("$LATEST version cannot be deleted without deleting the function.");
  }
  if (ref.qualifier.has_value() && !IsVersionNumber(*ref.qualifier)) {
    // AWS: DeleteFunction takes a version; aliases are deleted with DeleteAlias.
    {
      MutexLock l(mu_);
      auto it = functions_.find(ref.name);
      if (it == functions_.end() || it->second.aliases.count(*ref.qualifier) == 0) {
        return NotFound(NotFoundMessage(region_, ref.name, ref.qualifier));
      }
    }
    return InvalidArgument("Deletion of aliases is not currently supported.");
  }
  NIMBUS_ASSIGN_OR_RETURN(Entry e, ClaimEntry(ref.name));
  Claim claim(*this, ref.name);
  DeleteResult out;
  out.name = ref.name;
  if (ref.qualifier.has_value()) {
    const std::string& q = *ref.qualifier;
    NIMBUS_ASSIGN_OR_RETURN(FunctionSnapshot v, VersionOf(e, ref.name, q));
    std::vector<std::string> referencing;
    for (const auto& [alias_name, alias] : e.aliases) {
      if (alias.function_version == q || alias.additional_version_weights.count(q) > 0) {
        referencing.push_back(alias_name);
      }
    }
    if (!referencing.empty()) {
      std::string list;
      for (const auto& a : referencing) list += (list.empty() ? "" : ", ") + a;
      return Conflict(
          fmt::format("Unable to delete version because the following aliases reference it: [{}]",
                      list));
    }
    int number = std::stoi(q);
    NIMBUS_RETURN_IF_ERROR(Write([&]() -> Status {
      NIMBUS_RETURN_IF_ERROR(RunSql(*store_,
                                    "DELETE FROM versions WHERE function = ? AND version = ?",
                                    {ref.name, int64_t{number}}));
      NIMBUS_RETURN_IF_ERROR(RunSql(
          *store_, "DELETE FROM provisioned_concurrency WHERE function = ? AND qualifier = ?",
          {ref.name, q}));
      return RunSql(*store_, "DELETE FROM policies WHERE function = ? AND qualifier = ?",
                    {ref.name, q});
    }));
    if (e.provisioned.erase(q) > 0) out.provisioning.settings.push_back({v, q, 0});
    e.policies.erase(q);
    e.versions.erase(number);
    e.fingerprints.erase(number);
    out.version = q;
    Install(ref.name, std::move(e));
    return out;
  }
  NIMBUS_RETURN_IF_ERROR(Write([&]() -> Status {
    // ON DELETE CASCADE removes its versions, aliases, provisioned
    // concurrency and policies.
    return RunSql(*store_, "DELETE FROM functions WHERE name = ?", {ref.name});
  }));
  out.had_reserved_concurrency = e.reserved.has_value();
  for (const auto& [q, pc] : e.provisioned) {
    out.provisioning.settings.push_back({ProvisionedTarget(e, q), q, 0});
  }
  // DeleteFunction collects the code this function alone used.
  MutexLock l(mu_);
  functions_.erase(ref.name);
  return out;
}

Result<FunctionPage> Registry::ListFunctions(std::string_view marker, int max_items) const {
  NIMBUS_RETURN_IF_ERROR(ValidateMaxItems(max_items));
  int page = std::min(max_items, kMaxListPage);
  FunctionPage out;
  MutexLock l(mu_);
  auto it = marker.empty() ? functions_.begin() : functions_.upper_bound(std::string(marker));
  for (; it != functions_.end() && static_cast<int>(out.functions.size()) < page; ++it) {
    out.functions.push_back(it->second.latest);
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
    // Lambda counts each version's package toward TotalCodeSize.
    usage.total_code_size += f.latest->config.code_size;
    for (const auto& [n, v] : f.versions) usage.total_code_size += v->config.code_size;
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
