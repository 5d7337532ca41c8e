// CloudWatchApi: the CloudWatch metrics front end (issue #7, scope 2) over
// MetricsStore, on the Nimbus port, for requests signed for service "monitoring".
// It answers GetMetricStatistics, GetMetricData and ListMetrics for namespace
// AWS/Lambda (other namespaces hold no metrics: empty results, as CloudWatch gives
// for metrics that do not exist), in each protocol a CloudWatch client may speak:
//
//   query       POST / (or GET) form-encoded Action=<Op>&Version=2010-08-01&...,
//               XML replies in http://monitoring.amazonaws.com/doc/2010-08-01/
//               (botocore before 1.36, so Debian's AWS CLI v1 and boto3);
//   JSON 1.0    POST / with X-Amz-Target: GraniteServiceVersion20100801.<Op>
//               (@aws-sdk/client-cloudwatch 3.1164, botocore 1.43);
//   RPC v2 CBOR POST /service/GraniteServiceVersion20100801/operation/<Op> with
//               smithy-protocol: rpc-v2-cbor (Smithy clients that prefer it).
//
// All three are parsed into one JSON view of the input and answered from one JSON
// result. Errors carry the query protocol's code (InvalidParameterValue,
// MissingParameter, InvalidParameterCombination, InvalidNextToken, ValidationError)
// in every protocol: as <Code> in XML, and in JSON and CBOR as x-amzn-query-error
// beside the modelled __type (the service is awsQueryCompatible).
//
// Metrics: those MetricsStore::Query knows (Invocations, Errors, Throttles, Duration,
// ConcurrentExecutions, ...), with dimensions {FunctionName} (every invocation of
// the function) or {FunctionName, Resource: "name:qualifier"} (those through a
// version or alias). Periods are multiples of 60 s. Metric math expressions are
// refused.
//
// Threads: Handle() may be called on a reactor thread; the work (SQLite reads) runs
// on the BlockingPool. Stateless apart from the store, which is thread-safe.
#pragma once

#include <string>

#include "base/blocking_pool.h"
#include "base/clock.h"
#include "http/message.h"
#include "http/server.h"
#include "metrics/metrics_store.h"

namespace nimbus::metrics {

struct CloudWatchApiOptions {
  std::string region = "us-east-1";  // no answer names it yet
  // The owner of every metric (ListMetrics' OwningAccounts with IncludeLinkedAccounts).
  std::string account_id = "000000000000";
};

class CloudWatchApi {
 public:
  // `store`, `pool` and `clock` must outlive the CloudWatchApi and every request
  // it handles. The clock dates ListMetrics' window (the retention, or the last
  // three hours for RecentlyActive=PT3H).
  CloudWatchApi(MetricsStore& store, BlockingPool& pool, const Clock& clock,
                CloudWatchApiOptions options = {});
  CloudWatchApi(const CloudWatchApi&) = delete;
  CloudWatchApi& operator=(const CloudWatchApi&) = delete;

  // True for requests meant for this API: signed (SigV4 credential scope) for
  // service "monitoring"; or, not signed, carrying X-Amz-Target:
  // GraniteServiceVersion20100801.* or with a path that starts
  // /service/GraniteServiceVersion20100801/operation/. An unsigned query-protocol
  // request is not recognised (its Action names are not CloudWatch's alone).
  static bool Matches(const http::Request& request);

  // Answers on a BlockingPool thread.
  void Handle(http::Request&& request, http::Responder responder);

  // The whole request → response mapping. Blocks on the store; never fails (errors
  // become error responses).
  http::Response HandleSync(const http::Request& request);

 private:
  MetricsStore& store_;
  BlockingPool& pool_;
  const Clock& clock_;
  const CloudWatchApiOptions options_;
};

}  // namespace nimbus::metrics
