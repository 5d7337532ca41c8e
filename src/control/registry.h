// control: the function registry. Owns every function's configuration and code
// package, persists them (storage::Store, storage::BlobStore) and serves the
// control-plane operations and the invoke path's lookups.
//
// Data directory layout (all under RegistryOptions::data_dir):
//   nimbus.db              SQLite database (WAL): tables `functions` ($LATEST,
//                          last version number, reserved concurrency),
//                          `versions`, `aliases`, `provisioned_concurrency`,
//                          `policies`, `layers` (last version number) and
//                          `layer_versions` (see Migrations() in registry.cc)
//   blobs/sha256/<hex>     each distinct zip (function or layer), named by its SHA-256
//   code/<hex>/            each distinct zip, unpacked once (FunctionVersion::code_dir
//                          and ::layer_dirs)
//   code/.tmp-*            an unpack in progress, or a code directory being removed;
//                          any left at Open are removed (a crash interrupted them)
//
// Code collection: a hex is live while $LATEST or a published version of some
// function uses it (as its code or as one of its layers), while a layer version
// has it, or while a create, code update or layer publish in progress has
// stored it and not yet committed (it is pinned from before its unpack until
// the commit or failure). CollectGarbage deletes the blobs of every other hex
// at once (no environment reads a zip), and its code directories once they
// have been unreferenced for RegistryOptions::code_dir_grace (environments
// bind-mount them, and one retired by a delete or an update may still be
// running an invocation). A directory is first renamed to code/.tmp-*, then
// removed, so a half-removed tree never carries a hex name. Open collects with
// no grace: no environment exists yet. Collections run at Open, after every
// DeleteFunction, UpdateFunctionCode, layer-changing UpdateFunctionConfiguration
// and DeleteLayerVersion, and whenever the owner calls CollectGarbage (the
// server does every few minutes, so a grace ends without further changes).
//
// Concurrency: thread-safe. Readers (Resolve, ResolveForInvoke, Get*, List*) take
// mu_ only to copy a shared_ptr to an immutable snapshot. A mutation claims the
// function name under mu_ (a second concurrent mutation of the same function is
// refused with kConflict, as Lambda does while an update is in progress), does
// its I/O - unzip, blob write, SQLite commit - with mu_ released, then re-takes
// mu_ to swap in the new snapshot. Every mutating call blocks on disk I/O: call
// it on a BlockingPool thread, never on a reactor.
//
// Function lifecycle: packages are unpacked synchronously, so a function is
// Active / LastUpdateStatus Successful by the time the call returns.
//
//   CreateFunction ──> Active ──UpdateFunction{Code,Configuration}──> Active
//                        │  └──PublishVersion──> + immutable version N (N never reused)
//                        └──DeleteFunction──> (gone, with its versions and aliases)
//
// Layers: PublishLayerVersion stores and unpacks a zip as layer NAME version N
// (N never reused, even after DeleteLayerVersion). A function's Layers name
// layer versions by ARN; the function records each one's content hash, so a
// deleted layer version keeps working for the functions that reference it.
//
// Versions are snapshots of $LATEST's code and configuration; aliases name a
// version (optionally with a weighted second one). Reserved and provisioned
// concurrency settings are stored here and pushed to the invoker by api/.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "base/thread_annotations.h"
#include "control/function.h"
#include "storage/blob_store.h"
#include "storage/disk_space.h"
#include "storage/store.h"

namespace nimbus::control {

// CreateFunction, already parsed from the wire. Optional fields take Lambda's
// defaults.
struct CreateFunctionRequest {
  std::string function_name;  // name, partial ARN or ARN (unqualified)
  std::string runtime;
  std::string handler;
  std::string role;
  std::string description;
  std::optional<int64_t> timeout_seconds;       // default 3
  std::optional<int64_t> memory_mb;             // default 128
  std::optional<int64_t> ephemeral_storage_mb;  // default 512
  std::map<std::string, std::string> environment;
  std::string architecture = "x86_64";
  std::string package_type = "Zip";
  std::string tracing_mode = "PassThrough";
  std::string log_format = "Text";
  std::string log_group;  // default /aws/lambda/NAME
  std::string application_log_level;  // only with LogFormat JSON (default INFO there)
  std::string system_log_level;       // only with LogFormat JSON (default INFO there)
  std::string dead_letter_target_arn;  // an SQS queue or SNS topic ARN, or empty
  std::map<std::string, std::string> tags;
  std::vector<std::string> layers;  // LayerVersionArns, in order (at most 5)
  std::string zip_file;   // the zip's bytes (already base64-decoded)
  bool publish = false;   // also publish version 1 (CreateFunctionResult::published)
};

// A change of $LATEST, and the version it published when the request asked
// to (Publish=true).
struct UpdateResult {
  FunctionSnapshot latest;
  FunctionSnapshot published;  // null unless Publish was requested
};

struct UpdateFunctionCodeRequest {
  std::string function_name;
  std::string zip_file;
  std::optional<std::string> revision_id;  // precondition: must equal the current one
  std::optional<std::string> architecture;
  bool dry_run = false;  // validate and describe the result without changing anything
  bool publish = false;
};

// Absent fields keep their current values; `environment` replaces the whole map.
struct UpdateFunctionConfigurationRequest {
  std::string function_name;
  std::optional<std::string> runtime;
  std::optional<std::string> handler;
  std::optional<std::string> role;
  std::optional<std::string> description;
  std::optional<int64_t> timeout_seconds;
  std::optional<int64_t> memory_mb;
  std::optional<int64_t> ephemeral_storage_mb;
  std::optional<std::map<std::string, std::string>> environment;
  std::optional<std::string> tracing_mode;
  std::optional<std::string> log_format;
  std::optional<std::string> log_group;
  std::optional<std::string> application_log_level;
  std::optional<std::string> system_log_level;
  std::optional<std::string> dead_letter_target_arn;  // "" removes it
  std::optional<std::vector<std::string>> layers;     // replaces the whole list
  std::optional<std::string> revision_id;
  bool publish = false;  // not in the model; kept for symmetry with code updates
};

struct PublishVersionRequest {
  std::string function_name;               // unqualified
  std::optional<std::string> code_sha256;  // precondition: $LATEST's CodeSha256
  std::optional<std::string> description;  // the version's Description (default: $LATEST's)
  std::optional<std::string> revision_id;  // precondition: $LATEST's RevisionId
};

struct VersionPage {
  std::vector<FunctionSnapshot> versions;  // $LATEST first, then 1, 2, ...
  std::optional<std::string> next_marker;
};

struct CreateAliasRequest {
  std::string function_name;  // unqualified
  std::string name;
  std::string function_version;
  std::string description;
  std::map<std::string, double> additional_version_weights;
};

// Absent fields keep their values; routing replaces the whole map when given.
struct UpdateAliasRequest {
  std::string function_name;
  std::string name;
  std::optional<std::string> function_version;
  std::optional<std::string> description;
  std::optional<std::map<std::string, double>> additional_version_weights;
  std::optional<std::string> revision_id;  // precondition: the alias's RevisionId
};

struct AliasPage {
  std::vector<Alias> aliases;  // sorted by name
  std::optional<std::string> next_marker;
};

// A provisioned concurrency setting as the invoker takes it
// (Invoker::SetProvisionedConcurrency(version, qualifier, count)).
struct ProvisionedConcurrencySetting {
  FunctionSnapshot version;  // the version itself, or the alias's FunctionVersion
  std::string qualifier;     // "N" or the alias name
  int count = 0;             // 0: remove
};

// Every persisted concurrency setting, for pushing to the invoker at startup.
struct ConcurrencySettings {
  std::map<std::string, int> reserved;  // function name -> ReservedConcurrentExecutions
  std::vector<ProvisionedConcurrencySetting> provisioned;
};

// A mutation's consequences for the invoker's provisioned environments, in the
// order they must be applied (removals first).
struct ProvisioningChange {
  std::vector<ProvisionedConcurrencySetting> settings;
};

struct AliasResult {
  Alias alias;
  ProvisioningChange provisioning;  // an alias with provisioned concurrency moved
};

struct DeleteResult {
  std::string name;
  std::string version;              // "" when the whole function was deleted
  bool had_reserved_concurrency = false;
  ProvisioningChange provisioning;  // the provisioned configurations that went with it
};

struct ProvisionedConcurrencyPage {
  std::vector<ProvisionedConcurrencyConfig> configs;  // sorted by qualifier
  std::optional<std::string> next_marker;
};

struct AddPermissionRequest {
  std::string function_name;  // may be qualified
  std::string qualifier;      // ?Qualifier=, or empty
  std::string statement_id;
  std::string action;
  std::string principal;
  std::string source_arn;
  std::string source_account;
  std::string event_source_token;
  std::string principal_org_id;
  std::string function_url_auth_type;
  std::optional<std::string> revision_id;  // precondition: the policy's RevisionId
};

// A resource-based policy: its JSON text as GetPolicy returns it.
struct Policy {
  std::string document;  // {"Version":"2012-10-17","Id":"default","Statement":[...]}
  std::string revision_id;
};

struct PublishLayerVersionRequest {
  std::string layer_name;  // a name or an unversioned layer ARN
  std::string description;
  std::vector<std::string> compatible_runtimes;       // at most 15
  std::vector<std::string> compatible_architectures;  // at most 2
  std::string license_info;                           // at most 512 characters
  std::string zip_file;                               // the zip's bytes
};

struct LayerVersionPage {
  std::vector<LayerVersion> versions;  // newest first
  std::optional<std::string> next_marker;
};

// ListLayers' item: a layer and its newest version matching the filters.
struct LayerSummary {
  std::string name;
  LayerVersion latest_matching;
};

struct LayerPage {
  std::vector<LayerSummary> layers;  // sorted by name
  std::optional<std::string> next_marker;
};

// Lambda's quota of layers per function.
inline constexpr size_t kMaxLayersPerFunction = 5;

struct FunctionPage {
  std::vector<FunctionSnapshot> functions;  // sorted by name
  std::optional<std::string> next_marker;   // absent on the last page
};

struct AccountUsage {
  int64_t total_code_size = 0;  // sum of CodeSize over functions
  int64_t function_count = 0;
};

// Uniform random numbers for weighted alias routing. Implementations must be
// thread-safe; tests inject a scripted one.
class RandomSource {
 public:
  virtual ~RandomSource() = default;
  // A number in [0, 1).
  virtual double NextUnit() = 0;
};

struct RegistryOptions {
  std::filesystem::path data_dir;  // created if missing; see the layout above
  Region region;                   // the region and account in every ARN
  // The account's concurrency limit (ConcurrentExecutions; Lambda's default
  // quota is 1000). Reserved and provisioned concurrency must leave
  // kMinUnreservedConcurrency of it unreserved.
  int account_concurrency_limit = 1000;
  // Picks versions for weighted aliases. Borrowed; must outlive the Registry.
  // Null: the Registry owns a PRNG seeded from std::random_device.
  RandomSource* random = nullptr;
  // How long an unpacked code directory no function or layer uses any more is
  // kept before CollectGarbage removes it, counted from the first collection
  // that saw it unreferenced (the one that follows the delete or update that
  // released it). Environments bind-mount it, and one retired by the change can
  // still run an invocation for up to the function's timeout (Lambda's
  // maximum: 900 s). 20 minutes = those 15 plus 5 of margin for an init (at
  // most 10 s) and an invocation that began just before the change. Longer
  // keeps disk longer; shorter risks pulling code from under a running
  // invocation.
  std::chrono::seconds code_dir_grace{20 * 60};
  // Asked before a package is unpacked and stored (create, code update, layer
  // publish): room for the zip twice (its blob and, at least, its files).
  // Borrowed; null: no reserve is kept.
  const storage::DiskSpace* disk = nullptr;
};

// What one code collection did.
struct CodeCollection {
  int blobs_removed = 0;
  int code_dirs_removed = 0;
  int code_dirs_waiting = 0;  // unreferenced, still within their grace period
};

// Lambda keeps at least this much of the account's concurrency unreserved.
inline constexpr int kMinUnreservedConcurrency = 100;

class Registry {
 public:
  // Opens the store (applying migrations), loads every function and makes sure
  // each one's package is unpacked (re-unpacking from its blob after a crash).
  // A function whose blob is missing is loaded with State Failed. Fails if the
  // data directory or database cannot be opened.
  static Result<std::unique_ptr<Registry>> Open(const RegistryOptions& options,
                                                const Clock& clock);
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Validates, stores and unpacks the package, persists the function and
  // returns its snapshot. Errors: kInvalidArgument (validation, not a zip,
  // unzipped too large), kTooLarge (zip over 50 MB), kConflict ("Function
  // already exist: NAME"), kResourceExhausted (75 GB code storage), host errors.
  // With Publish, `published` is version 1.
  Result<UpdateResult> CreateFunction(CreateFunctionRequest request);

  // The function named by `name_or_arn` (which may carry ":qualifier") at
  // `qualifier` (empty: none): $LATEST, a published version, or an alias's
  // FunctionVersion (ignoring its routing). Errors: kInvalidArgument
  // (malformed name, conflicting qualifiers), kNotFound ("Function not found:
  // ARN[:QUALIFIER]"). In-memory only: safe on a reactor thread.
  Result<FunctionSnapshot> Resolve(std::string_view name_or_arn,
                                   std::string_view qualifier = {}) const;
  // As Resolve, but an alias with AdditionalVersionWeights picks its version
  // by weight (RegistryOptions::random): the snapshot returned is the version
  // that runs (its config.version is the X-Amz-Executed-Version). In-memory only.
  Result<FunctionSnapshot> ResolveForInvoke(std::string_view name_or_arn,
                                            std::string_view qualifier = {}) const;

  // As CreateFunction, plus kNotFound, kFailedPrecondition (RevisionId), and
  // kConflict while another update of the function is in progress.
  Result<UpdateResult> UpdateFunctionCode(UpdateFunctionCodeRequest request);
  Result<UpdateResult> UpdateFunctionConfiguration(UpdateFunctionConfigurationRequest request);

  // Deletes the function (no qualifier), or one published version. Errors:
  // kInvalidArgument ($LATEST or an alias as qualifier), kNotFound, kConflict
  // (an alias refers to the version). Then collects code (CollectGarbage): a
  // package nothing else uses loses its blob at once and its unpacked
  // directory after the grace period (running environments may use it).
  Result<DeleteResult> DeleteFunction(std::string_view name_or_arn,
                                      std::string_view qualifier = {});

  // Publishes $LATEST as the next version number, or returns the newest
  // version unchanged when neither code nor configuration changed since it was
  // published. Errors: kNotFound, kFailedPrecondition (RevisionId),
  // kInvalidArgument (CodeSha256 differs from $LATEST's), kConflict.
  Result<FunctionSnapshot> PublishVersion(PublishVersionRequest request);
  // $LATEST then the versions in order; `marker` is the last version of the
  // previous page ("$LATEST" or "N"). max_items 1..10000 (at most 50 per page).
  Result<VersionPage> ListVersionsByFunction(std::string_view name_or_arn,
                                             std::string_view marker, int max_items) const;

  // Aliases. Errors: kValidationFailed/kInvalidArgument (name, version or
  // routing), kNotFound (function, version or alias), kConflict ("Alias
  // already exists: ARN"), kFailedPrecondition (RevisionId).
  Result<Alias> CreateAlias(CreateAliasRequest request);
  Result<Alias> GetAlias(std::string_view function_name, std::string_view alias) const;
  Result<AliasResult> UpdateAlias(UpdateAliasRequest request);
  // Removes the alias and its provisioned concurrency configuration.
  Result<ProvisioningChange> DeleteAlias(std::string_view function_name, std::string_view alias);
  // `function_version` (empty: all) keeps only aliases that route to it.
  Result<AliasPage> ListAliases(std::string_view function_name,
                                std::string_view function_version, std::string_view marker,
                                int max_items) const;

  // Reserved concurrency (PutFunctionConcurrency). `reserved` must leave
  // kMinUnreservedConcurrency of the account unreserved and be at least the
  // function's provisioned concurrency (kInvalidArgument otherwise).
  Status PutFunctionConcurrency(std::string_view function_name, int reserved);
  Status DeleteFunctionConcurrency(std::string_view function_name);
  // nullopt when none is set; kNotFound for an unknown function.
  Result<std::optional<int>> GetFunctionConcurrency(std::string_view function_name) const;
  // The account limit minus every function's reservation.
  int UnreservedConcurrency() const;
  int account_concurrency_limit() const { return account_concurrency_limit_; }

  // Provisioned concurrency on a published version or an alias (never
  // $LATEST). Returns the invoker setting to apply. Errors: kInvalidArgument
  // ($LATEST, an alias of $LATEST, over the reservation or the account),
  // kNotFound, kConflict (the version is already provisioned through an alias
  // or the other way round).
  Result<ProvisionedConcurrencySetting> PutProvisionedConcurrency(std::string_view function_name,
                                                                  std::string_view qualifier,
                                                                  int count);
  // nullopt when the qualifier has no configuration (the API answers
  // ProvisionedConcurrencyConfigNotFoundException); kNotFound for an unknown
  // function, version or alias.
  Result<std::optional<ProvisionedConcurrencyConfig>> GetProvisionedConcurrency(
      std::string_view function_name, std::string_view qualifier) const;
  // Returns the setting (count 0) to apply, or nullopt if there was none.
  Result<std::optional<ProvisionedConcurrencySetting>> DeleteProvisionedConcurrency(
      std::string_view function_name, std::string_view qualifier);
  Result<ProvisionedConcurrencyPage> ListProvisionedConcurrency(std::string_view function_name,
                                                               std::string_view marker,
                                                               int max_items) const;

  // Every persisted reserved and provisioned concurrency setting, with the
  // snapshots they apply to: what the server pushes to the invoker at startup
  // (SetReservedConcurrency for each `reserved`, SetProvisionedConcurrency for
  // each `provisioned`). In-memory only.
  ConcurrencySettings ListConcurrencySettings() const;

  // Tags of the function named by an unqualified function ARN. Errors:
  // kInvalidArgument (not a function ARN, or qualified), kNotFound.
  Result<std::map<std::string, std::string>> ListTags(std::string_view arn) const;
  Status TagResource(std::string_view arn, const std::map<std::string, std::string>& tags);
  Status UntagResource(std::string_view arn, const std::vector<std::string>& keys);

  // Resource-based policy of the function, version or alias. AddPermission
  // returns the statement's JSON text. Errors: kNotFound (function, qualifier,
  // no policy, no such statement), kConflict (duplicate StatementId),
  // kFailedPrecondition (RevisionId), kInvalidArgument.
  Result<std::string> AddPermission(AddPermissionRequest request);
  Result<Policy> GetPolicy(std::string_view function_name, std::string_view qualifier) const;
  Status RemovePermission(std::string_view function_name, std::string_view qualifier,
                          std::string_view statement_id,
                          const std::optional<std::string>& revision_id);

  // Layers. Errors: kValidationFailed (name pattern, list lengths, enum
  // values), kInvalidArgument (not a zip, unzipped too large), kTooLarge (zip
  // over 50 MB), host errors. Blocking.
  Result<LayerVersion> PublishLayerVersion(PublishLayerVersionRequest request);
  // kNotFound "The resource you requested does not exist." In-memory only.
  Result<LayerVersion> GetLayerVersion(std::string_view layer_name, int64_t version) const;
  // `arn` is a LayerVersionArn. kValidationFailed for a malformed one.
  Result<LayerVersion> GetLayerVersionByArn(std::string_view arn) const;
  // Versions newest first, optionally only those compatible with a runtime
  // and/or an architecture; `marker` is the last version of the previous page.
  // An unknown layer has no versions. max_items 1..50.
  Result<LayerVersionPage> ListLayerVersions(std::string_view layer_name,
                                             std::string_view compatible_runtime,
                                             std::string_view compatible_architecture,
                                             std::string_view marker, int max_items) const;
  // Layers with at least one (matching) version, by name after `marker`.
  Result<LayerPage> ListLayers(std::string_view compatible_runtime,
                               std::string_view compatible_architecture,
                               std::string_view marker, int max_items) const;
  // Deletes the version (idempotent: an unknown version is not an error, as in
  // Lambda). Its number is never reused; its content stays on disk while
  // functions reference it, and is collected (CollectGarbage) after. Blocking.
  Status DeleteLayerVersion(std::string_view layer_name, int64_t version);

  // Functions with names after `marker` (empty: from the start), at most
  // `max_items` (1..10000; Lambda never returns more than 50 per page).
  Result<FunctionPage> ListFunctions(std::string_view marker, int max_items) const;

  AccountUsage GetAccountUsage() const;

  // The zip bytes of a stored package, by lowercase hex SHA-256. kNotFound if no
  // such package. Blocking.
  Result<std::string> ReadCodePackage(std::string_view hex) const;

  // Removes the code nothing uses (see "Code collection" above): unreferenced
  // blobs at once, unreferenced code directories once the grace period has
  // passed since a collection first saw them unreferenced. Failures to remove
  // are logged and retried by the next collection. Blocking (directory
  // listings, unlink, rename, recursive removal); never holds mu_ during I/O.
  CodeCollection CollectGarbage();

  // Runs `hook` in every mutation that stores code (create, code update, layer
  // publish) after the blob is written and before the commit; empty: none.
  void SetCodeStoredHookForTest(std::function<void()> hook);

  const Region& region() const { return region_; }

 private:
  // Marks a function name as being mutated; released (under mu_) on destruction.
  class Claim {
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
  // Keeps collections away from one code hex (Registry::pinned_code_) from
  // before its unpack until the mutation storing it commits or fails: the pin
  // lives as long as the mutation's PreparedCode. Move-only.
  class CodePin {
   public:
    CodePin() = default;
    // Waits while a collection is removing `hex`, then pins it.
    CodePin(Registry& r, std::string hex);
    CodePin(CodePin&& other) noexcept;
    CodePin& operator=(CodePin&& other) noexcept;
    ~CodePin();

   private:
    void Release();
    Registry* r_ = nullptr;
    std::string hex_;
  };
  struct PreparedCode {
    std::string hex;
    std::string sha256_base64;
    int64_t size = 0;
    int64_t unzipped_size = 0;
    CodePin pin;  // hex, until this is destroyed
  };
  // A layer: its published versions and the highest number ever used.
  struct LayerEntry {
    int last_version = 0;
    std::map<int, LayerVersion> versions;
  };
  struct StoredPolicy {
    std::vector<std::string> statements;  // each a statement's JSON text
    std::string revision_id;
  };
  // Everything the registry knows about one function. Values are swapped
  // whole under mu_; snapshots inside are immutable.
  struct Entry {
    FunctionSnapshot latest;
    std::map<int, FunctionSnapshot> versions;
    // What $LATEST looked like when each version was published (PublishVersion's no-op check).
    std::map<int, std::string> fingerprints;
    int last_version = 0;  // the highest number ever published; never reused
    std::map<std::string, Alias> aliases;
    std::optional<int> reserved;
    std::map<std::string, ProvisionedConcurrencyConfig> provisioned;  // by qualifier
    std::map<std::string, StoredPolicy> policies;  // by qualifier ("" = unqualified)
  };

  Registry(const RegistryOptions& options, const Clock& clock,
           std::unique_ptr<storage::Store> store, std::unique_ptr<storage::BlobStore> blobs);

  Status LoadAll();
  // The public mutations' bodies; the public methods add the code collection.
  Result<DeleteResult> DeleteFunctionImpl(std::string_view name_or_arn,
                                          std::string_view qualifier);
  Result<UpdateResult> UpdateFunctionCodeImpl(UpdateFunctionCodeRequest request);
  Result<UpdateResult> UpdateFunctionConfigurationImpl(UpdateFunctionConfigurationRequest request);
  Status DeleteLayerVersionImpl(std::string_view layer_name, int64_t version);
  // CollectGarbage; `at_open` removes unreferenced directories without a grace
  // period (REQUIRES: no environment can be using any of them).
  CodeCollection Collect(bool at_open);
  // Every live hex: referenced by a function version or a layer version, or pinned.
  std::set<std::string> LiveCodeLocked() const NIMBUS_REQUIRES(mu_);
  void PinCode(const std::string& hex) NIMBUS_EXCLUDES(mu_);
  void UnpinCode(const std::string& hex) NIMBUS_EXCLUDES(mu_);
  Result<std::map<std::string, LayerEntry>> LoadLayers() NIMBUS_REQUIRES(store_mu_);
  // The layer versions named by `arns` as a function references them:
  // kInvalidArgument for more than 5, an unknown version or two versions of
  // one layer; kValidationFailed for a malformed ARN. In-memory only.
  Result<std::vector<FunctionLayer>> ResolveLayers(const std::vector<std::string>& arns) const;
  // Function package plus layers within CodeSizeUnzipped (kInvalidArgument).
  Status CheckCombinedSize(const FunctionConfig& config, const std::string& code_hex) const;
  Result<FunctionSnapshot> ResolveImpl(std::string_view name_or_arn, std::string_view qualifier,
                                       bool weighted) const;
  // The function to update: kNotFound, kConflict while another mutation runs,
  // kFailedPrecondition on a RevisionId mismatch. With `claim`, marks the name
  // busy (release it with a Claim).
  Result<FunctionSnapshot> CurrentForUpdate(const std::string& name,
                                            const std::optional<std::string>& revision_id,
                                            bool claim);
  // Claims `name` (kNotFound, kConflict) and returns a copy of its entry.
  Result<Entry> ClaimEntry(const std::string& name);
  // The version `qualifier` ("N") or kNotFound.
  Result<FunctionSnapshot> VersionOf(const Entry& e, const std::string& name,
                                     const std::string& qualifier) const;
  // Publishes e.latest as version e.last_version + 1 (or returns the newest
  // version if unchanged), persisting it. REQUIRES: the name is claimed.
  Result<FunctionSnapshot> PublishLocked(Entry& e, const std::optional<std::string>& description);
  Status ValidateRouting(const Entry& e, const std::string& name, const std::string& version,
                         const std::map<std::string, double>& weights) const;
  // Runs `body` in one SQLite transaction under store_mu_.
  template <typename F>
  Status Write(F&& body) {
    MutexLock l(store_mu_);
    return storage::InTransaction(*store_, std::forward<F>(body));
  }
  void Install(const std::string& name, Entry entry);
  // The version a provisioned-concurrency qualifier keeps warm: the version
  // itself, or the alias's FunctionVersion. REQUIRES: `qualifier` names an
  // existing version or alias of `e` (as every stored setting does).
  static FunctionSnapshot ProvisionedTarget(const Entry& e, const std::string& qualifier);
  // The common end of UpdateFunctionCode and UpdateFunctionConfiguration: stamps
  // `c` (LastModified, RevisionId), persists it as $LATEST, publishes a version
  // when asked, and installs the entry.
  Result<UpdateResult> CommitUpdate(const std::string& name, Entry e, FunctionConfig c,
                                    const std::string& code_hex, bool publish);
  // Unpacks (if needed) and stores the zip. Blocking; takes no lock.
  Result<PreparedCode> PrepareCode(std::string_view zip, bool store_blob);
  std::filesystem::path CodeDir(std::string_view hex) const;
  FunctionSnapshot MakeSnapshot(FunctionConfig config, std::string hex) const;
  std::string NowTimestamp() const;
  Status Persist(const FunctionVersion& version, bool insert);
  Status ValidateConfig(const FunctionConfig& config) const;

  const std::filesystem::path data_dir_;
  const Region region_;
  const Clock& clock_;
  const int account_concurrency_limit_;
  std::unique_ptr<RandomSource> owned_random_;  // when RegistryOptions::random was null
  RandomSource* const random_;                  // thread-safe
  const std::unique_ptr<storage::BlobStore> blobs_;  // thread-safe

  // Serialises use of the SQLite connection: held only around one transaction,
  // never together with mu_.
  mutable Mutex store_mu_;
  const std::unique_ptr<storage::Store> store_ NIMBUS_PT_GUARDED_BY(store_mu_);

  // The registry state. Never held across I/O.
  mutable Mutex mu_;
  std::map<std::string, Entry> functions_ NIMBUS_GUARDED_BY(mu_);
  // Names with a mutation in flight (create, update or delete).
  std::set<std::string> busy_ NIMBUS_GUARDED_BY(mu_);
  std::map<std::string, LayerEntry> layers_ NIMBUS_GUARDED_BY(mu_);
  // Serialises layer publishes and deletes (numbering), held across their I/O;
  // taken before store_mu_ or mu_, never while holding either.
  Mutex layer_write_mu_;

  // Code collection state (see "Code collection" above).
  const std::chrono::seconds code_dir_grace_;
  const storage::DiskSpace* const disk_;  // may be null; see RegistryOptions::disk
  // Hexes pinned by mutations in progress, with their pin counts (two creates
  // of the same zip pin it twice).
  std::map<std::string, int> pinned_code_ NIMBUS_GUARDED_BY(mu_);
  // Hexes a collection has claimed and is deleting (blob unlink, directory
  // rename). CodePin waits on code_removed_ until its hex leaves this set, so
  // nothing can start using a blob or directory that is being removed.
  std::set<std::string> removing_code_ NIMBUS_GUARDED_BY(mu_);
  std::condition_variable code_removed_;  // signalled when removing_code_ shrinks
  // Unreferenced code directories and when a collection first saw each one so
  // (monotonic). A pin erases the hex: a directory used again starts a new
  // grace period when it is next unreferenced.
  std::map<std::string, std::chrono::steady_clock::time_point> unreferenced_since_
      NIMBUS_GUARDED_BY(mu_);
  std::function<void()> code_stored_hook_ NIMBUS_GUARDED_BY(mu_);  // for tests
};

// "2024-05-01T12:00:00.000+0000", the form of FunctionConfiguration.LastModified.
std::string FormatLastModified(std::chrono::system_clock::time_point t);

}  // namespace nimbus::control
