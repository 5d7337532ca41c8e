// Function configuration as the control plane stores it and the data plane reads
// it. A FunctionVersion is an immutable snapshot: the control plane builds a new
// one on every change and hands it out by shared_ptr<const FunctionVersion>; the
// invoke path holds that pointer and never looks anything up by name.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace nimbus::control {

// Where this Nimbus claims to be: the parts of every ARN.
struct Region {
  std::string name = "us-east-1";
  std::string account_id = "000000000000";
};

// "arn:aws:lambda:us-east-1:000000000000:function:NAME"
std::string FunctionArn(const Region& region, const std::string& name);
// "arn:aws:lambda:us-east-1:000000000000:function:NAME:QUALIFIER"
std::string QualifiedFunctionArn(const Region& region, const std::string& name,
                                 const std::string& qualifier);

// "arn:aws:lambda:us-east-1:000000000000:layer:NAME"
std::string LayerArn(const Region& region, const std::string& name);
// "arn:aws:lambda:us-east-1:000000000000:layer:NAME:VERSION"
std::string LayerVersionArn(const Region& region, const std::string& name, int version);

// One entry of a function's Layers: a layer version as the function references
// it. The content is named by `code_hex`, so the function keeps working after
// the layer version is deleted (Lambda keeps a referenced layer's content).
struct FunctionLayer {
  std::string arn;              // LayerVersionArn
  int64_t code_size = 0;        // bytes of the layer's zip (Layers[].CodeSize)
  int64_t unzipped_size = 0;    // bytes unpacked (file contents and symlink targets)
  std::string code_hex;         // lowercase hex SHA-256 of the zip
  friend bool operator==(const FunctionLayer&, const FunctionLayer&) = default;
};

struct FunctionConfig {
  std::string name;                 // FunctionName, [a-zA-Z0-9-_]{1,64}
  std::string version = "$LATEST";  // "$LATEST" or "1", "2", ...
  std::string runtime;              // "python3.11", "nodejs20.x", "provided.al2023", ...
  std::string handler;              // "app.handler"
  std::string role;                 // arn:aws:iam::123456789012:role/...
  std::string description;
  int timeout_seconds = 3;             // 1..900
  int memory_mb = 128;                 // 128..10240
  int ephemeral_storage_mb = 512;      // 512..10240
  std::map<std::string, std::string> environment;  // customer variables
  std::string architecture = "x86_64";
  std::string package_type = "Zip";
  std::string tracing_mode = "PassThrough";
  std::string log_format = "Text";  // LoggingConfig.LogFormat
  std::string log_group;            // "/aws/lambda/NAME" unless configured
  std::string application_log_level;  // only with JSON log format
  std::string system_log_level;
  std::string dead_letter_target_arn;  // DeadLetterConfig.TargetArn: an SQS queue or SNS topic
  std::string code_sha256;          // base64 of the SHA-256 of the zip (CodeSha256)
  int64_t code_size = 0;            // bytes of the zip (CodeSize)
  // Bytes of the unpacked package (0 in records written before layers existed:
  // measured from the code directory when needed).
  int64_t code_unzipped_size = 0;
  std::vector<FunctionLayer> layers;  // Layers, in order (later ones on top in /opt)
  std::string last_modified;        // "2020-04-10T19:06:32.563+0000"
  std::string revision_id;          // UUID, new on every change
  std::string state = "Active";     // Pending | Active | Inactive | Failed
  std::string state_reason;
  std::string state_reason_code;
  std::string last_update_status = "Successful";  // Successful | InProgress | Failed
  std::string last_update_status_reason;
  std::string last_update_status_reason_code;
  // The function's tags. Kept on $LATEST only (tags belong to the function, not
  // to a version); published versions carry a copy that nothing reads.
  std::map<std::string, std::string> tags;
};

// What an execution environment needs to run a function version. Immutable.
struct FunctionVersion {
  FunctionConfig config;              // config.version: "$LATEST" or the published "N"
  std::string arn;                    // unqualified function ARN
  std::filesystem::path code_dir;     // unpacked package on the host (read-only)
  std::string code_hex;               // lowercase hex SHA-256 of the zip: names its blob and code_dir
  // The unpacked layers on the host (read-only), in config.layers' order: the
  // sandbox stacks them at /opt, later ones on top.
  std::vector<std::filesystem::path> layer_dirs;
};

// A published layer version. Immutable value.
struct LayerVersion {
  std::string name;  // LayerName, [a-zA-Z0-9-_]+, 1..140
  int version = 0;   // 1, 2, ... never reused
  std::string description;
  std::vector<std::string> compatible_runtimes;
  std::vector<std::string> compatible_architectures;
  std::string license_info;
  std::string code_sha256;     // base64 SHA-256 of the zip
  int64_t code_size = 0;       // bytes of the zip
  int64_t unzipped_size = 0;   // bytes unpacked
  std::string code_hex;        // names the blob and the unpacked directory
  std::string created_date;    // "2024-05-01T12:00:00.000+0000"
  friend bool operator==(const LayerVersion&, const LayerVersion&) = default;
};

using FunctionSnapshot = std::shared_ptr<const FunctionVersion>;

// An alias: a name for a version, optionally sending a share of its invocations
// to one other version. Value type.
struct Alias {
  std::string name;              // (?!^[0-9]+$)([a-zA-Z0-9-_]+), 1..128
  std::string function_version;  // "$LATEST" or "N"
  std::string description;
  // RoutingConfig.AdditionalVersionWeights: at most one entry, version "N" ->
  // share of invocations in [0, 1]; the rest go to function_version.
  std::map<std::string, double> additional_version_weights;
  std::string revision_id;  // UUID, new on every change
  friend bool operator==(const Alias&, const Alias&) = default;
};

// A provisioned concurrency configuration, on a published version or an alias.
struct ProvisionedConcurrencyConfig {
  std::string qualifier;      // "N" or the alias name
  int requested = 0;          // RequestedProvisionedConcurrentExecutions, >= 1
  std::string last_modified;  // "2024-05-01T12:00:00.000+0000"
  friend bool operator==(const ProvisionedConcurrencyConfig&,
                         const ProvisionedConcurrencyConfig&) = default;
};

}  // namespace nimbus::control
