// control: the function registry. Owns every function's configuration and code
// package, persists them (storage::Store, storage::BlobStore) and serves the
// control-plane operations and the invoke path's lookups.
//
// Data directory layout (all under RegistryOptions::data_dir):
//   nimbus.db              SQLite database (WAL), table `functions`
//   blobs/sha256/<hex>     each distinct zip, named by its SHA-256
//   code/<hex>/            each distinct zip, unpacked once (FunctionVersion::code_dir)
//
// Concurrency: thread-safe. Readers (Resolve, GetFunction, ListFunctions) take
// mu_ only to copy a shared_ptr to an immutable snapshot. A mutation claims the
// function name under mu_ (a second concurrent mutation of the same function is
// refused with kConflict, as Lambda does while an update is in progress), does
// its I/O - unzip, blob write, SQLite commit - with mu_ released, then re-takes
// mu_ to swap in the new snapshot. Every mutating call blocks on disk I/O: call
// it on a BlockingPool thread, never on a reactor.
//
// Function lifecycle: packages are unpacked synchronously, so a function is
// Active / LastUpdateStatus Successful by the time the call returns. Only
// $LATEST exists (TODO(#versions): PublishVersion and aliases).
//
//   CreateFunction ──> Active ──UpdateFunction{Code,Configuration}──> Active
//                        │
//                        └──DeleteFunction──> (gone)
#pragma once

#include <cstdint>
#include <filesystem>
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
  std::map<std::string, std::string> tags;
  std::string zip_file;   // the zip's bytes (already base64-decoded)
  bool publish = false;   // versions are not implemented: true is refused
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
  std::optional<std::string> revision_id;
};

struct FunctionPage {
  std::vector<FunctionSnapshot> functions;  // sorted by name
  std::optional<std::string> next_marker;   // absent on the last page
};

struct AccountUsage {
  int64_t total_code_size = 0;  // sum of CodeSize over functions
  int64_t function_count = 0;
};

struct RegistryOptions {
  std::filesystem::path data_dir;  // created if missing; see the layout above
  Region region;                   // the region and account in every ARN
};

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
  Result<FunctionSnapshot> CreateFunction(CreateFunctionRequest request);

  // The function named by `name_or_arn` (which may carry ":qualifier") at
  // `qualifier` (empty: none). Errors: kInvalidArgument (malformed name,
  // conflicting qualifiers), kNotFound ("Function not found: ARN[:QUALIFIER]";
  // only $LATEST exists). In-memory only: safe on a reactor thread.
  Result<FunctionSnapshot> Resolve(std::string_view name_or_arn,
                                   std::string_view qualifier = {}) const;

  // As CreateFunction, plus kNotFound, kFailedPrecondition (RevisionId), and
  // kConflict while another update of the function is in progress.
  Result<FunctionSnapshot> UpdateFunctionCode(UpdateFunctionCodeRequest request);
  Result<FunctionSnapshot> UpdateFunctionConfiguration(UpdateFunctionConfigurationRequest request);

  // Deletes the function. A $LATEST qualifier is kInvalidArgument; any other
  // kNotFound. The package stays on disk (running environments may use it).
  Status DeleteFunction(std::string_view name_or_arn, std::string_view qualifier = {});

  // Functions with names after `marker` (empty: from the start), at most
  // `max_items` (1..10000; Lambda never returns more than 50 per page).
  Result<FunctionPage> ListFunctions(std::string_view marker, int max_items) const;

  AccountUsage GetAccountUsage() const;

  // The zip bytes of a stored package, by lowercase hex SHA-256. kNotFound if no
  // such package. Blocking.
  Result<std::string> ReadCodePackage(std::string_view hex) const;

  const Region& region() const { return region_; }

 private:
  class Claim;
  struct PreparedCode {
    std::string hex;
    std::string sha256_base64;
    int64_t size = 0;
  };

  Registry(const RegistryOptions& options, const Clock& clock,
           std::unique_ptr<storage::Store> store, std::unique_ptr<storage::BlobStore> blobs);

  Status LoadAll();
  // The function to update: kNotFound, kConflict while another mutation runs,
  // kFailedPrecondition on a RevisionId mismatch. With `claim`, marks the name
  // busy (release it with a Claim).
  Result<FunctionSnapshot> CurrentForUpdate(const std::string& name,
                                            const std::optional<std::string>& revision_id,
                                            bool claim);
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
  const std::unique_ptr<storage::BlobStore> blobs_;  // thread-safe

  // Serialises use of the SQLite connection: held only around one transaction,
  // never together with mu_.
  mutable Mutex store_mu_;
  const std::unique_ptr<storage::Store> store_ NIMBUS_PT_GUARDED_BY(store_mu_);

  // The registry state. Never held across I/O.
  mutable Mutex mu_;
  std::map<std::string, FunctionSnapshot> functions_ NIMBUS_GUARDED_BY(mu_);
  // Names with a mutation in flight (create, update or delete).
  std::set<std::string> busy_ NIMBUS_GUARDED_BY(mu_);
};

// "2024-05-01T12:00:00.000+0000", the form of FunctionConfiguration.LastModified.
std::string FormatLastModified(std::chrono::system_clock::time_point t);

}  // namespace nimbus::control
