// The CloudWatch metrics API (metrics/cloudwatch_api.h) in the three protocols
// it speaks: the query protocol (form-encoded, XML replies), JSON 1.0
// (X-Amz-Target: GraniteServiceVersion20100801.<Op>) and RPC v2 CBOR (POST
// /service/GraniteServiceVersion20100801/operation/<Op>), through
// CloudWatchApi::HandleSync over a real MetricsStore (api_fuzz.h says why not
// Handle()). Checked: the response every API owes (api_fuzz.h), and a CBOR
// reply decodes.
//
// Input: one byte choosing the protocol and the operation, then the body.
//   Operations: 0 GetMetricStatistics  1 GetMetricData  2 ListMetrics.
//   'A'..'C' JSON: the body as sent.
//   'a'..'c' query: "Action=<Op>&Version=2010-08-01&" then the body (a later
//            Action= wins); a body starting with '/' or '?' has the request
//            target as its first line.
//   '0'..'2' CBOR: a body that parses as JSON is sent as JsonToCbor of it
//            (StartTime and EndTime as tag-1 timestamps, as Smithy clients
//            send them), anything else as raw CBOR bytes.
//   Any other byte: its value modulo 9 in that order (JSON, query, CBOR).
//
// State: <scratch>/cloudwatch/metrics.db, written once: function "f" with ten
// calls a minute from 11:55 to 11:59 (one failing) and four a minute through
// alias "live" at 11:58 and 11:59, on a FakeClock at 2024-05-01T12:00:00Z
// (1714564800). Every operation only reads, so the store never grows and is
// never reset: each input runs against the same state and replays alone.
#include <array>
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "api_fuzz.h"
#include "base/blocking_pool.h"
#include "base/testing/fake_clock.h"
#include "fuzz_input.h"
#include "http/message.h"
#include "metrics/cbor.h"
#include "metrics/cloudwatch_api.h"
#include "metrics/metrics_store.h"

namespace {

namespace fuzz = nimbus::fuzz;
namespace http = nimbus::http;
namespace metrics = nimbus::metrics;

constexpr int64_t kNowMinute = 1714564800 / 60;
constexpr std::array<std::string_view, 3> kOperations = {"GetMetricStatistics", "GetMetricData",
                                                         "ListMetrics"};
enum class Protocol { kJson, kQuery, kCbor };

metrics::MinuteStats Calls(uint64_t n, uint64_t errors, double ms) {
  metrics::MinuteStats s;
  s.invocations = n;
  s.errors = errors;
  s.duration_sum_ms = ms * static_cast<double>(n);
  s.duration_min_ms = s.duration_max_ms = ms;
  for (uint64_t i = 0; i < n; ++i) s.durations.Observe(ms);
  s.max_concurrency = 1;
  return s;
}

class Harness {
 public:
  Harness() {
    const auto dir = fuzz::ScratchDir("cloudwatch_api") / "cloudwatch";
    fuzz::EmptyDir(dir);
    auto s = metrics::MetricsStore::Open(dir / "metrics.db");
    NIMBUS_FUZZ_CHECK(s.has_value(), "opening the metrics store");
    store_ = std::move(*s);
    std::map<std::pair<metrics::SeriesKey, int64_t>, metrics::MinuteStats> minutes;
    for (int64_t i = 0; i < 5; ++i) {
      minutes[{metrics::SeriesKey{"f", ""}, kNowMinute - 5 + i}] =
          Calls(10, i == 4 ? 1 : 0, static_cast<double>(i + 1));
    }
    minutes[{metrics::SeriesKey{"f", "f:live"}, kNowMinute - 2}] = Calls(4, 0, 10);
    minutes[{metrics::SeriesKey{"f", "f:live"}, kNowMinute - 1}] = Calls(4, 0, 10);
    NIMBUS_FUZZ_CHECK(store_->Write(minutes, 1).ok(), "writing the seeded metrics");
    api_ = std::make_unique<metrics::CloudWatchApi>(*store_, pool_, clock_);
  }

  http::Response Handle(const http::Request& r) { return api_->HandleSync(r); }

 private:
  nimbus::FakeClock clock_;
  nimbus::BlockingPool pool_{"cw-fuzz", 1};  // unused by HandleSync
  std::unique_ptr<metrics::MetricsStore> store_;
  std::unique_ptr<metrics::CloudWatchApi> api_;
};

http::Request Build(Protocol protocol, std::string_view op, std::string body) {
  http::Request r;
  r.method = "POST";
  r.target = "/";
  r.headers.Set("Authorization",
                "AWS4-HMAC-SHA256 Credential=test/20240501/us-east-1/monitoring/aws4_request, "
                "SignedHeaders=host, Signature=00");
  switch (protocol) {
    case Protocol::kJson:
      r.headers.Set("Content-Type", "application/x-amz-json-1.0");
      r.headers.Set("X-Amz-Target", "GraniteServiceVersion20100801." + std::string(op));
      r.body = std::move(body);
      break;
    case Protocol::kQuery:
      if (body.starts_with('/') || body.starts_with('?')) {
        size_t eol = body.find('\n');
        r.target = body.substr(0, eol);
        if (r.target.starts_with('?')) r.target.insert(0, "/");
        body.erase(0, eol == std::string::npos ? body.size() : eol + 1);
      }
      r.headers.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8");
      r.body = "Action=" + std::string(op) + "&Version=2010-08-01&" + body;
      break;
    case Protocol::kCbor: {
      r.target = "/service/GraniteServiceVersion20100801/operation/" + std::string(op);
      r.headers.Set("smithy-protocol", "rpc-v2-cbor");
      r.headers.Set("Content-Type", "application/cbor");
      r.headers.Set("Accept", "application/cbor");
      boost::system::error_code ec;
      boost::json::value v = boost::json::parse(body, ec);
      r.body = ec ? std::move(body) : metrics::JsonToCbor(v, {"StartTime", "EndTime"});
      break;
    }
  }
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Harness harness;
  if (size == 0) return 0;
  const uint8_t choice = data[0];
  Protocol protocol;
  size_t op;
  if (choice >= 'A' && choice <= 'Z') {
    protocol = Protocol::kJson;
    op = static_cast<size_t>(choice - 'A') % kOperations.size();
  } else if (choice >= 'a' && choice <= 'z') {
    protocol = Protocol::kQuery;
    op = static_cast<size_t>(choice - 'a') % kOperations.size();
  } else if (choice >= '0' && choice <= '9') {
    protocol = Protocol::kCbor;
    op = static_cast<size_t>(choice - '0') % kOperations.size();
  } else {
    protocol = static_cast<Protocol>(choice % 9 / 3);
    op = choice % 3;
  }
  http::Request request =
      Build(protocol, kOperations[op], std::string(fuzz::AsText(data + 1, size - 1)));
  const http::Response response = harness.Handle(request);
  fuzz::CheckResponse(response);
  if (protocol == Protocol::kCbor && !response.body.empty()) {
    NIMBUS_FUZZ_CHECK(metrics::CborToJson(response.body).has_value(),
                      "a CBOR response body decodes");
  }
  return 0;
}
