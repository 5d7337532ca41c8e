// FakeInvoker: an invoke::Invoker for api/ tests. Records every request and
// retirement; answers each Invoke with the outcome (or error) the test queued,
// synchronously on the calling (reactor) thread. An Invoke with nothing queued
// fails the test loudly. Confined to the reactor thread, like the real one.
#pragma once

#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "invoke/invoker.h"

namespace nimbus::api::testing {

class FakeInvoker final : public invoke::Invoker {
 public:
  void Invoke(invoke::InvokeRequest request, invoke::InvokeCallback done) override {
    requests.push_back(request);
    if (results.empty()) {
      ADD_FAILURE() << "FakeInvoker: unexpected Invoke of " << request.function->config.name;
      done(Status(Code::kInternal, "FakeInvoker: no outcome queued"));
      return;
    }
    Result<invoke::InvokeOutcome> r = std::move(results.front());
    results.pop_front();
    done(std::move(r));
  }
  void RetireFunction(const std::string& function_name, const std::string& version) override {
    retired.push_back(version.empty() ? function_name : function_name + ":" + version);
  }

  void SetReservedConcurrency(const std::string& function_name,
                              std::optional<int> reserved) override {
    reserved_concurrency[function_name] = reserved;
  }
  void SetProvisionedConcurrency(control::FunctionSnapshot version, const std::string& qualifier,
                                 int count) override {
    provisioned[version->config.name + ":" + qualifier] = count;
  }

  std::map<std::string, std::optional<int>> reserved_concurrency;  // by function name
  std::map<std::string, int> provisioned;                          // by "name:qualifier"
  std::deque<Result<invoke::InvokeOutcome>> results;  // answers, in order
  std::vector<invoke::InvokeRequest> requests;        // what was invoked
  std::vector<std::string> retired;                   // RetireFunction calls
};

}  // namespace nimbus::api::testing
