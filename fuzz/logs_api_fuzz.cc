// The CloudWatch Logs API (obs/logs_api.h) on any JSON body: log groups and
// streams, PutLogEvents, GetLogEvents and its tokens, FilterLogEvents with its
// filter patterns, retention, through LogsApi::HandleSync over a real LogStore
// (api_fuzz.h says why not Handle()). Checked: the response every API owes
// (api_fuzz.h).
//
// Input: one byte choosing the operation (a letter: A = 0; other bytes: their
// value), modulo 10, then the JSON body:
//   0 CreateLogGroup  1 CreateLogStream  2 DeleteLogGroup  3 DescribeLogGroups
//   4 DescribeLogStreams  5 GetLogEvents  6 FilterLogEvents  7 PutLogEvents
//   8 PutRetentionPolicy  9 DeleteRetentionPolicy
//
// State: a LogStore in <scratch>/logs on a FakeClock (2024-05-01T12:00:00Z),
// seeded with group "/aws/lambda/f" (streams "s1", three events with a JSON
// one, and "s2") and an empty group "/aws/lambda/g". Inputs create groups and
// streams and put events (up to 1 MB a batch), so the store is closed, emptied
// and seeded again every kResetEvery inputs, which bounds its files and memory
// to what that many inputs can write however long the run. A failure that needs
// state an earlier input left may not replay on its own: replay the grown
// corpus (build-fuzz/fuzz-work/logs_api/corpus).
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "api_fuzz.h"
#include "base/blocking_pool.h"
#include "base/testing/fake_clock.h"
#include "fuzz_input.h"
#include "http/message.h"
#include "obs/log_store.h"
#include "obs/logs_api.h"

namespace {

namespace fuzz = nimbus::fuzz;
namespace http = nimbus::http;
namespace obs = nimbus::obs;

constexpr int kResetEvery = 1000;
constexpr std::array<std::string_view, 10> kOperations = {
    "CreateLogGroup",     "CreateLogStream",      "DeleteLogGroup",  "DescribeLogGroups",
    "DescribeLogStreams", "GetLogEvents",         "FilterLogEvents", "PutLogEvents",
    "PutRetentionPolicy", "DeleteRetentionPolicy"};

http::Request Request(std::string_view operation, std::string body) {
  http::Request r;
  r.method = "POST";
  r.target = "/";
  r.headers.Set("X-Amz-Target", "Logs_20140328." + std::string(operation));
  r.headers.Set("Content-Type", "application/x-amz-json-1.1");
  r.body = std::move(body);
  return r;
}

class Harness {
 public:
  Harness() : dir_(fuzz::ScratchDir("logs_api") / "logs") { Reset(); }

  http::Response Handle(const http::Request& r) { return api_->HandleSync(r); }

  void MaybeReset() {
    if (++inputs_ % kResetEvery == 0) Reset();
  }

 private:
  void Reset() {
    api_.reset();
    store_.reset();
    fuzz::EmptyDir(dir_);
    obs::LogStoreOptions options;
    options.dir = dir_;
    auto s = obs::LogStore::Open(clock_, options);
    NIMBUS_FUZZ_CHECK(s.has_value(), "opening the log store");
    store_ = std::move(*s);
    api_ = std::make_unique<obs::LogsApi>(*store_, pool_);
    Seed("CreateLogGroup", R"({"logGroupName":"/aws/lambda/f"})");
    Seed("CreateLogGroup", R"({"logGroupName":"/aws/lambda/g"})");
    Seed("CreateLogStream", R"({"logGroupName":"/aws/lambda/f","logStreamName":"s1"})");
    Seed("CreateLogStream", R"({"logGroupName":"/aws/lambda/f","logStreamName":"s2"})");
    Seed("PutLogEvents", R"({"logGroupName":"/aws/lambda/f","logStreamName":"s1","logEvents":[
      {"timestamp":1714564790000,"message":"START RequestId: 1 Version: $LATEST\n"},
      {"timestamp":1714564795000,"message":"{\"level\":\"ERROR\",\"latency\":250,\"user\":{\"id\":7}}"},
      {"timestamp":1714564799000,"message":"END RequestId: 1 [ERROR] 404 GET /items\n"}]})");
  }

  void Seed(std::string_view operation, std::string body) {
    http::Response r = api_->HandleSync(Request(operation, std::move(body)));
    NIMBUS_FUZZ_CHECK(r.status == 200, r.body.c_str());
  }

  const std::filesystem::path dir_;
  nimbus::FakeClock clock_;
  nimbus::BlockingPool pool_{"logs-fuzz", 1};  // unused by HandleSync
  std::unique_ptr<obs::LogStore> store_;
  std::unique_ptr<obs::LogsApi> api_;
  int inputs_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Harness harness;
  if (size == 0) return 0;
  const size_t operation = fuzz::OperationOf(data[0], kOperations.size());
  fuzz::CheckResponse(harness.Handle(
      Request(kOperations[operation], std::string(fuzz::AsText(data + 1, size - 1)))));
  harness.MaybeReset();
  return 0;
}
