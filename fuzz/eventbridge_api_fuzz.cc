// The EventBridge API (events/event_bridge.h) on any JSON body: rules with
// schedule expressions and event patterns, targets, and PutEvents, which
// matches each event against every rule and delivers it (to a function through
// the invoke_async callback, to an SQS queue through the QueueStore), through
// EventBridge::HandleSync over a real events.db, control::Registry and
// QueueStore (api_fuzz.h says why not Handle()). Checked: the response every
// API owes (api_fuzz.h).
//
// Input: one byte choosing the action (a letter: A = 0; other bytes: their
// value), modulo 10, then the JSON body:
//   0 PutRule  1 DescribeRule  2 ListRules  3 DeleteRule  4 EnableRule
//   5 DisableRule  6 PutTargets  7 RemoveTargets  8 ListTargetsByRule
//   9 PutEvents
//
// State, under <scratch>/eventbridge: a registry holding function "audit" (its
// policy lets events.amazonaws.com invoke it), queue "ticks", and events.db
// with rule "orders" (a pattern on source "shop", targets: the function with
// InputPath $.detail and the queue) and rule "tick" (rate(5 minutes), no
// targets). Inputs add rules and targets and PutEvents sends messages to the
// queue, so everything is closed, emptied and seeded again every kResetEvery
// inputs, which bounds the databases (and the rules every request loads) to
// what that many inputs can add however long the run. A failure that needs
// state an earlier input left may not replay on its own: replay the grown
// corpus (build-fuzz/fuzz-work/eventbridge_api/corpus).
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "api_fuzz.h"
#include "base/blocking_pool.h"
#include "base/reactor.h"
#include "base/testing/fake_clock.h"
#include "control/registry.h"
#include "events/event_bridge.h"
#include "fuzz_input.h"
#include "http/message.h"
#include "sqs/queue_store.h"
#include "storage/testing/zip_builder.h"

namespace {

namespace control = nimbus::control;
namespace events = nimbus::events;
namespace fuzz = nimbus::fuzz;
namespace http = nimbus::http;
namespace sqs = nimbus::sqs;

constexpr int kResetEvery = 1000;
constexpr std::array<std::string_view, 10> kActions = {
    "PutRule",     "DescribeRule", "ListRules",     "DeleteRule",        "EnableRule",
    "DisableRule", "PutTargets",   "RemoveTargets", "ListTargetsByRule", "PutEvents"};

http::Request Request(std::string_view action, std::string body) {
  http::Request r;
  r.method = "POST";
  r.target = "/";
  r.headers.Set("Content-Type", "application/x-amz-json-1.1");
  r.headers.Set("X-Amz-Target", "AWSEvents." + std::string(action));
  r.body = std::move(body);
  return r;
}

class Harness {
 public:
  Harness() : dir_(fuzz::ScratchDir("eventbridge_api") / "eventbridge") { Reset(); }

  http::Response Handle(const http::Request& r) { return bridge_->HandleSync(r); }

  void MaybeReset() {
    if (++inputs_ % kResetEvery == 0) Reset();
  }

 private:
  void Reset() {
    bridge_.reset();
    queues_.reset();
    registry_.reset();
    fuzz::EmptyDir(dir_);

    auto r = control::Registry::Open(control::RegistryOptions{dir_ / "registry", {}}, clock_);
    NIMBUS_FUZZ_CHECK(r.has_value(), "opening the registry");
    registry_ = std::move(r).value();
    control::CreateFunctionRequest f;
    f.function_name = "audit";
    f.runtime = "python3.12";
    f.handler = "app.handler";
    f.role = "arn:aws:iam::123456789012:role/lambda-role";
    f.zip_file = nimbus::storage::testing::ZipBuilder()
                     .File("app.py", "def handler(e, c):\n  return 1\n")
                     .Build();
    NIMBUS_FUZZ_CHECK(registry_->CreateFunction(std::move(f)).has_value(), "creating audit");
    control::AddPermissionRequest p;
    p.function_name = "audit";
    p.statement_id = "events";
    p.action = "lambda:InvokeFunction";
    p.principal = "events.amazonaws.com";
    NIMBUS_FUZZ_CHECK(registry_->AddPermission(std::move(p)).has_value(), "adding a permission");

    auto q = sqs::QueueStore::Open(dir_ / "sqs.db", "arn:aws:sqs:us-east-1:000000000000:");
    NIMBUS_FUZZ_CHECK(q.has_value(), "opening the queue store");
    queues_ = std::move(q).value();
    NIMBUS_FUZZ_CHECK(queues_->CreateQueue("ticks", {}).has_value(), "creating ticks");

    auto b = events::EventBridge::Open(
        dir_ / "events.db",
        events::EventBridgeDeps{reactor_, pool_, *registry_, *queues_, control::Region{},
                                [](const std::string&, std::string, std::string) {}});
    NIMBUS_FUZZ_CHECK(b.has_value(), "opening events.db");
    bridge_ = std::move(b).value();
    Seed(
        "PutRule",
        R"({"Name":"orders","EventPattern":"{\"source\":[\"shop\"],\"detail\":{\"total\":[{\"numeric\":[\">\",10]}]}}"})");
    Seed("PutTargets", R"({"Rule":"orders","Targets":[
      {"Id":"fn","Arn":"arn:aws:lambda:us-east-1:000000000000:function:audit","InputPath":"$.detail"},
      {"Id":"q","Arn":"arn:aws:sqs:us-east-1:000000000000:ticks","Input":"{\"fixed\":true}"}]})");
    Seed("PutRule",
         R"j({"Name":"tick","ScheduleExpression":"rate(5 minutes)","State":"DISABLED"})j");
  }

  void Seed(std::string_view action, std::string body) {
    http::Response r = bridge_->HandleSync(Request(action, std::move(body)));
    NIMBUS_FUZZ_CHECK(r.status == 200, r.body.c_str());
  }

  const std::filesystem::path dir_;
  nimbus::FakeClock clock_;
  // Unused by HandleSync and deliveries; EventBridgeDeps takes them.
  nimbus::Reactor reactor_{"events-fuzz-reactor"};
  nimbus::BlockingPool pool_{"events-fuzz", 1};
  std::unique_ptr<control::Registry> registry_;
  std::unique_ptr<sqs::QueueStore> queues_;
  std::unique_ptr<events::EventBridge> bridge_;
  int inputs_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Harness harness;
  if (size == 0) return 0;
  const size_t action = fuzz::OperationOf(data[0], kActions.size());
  fuzz::CheckResponse(
      harness.Handle(Request(kActions[action], std::string(fuzz::AsText(data + 1, size - 1)))));
  harness.MaybeReset();
  return 0;
}
