// The SQS API (sqs/sqs_api.h) on any request body, in both protocols it speaks:
// AWS JSON 1.0 (X-Amz-Target: AmazonSQS.<Action>) and the query protocol
// (form-encoded Action=<Action>&..., XML replies), through SqsApi::HandleSync
// over a real QueueStore (api_fuzz.h says why not Handle()). Checked: the
// response every API owes (api_fuzz.h: a 200..599 status, a body on a 4xx,
// JSON that parses).
//
// Input: one byte choosing the protocol and the action, then the body.
//   A letter: uppercase is JSON, lowercase the query protocol; its position
//   (A/a = 0) chooses the action (other bytes: the low bit the protocol, the
//   rest the action):
//     0 CreateQueue  1 DeleteQueue  2 GetQueueUrl  3 ListQueues
//     4 GetQueueAttributes  5 SetQueueAttributes  6 PurgeQueue  7 SendMessage
//     8 SendMessageBatch  9 ReceiveMessage  10 DeleteMessage
//     11 DeleteMessageBatch  12 ChangeMessageVisibility
//     13 ChangeMessageVisibilityBatch
//   JSON: the body as sent. Query: "Action=<action>&" then the body (a later
//   Action= wins); a body starting with '/' has the request target (path, where
//   the query protocol may name the queue, and query string) as its first line.
//   "@receipt" anywhere is replaced by the receipt handle of a message in
//   flight on queue "q".
//
// State: the queues live in <scratch>/sqs.db, opened once per process with
// queues "q" (a message in flight, one visible) and "f.fifo". Inputs create
// queues and send messages (up to the 256 KiB a message may hold), so the store
// is emptied and seeded again every kResetEvery inputs: a 60 s run of ~1,000
// inputs/s then holds at most ~1,000 inputs' worth of data (a few MB on tmpfs)
// rather than growing for as long as the fuzzer runs. A failure that needs
// state an earlier input left may not replay on its own: replay the grown
// corpus (build-fuzz/fuzz-work/sqs_api/corpus) to reproduce it.
#include <array>
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "api_fuzz.h"
#include "base/blocking_pool.h"
#include "base/reactor.h"
#include "fuzz_input.h"
#include "http/message.h"
#include "sqs/queue_store.h"
#include "sqs/sqs_api.h"

namespace {

namespace fuzz = nimbus::fuzz;
namespace http = nimbus::http;
namespace sqs = nimbus::sqs;

constexpr int kResetEvery = 1000;
constexpr std::array<std::string_view, 14> kActions = {"CreateQueue",
                                                       "DeleteQueue",
                                                       "GetQueueUrl",
                                                       "ListQueues",
                                                       "GetQueueAttributes",
                                                       "SetQueueAttributes",
                                                       "PurgeQueue",
                                                       "SendMessage",
                                                       "SendMessageBatch",
                                                       "ReceiveMessage",
                                                       "DeleteMessage",
                                                       "DeleteMessageBatch",
                                                       "ChangeMessageVisibility",
                                                       "ChangeMessageVisibilityBatch"};

http::Request JsonRequest(std::string_view action, std::string body) {
  http::Request r;
  r.method = "POST";
  r.target = "/";
  r.headers.Set("Host", "127.0.0.1:9000");
  r.headers.Set("Content-Type", "application/x-amz-json-1.0");
  r.headers.Set("X-Amz-Target", "AmazonSQS." + std::string(action));
  r.body = std::move(body);
  return r;
}

class Harness {
 public:
  Harness() : dir_(fuzz::ScratchDir("sqs_api") / "sqs") { Reset(); }

  http::Response Handle(const http::Request& r) { return api_->HandleSync(r); }
  const std::string& receipt() const { return receipt_; }

  void MaybeReset() {
    if (++inputs_ % kResetEvery == 0) Reset();
  }

 private:
  void Reset() {
    api_.reset();
    store_.reset();
    fuzz::EmptyDir(dir_);
    auto s = sqs::QueueStore::Open(dir_ / "sqs.db", "arn:aws:sqs:us-east-1:000000000000:");
    NIMBUS_FUZZ_CHECK(s.has_value(), "opening the queue store");
    store_ = std::move(*s);
    api_ = std::make_unique<sqs::SqsApi>(*store_, pool_, reactor_, sqs::SqsApiOptions{});
    Seed("CreateQueue", R"({"QueueName":"q"})");
    Seed(
        "CreateQueue",
        R"({"QueueName":"f.fifo","Attributes":{"FifoQueue":"true","ContentBasedDeduplication":"true"}})");
    Seed("SendMessage", R"({"QueueUrl":"/000000000000/q","MessageBody":"in flight"})");
    http::Response got =
        Seed("ReceiveMessage", R"({"QueueUrl":"/000000000000/q","VisibilityTimeout":43200})");
    receipt_ =
        boost::json::parse(got.body).at("Messages").at(0).at("ReceiptHandle").as_string().c_str();
    Seed("SendMessage", R"({"QueueUrl":"/000000000000/q","MessageBody":"visible",)"
                        R"("MessageAttributes":{"n":{"DataType":"Number","StringValue":"1"}}})");
  }

  http::Response Seed(std::string_view action, std::string body) {
    http::Response r = api_->HandleSync(JsonRequest(action, std::move(body)));
    NIMBUS_FUZZ_CHECK(r.status == 200, r.body.c_str());
    return r;
  }

  const std::filesystem::path dir_;
  // Unused by HandleSync; SqsApi's constructor takes them.
  nimbus::BlockingPool pool_{"sqs-fuzz", 1};
  nimbus::Reactor reactor_{"sqs-fuzz-reactor"};
  std::unique_ptr<sqs::QueueStore> store_;
  std::unique_ptr<sqs::SqsApi> api_;
  std::string receipt_;
  int inputs_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Harness harness;
  if (size == 0) return 0;
  const uint8_t choice = data[0];
  bool query;
  size_t action;
  if ((choice >= 'A' && choice <= 'Z') || (choice >= 'a' && choice <= 'z')) {
    query = choice >= 'a';
    action = fuzz::OperationOf(choice, kActions.size());
  } else {
    query = (choice & 1) != 0;
    action = (choice >> 1) % kActions.size();
  }
  std::string body(fuzz::AsText(data + 1, size - 1));
  fuzz::ReplaceAll(body, "@receipt", harness.receipt());

  http::Request request;
  if (!query) {
    request = JsonRequest(kActions[action], std::move(body));
  } else {
    request.method = "POST";
    request.target = "/";
    if (body.starts_with('/')) {
      size_t eol = body.find('\n');
      request.target = body.substr(0, eol);
      body.erase(0, eol == std::string::npos ? body.size() : eol + 1);
    }
    request.headers.Set("Host", "127.0.0.1:9000");
    request.headers.Set("Content-Type", "application/x-www-form-urlencoded");
    request.body = "Action=" + std::string(kActions[action]) + "&" + body;
  }
  fuzz::CheckResponse(harness.Handle(request));
  harness.MaybeReset();
  return 0;
}
