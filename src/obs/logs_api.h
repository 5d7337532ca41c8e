// LogsApi: the CloudWatch Logs front end (AWS JSON 1.1 protocol) over LogStore,
// so `aws logs ...`, SDK clients and `nimbus logs` can read function logs.
//
// Wire: POST / with "X-Amz-Target: Logs_20140328.<Operation>" and a JSON body
// (Content-Type application/x-amz-json-1.1). Operations: CreateLogGroup,
// CreateLogStream, DeleteLogGroup, DescribeLogGroups, DescribeLogStreams,
// GetLogEvents, FilterLogEvents (filter patterns: obs/filter_pattern.h),
// PutLogEvents, PutRetentionPolicy, DeleteRetentionPolicy. Responses carry x-amzn-RequestId;
// errors are 400 (client) or 500 (service) with
// {"__type":"ResourceNotFoundException","message":"The specified log group does not exist."}.
//
// Thread-safe (all state is in the LogStore). Requests may read log files, so
// Handle() runs them on the BlockingPool, never on the calling reactor.
#pragma once

#include <string>

#include "base/blocking_pool.h"
#include "http/message.h"
#include "http/server.h"
#include "obs/log_store.h"

namespace nimbus::obs {

struct LogsApiOptions {
  // The region and account in returned ARNs
  // ("arn:aws:logs:us-east-1:000000000000:log-group:/aws/lambda/f:*").
  std::string region = "us-east-1";
  std::string account_id = "000000000000";
};

class LogsApi {
 public:
  // `store` and `pool` must outlive the LogsApi and every request it handles.
  LogsApi(LogStore& store, BlockingPool& pool, LogsApiOptions options = {});
  LogsApi(const LogsApi&) = delete;
  LogsApi& operator=(const LogsApi&) = delete;

  // True for requests meant for this API: X-Amz-Target starts with "Logs_20140328.".
  static bool Matches(const http::Request& request);

  // Answers on a BlockingPool thread. May be called on a reactor thread.
  void Handle(http::Request&& request, http::Responder responder);

  // The whole request → response mapping. Blocks on file reads; never fails
  // (errors become error responses).
  http::Response HandleSync(const http::Request& request);

 private:
  LogStore& store_;
  BlockingPool& pool_;
  const LogsApiOptions options_;
};

}  // namespace nimbus::obs
