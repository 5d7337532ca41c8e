// StackDeployer: applies a StackPlan (sam_template.h) to a running `nimbus
// serve`, idempotently: what is missing is created, what differs is updated, what
// matches is left alone, so deploying an unchanged template changes nothing.
//
// State lives in deterministic names, not in a state file: the plan names every
// resource, and a deploy reads the server's current state by those names. Code
// is uploaded only when the local zip's SHA-256 differs from the function's
// CodeSha256 (a layer publishes a new version only then, or when its
// description, runtimes, architectures or license change).
//
// Order: every package is zipped first (nothing on the server changes if one
// cannot be read), and a read-only check refuses to take over a function that
// another stack's deploy created or a table whose keys differ; then layers,
// buckets, queues, tables, functions, the resource policies events need, and
// the events themselves (bucket notifications, event source mappings, the
// stack's HTTP API and its routes, EventBridge rules).
//
// What belongs to the stack, for what a deploy removes: functions it creates are
// tagged nimbus:stack=<stack> and nimbus:logical-id=<LogicalId>; the stack's HTTP
// API is named after the stack with the description "nimbus deploy stack
// <stack>"; bucket notification configurations it writes have Ids
// "<stack>.<Function>.<Event>"; rules it names are "<stack>-<Function>-<Event>"
// and target only the stack's functions. A deploy deletes only those: routes of
// the stack's API that the template no longer has (and the API when no event uses
// it), its own bucket notification entries, and its own rules. A function tagged
// for the stack that the template no longer has, and a mapping of a stack
// function from a source the template does not name, are reported ("stale") and
// left alone: nothing proves that a deploy made the mapping, and deleting a
// function is for `nimbus delete`.
//
// Thread-compatible; one Deploy() at a time.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "base/status.h"
#include "cli/api_client.h"
#include "cli/sam_template.h"

namespace nimbus::cli {

enum class Change { kCreated, kUpdated, kUnchanged, kDeleted, kStale };

// The outcome for one resource or event.
struct ChangeLine {
  Change change = Change::kUnchanged;
  std::string logical_id;  // "Worker", or "Worker.Jobs" for an event
  std::string kind;        // "AWS::Serverless::Function", "SQS event", "HTTP API", ...
  std::string physical;    // its name, id, route or rule
  std::string detail;      // what changed ("code, MemorySize") or why it is stale
};

struct DeployResult {
  std::vector<ChangeLine> lines;
  std::string api_id;        // the stack's HTTP API, "" without HTTP events
  std::string api_endpoint;  // http://<id>.execute-api.localhost:<port>
  int Count(Change change) const;
};

// "created    Worker.Jobs          SQS event            shop-Jobs → shop-Worker" (one
// line, no newline).
std::string FormatChangeLine(const ChangeLine& line);

// "stack shop: 3 created, 1 updated, 9 unchanged" (and deleted/stale when any).
std::string FormatSummary(const std::string& stack, const DeployResult& result);

struct ServerRegion {
  std::string region = "us-east-1";
  std::string account_id = "000000000000";
};

// The region and account the server's ARNs use, read from the ARN in its answer
// to GetFunction of a probe name (AWS names the ARN in its not-found message
// too); the defaults when it names none. Errors: transport errors only.
Result<ServerRegion> DiscoverRegion(ApiClient& api);

class StackDeployer {
 public:
  // `on_change` is called with each line as soon as it is known (to print
  // progress as it happens). `progress`: draw zip and upload progress on stderr.
  StackDeployer(ApiClient& api, ServerRegion region,
                std::function<void(const ChangeLine&)> on_change, bool progress)
      : api_(api),
        region_(std::move(region)),
        on_change_(std::move(on_change)),
        progress_(progress) {}

  // Applies `plan`. Errors name the resource and the server's error; what was
  // applied before an error stays applied (a later deploy continues from there).
  Result<DeployResult> Deploy(const StackPlan& plan);

 private:
  ApiClient& api_;
  ServerRegion region_;
  std::function<void(const ChangeLine&)> on_change_;
  bool progress_;
};

}  // namespace nimbus::cli
