// The AWS SAM template subset that `nimbus deploy` understands (issue #7, scope
// 6), parsed and resolved into a StackPlan: plain values, every intrinsic function
// evaluated, every name decided, ready for StackDeployer (sam_deploy.h) to apply.
// Pure: no server and no filesystem (CodeUri and ContentUri are made absolute
// against PlanOptions::template_dir but not opened), so it is tested without
// either. Value types, thread-compatible.
//
// Understood:
//   - Parameters (Type String, Number, CommaDelimitedList; Default, AllowedValues)
//     with --parameter-overrides; Mappings; Globals.Function, merged into every
//     function as SAM merges it (maps key by key, the function winning; lists
//     appended to the global ones; other values replaced).
//   - Resources: AWS::Serverless::Function, AWS::Serverless::LayerVersion,
//     AWS::S3::Bucket, AWS::SQS::Queue, AWS::DynamoDB::Table,
//     AWS::Serverless::SimpleTable. IAM roles and policies and
//     AWS::Lambda::Permission are accepted and not applied (Nimbus checks no IAM
//     permissions; deploy adds the resource policies its events need). Any other
//     type is an error naming the resource, before anything is changed.
//   - Function events: S3, SQS, DynamoDB, HttpApi, Api (served by the stack's HTTP
//     API with payload format 1.0: Nimbus serves no REST APIs), Schedule,
//     EventBridgeRule (and its older name CloudWatchEvent).
//   - Intrinsic functions, long (Fn::Sub) and short (!Sub) forms: Ref, Fn::GetAtt,
//     Fn::Sub, Fn::Join, Fn::Select, Fn::Split, Fn::FindInMap, Fn::Base64; pseudo
//     parameters AWS::Region, AWS::AccountId, AWS::StackName, AWS::Partition,
//     AWS::URLSuffix, AWS::NoValue. Conditions are not supported; Outputs are not
//     evaluated.
//
// Names: a resource without an explicit name gets "<stack>-<LogicalId>"
// (lowercased for buckets, ".fifo" added for FIFO queues), shortened with a hash
// when too long, so the same template always names the same resources and a
// second deploy finds what the first created.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/status.h"

namespace nimbus::cli {

struct PlanOptions {
  std::string stack_name;              // REQUIRES: ValidStackName(stack_name)
  std::filesystem::path template_dir;  // CodeUri and ContentUri are relative to it
  std::map<std::string, std::string> parameter_overrides;
  std::string region = "us-east-1";
  std::string account_id = "000000000000";
  // The server's base URL, of which queue URLs (Ref of a queue) are made.
  std::string endpoint = "http://127.0.0.1:8777";
};

// A layer of a function: a layer version the template publishes (logical_id) or
// an existing one (arn).
struct LayerRef {
  std::string logical_id;
  std::string arn;
  friend bool operator==(const LayerRef&, const LayerRef&) = default;
};

struct S3EventPlan {
  std::string bucket_logical_id;
  std::string bucket;               // its name
  std::vector<std::string> events;  // "s3:ObjectCreated:*", ...
  std::string prefix;               // Filter.S3Key.Rules, "" when absent
  std::string suffix;
};

struct QueueEventPlan {
  std::string queue_arn;
  int batch_size = 10;
  int batching_window_s = 0;  // MaximumBatchingWindowInSeconds
  bool enabled = true;
  bool report_item_failures = false;       // FunctionResponseTypes: [ReportBatchItemFailures]
  std::optional<int> maximum_concurrency;  // ScalingConfig.MaximumConcurrency
};

struct StreamEventPlan {
  // The table of the template whose stream it reads, or else stream_arn.
  std::string table_logical_id;
  std::string table;
  std::string stream_arn;
  std::string starting_position;  // TRIM_HORIZON, LATEST, AT_TIMESTAMP
  int batch_size = 100;
  int batching_window_s = 0;
  bool enabled = true;
  bool report_item_failures = false;
  std::optional<int> maximum_retry_attempts;
  std::optional<int> maximum_record_age_s;
  std::optional<bool> bisect_on_error;
  std::optional<int> parallelization_factor;
  std::string on_failure_arn;  // DestinationConfig.OnFailure.Destination
};

// A route of the stack's HTTP API: HttpApi events (payload 2.0 unless
// PayloadFormatVersion says otherwise) and Api events (1.0).
struct HttpEventPlan {
  std::string route_key;        // "GET /items/{id}", "ANY /{proxy+}" or "$default"
  std::string payload_version;  // "2.0" or "1.0"
};

// An EventBridge rule invoking the function: Schedule or EventBridgeRule events.
struct RuleEventPlan {
  std::string rule_name;
  bool generated_name = true;  // named by deploy ("<stack>-<Function>-<Event>")
  std::string schedule;        // ScheduleExpression, or
  std::string pattern;         // EventPattern (JSON text)
  std::string description;
  std::string input;  // the target's Input (JSON text)
  std::string input_path;
  std::string target_id;
  bool enabled = true;
};

struct EventPlan {
  std::string id;    // its key under the function's Events
  std::string type;  // as written: "S3", "SQS", "DynamoDB", "HttpApi", "Api", ...
  std::variant<S3EventPlan, QueueEventPlan, StreamEventPlan, HttpEventPlan, RuleEventPlan> source;
};

struct FunctionPlan {
  std::string logical_id;
  std::string name;
  std::string code_path;    // absolute: a directory or a .zip; or
  std::string inline_code;  // InlineCode, packaged as inline_file
  std::string inline_file;  // "index.py", "index.js"
  std::string runtime;
  std::string handler;
  std::string description;
  int memory_mb = 128;  // SAM's (and Lambda's) defaults
  int timeout_s = 3;
  std::map<std::string, std::string> environment;
  std::vector<LayerRef> layers;
  std::string architecture;  // "" (the server's default), "x86_64", "arm64"
  std::map<std::string, std::string> tags;
  std::vector<EventPlan> events;
};

struct LayerPlan {
  std::string logical_id;
  std::string name;
  std::string content_path;  // absolute: a directory or a .zip
  std::string description;
  std::vector<std::string> compatible_runtimes;
  std::vector<std::string> compatible_architectures;
  std::string license_info;
};

struct BucketPlan {
  std::string logical_id;
  std::string name;
};

struct QueuePlan {
  std::string logical_id;
  std::string name;
  // SQS attributes the template sets (VisibilityTimeout, FifoQueue, RedrivePolicy
  // as JSON text, ...); the rest keep their defaults.
  std::map<std::string, std::string> attributes;
};

struct TableIndexPlan {
  std::string name;
  bool global = true;
  std::string hash_key;
  std::string range_key;
  std::string projection = "ALL";  // ALL, KEYS_ONLY, INCLUDE
  std::vector<std::string> non_key_attributes;
  int64_t read_capacity = 0;  // PROVISIONED tables' global indexes
  int64_t write_capacity = 0;
};

struct TablePlan {
  std::string logical_id;
  std::string name;
  std::vector<std::pair<std::string, std::string>> attributes;  // name → "S", "N", "B"
  std::string hash_key;
  std::string range_key;
  std::string billing_mode = "PAY_PER_REQUEST";
  int64_t read_capacity = 0;
  int64_t write_capacity = 0;
  std::string stream_view_type;  // "" when the table has no stream
  std::vector<TableIndexPlan> indexes;
};

struct StackPlan {
  std::string stack_name;
  std::vector<LayerPlan> layers;
  std::vector<BucketPlan> buckets;
  std::vector<QueuePlan> queues;
  std::vector<TablePlan> tables;
  std::vector<FunctionPlan> functions;
  // Properties and resources the template has that deploy does not apply, one
  // sentence each ("Resources.Fn.Properties.Tracing is not supported and was ignored").
  std::vector<std::string> warnings;

  bool HasHttpEvents() const;
};

// Parses `template_text` (YAML or JSON) and resolves it. Errors (kInvalidArgument),
// each naming where in the template: malformed YAML (with its line), an unknown
// resource or event type, a missing required property, a value of the wrong type,
// an unknown parameter override or a parameter without a value, an unsupported
// intrinsic function or condition, a reference to an unknown resource or
// attribute, two events with the same HTTP route.
Result<StackPlan> PlanStack(std::string_view template_text, const PlanOptions& options);

// CloudFormation's stack names: a letter, then letters, digits and hyphens; at
// most 128 characters.
bool ValidStackName(std::string_view name);

// The stack name a template in `dir` gets by default: the directory's name with
// every character a stack name cannot hold replaced by '-' (and "stack-" in
// front when it does not start with a letter).
std::string StackNameFromDirectory(const std::filesystem::path& dir);

// `--parameter-overrides` values: "Key=Value" each. Errors: an item without '=',
// an empty key, a key given twice.
Result<std::map<std::string, std::string>> ParseParameterOverrides(
    const std::vector<std::string>& items);

}  // namespace nimbus::cli
