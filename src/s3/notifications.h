// Bucket notifications (issue #5, scope 2): the NotificationConfiguration of a
// bucket as S3's XML carries it, validated as S3 validates it, stored as JSON,
// matched against each object change, and the S3 event record a function gets.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace nimbus::s3 {

struct FilterRule {
  std::string name;  // "prefix" or "suffix" (lowercase)
  std::string value;
};

// One destination: a function (LambdaFunctionConfiguration) or a queue
// (QueueConfiguration; delivered once queues exist).
struct NotificationTarget {
  std::string id;
  std::string arn;                  // arn:aws:lambda:...:function:NAME[:QUALIFIER] / arn:aws:sqs:...
  std::vector<std::string> events;  // "s3:ObjectCreated:*", ...
  std::vector<FilterRule> rules;
};

struct NotificationConfig {
  std::vector<NotificationTarget> functions;
  std::vector<NotificationTarget> queues;
  std::vector<NotificationTarget> topics;
  bool eventbridge = false;

  bool empty() const { return functions.empty() && queues.empty() && topics.empty() && !eventbridge; }
};

// An S3 error to answer with: its code ("MalformedXML", "InvalidArgument") and message.
struct NotificationError {
  std::string code;
  std::string message;
  std::string argument_name;   // ArgumentName, when S3 names one
  std::string argument_value;  // ArgumentValue
};

// Parses and validates a PutBucketNotificationConfiguration body: well-formed
// XML of the schema, known event types, prefix/suffix rules (at most one of
// each), no two configurations sharing an event type for overlapping keys.
// Gives every configuration without an Id one. Destinations are validated by
// the caller.
Result<NotificationConfig> ParseNotificationXml(std::string_view xml, NotificationError& error);

// The GetBucketNotificationConfiguration document.
std::string NotificationXml(const NotificationConfig& config);

// Storage form (JSON) and back; an empty string is the empty configuration.
std::string EncodeNotificationConfig(const NotificationConfig& config);
NotificationConfig DecodeNotificationConfig(std::string_view text);

// Whether `target` wants `event` ("s3:ObjectCreated:Put") for `key`.
bool Wants(const NotificationTarget& target, std::string_view event, std::string_view key);

// What one event record says.
struct ObjectEvent {
  std::string event_name;  // "ObjectCreated:Put" (without "s3:")
  std::string region;
  std::chrono::system_clock::time_point time;
  std::string principal;   // the caller's access key id
  std::string source_ip;
  std::string request_id;
  std::string configuration_id;
  std::string bucket;
  std::string key;
  uint64_t size = 0;       // not written for removals
  std::string etag;        // not written for removals
  std::string sequencer;   // hex, increasing per key
};

// {"Records":[...]} with the one record, as S3 sends it to a function.
std::string S3EventDocument(const ObjectEvent& e);

}  // namespace nimbus::s3
