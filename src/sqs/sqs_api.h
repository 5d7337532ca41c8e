// sqs: the SQS API front end (issue #5, scope 3) over QueueStore, on the Nimbus
// port, for requests signed for service "sqs". It speaks both protocols the SDKs
// use: AWS JSON 1.0 (X-Amz-Target: AmazonSQS.<Action>; current SDKs) and the query
// protocol (form-encoded Action=<Action>, XML replies; older SDKs such as Debian's
// boto3). Both are parsed into one Params view and answered from one result value.
//
// Served: CreateQueue, DeleteQueue, GetQueueUrl, ListQueues, GetQueueAttributes,
// SetQueueAttributes, PurgeQueue, SendMessage(Batch), ReceiveMessage (long
// polling), DeleteMessage(Batch), ChangeMessageVisibility(Batch). Other actions
// answer UnsupportedOperation naming the action. Queue URLs are
// http://<the request's Host>/<account>/<name>; any host is accepted in one.
//
// Threads: Handle() and Shutdown() on the reactor; the work (SQLite) runs on the
// BlockingPool. A ReceiveMessage that finds nothing and may wait parks on the
// reactor until a message is sent to its queue, a message becomes visible (it
// retries every second) or its wait ends.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/blocking_pool.h"
#include "base/reactor.h"
#include "http/message.h"
#include "http/server.h"
#include "storage/disk_space.h"
#include "sqs/queue_store.h"

namespace nimbus::sqs {

struct SqsApiOptions {
  std::string region = "us-east-1";
  std::string account_id = "000000000000";
  // Called on the reactor after a message was sent to the queue named (event
  // source mappings poll it at once).
  std::function<void(const std::string& queue)> on_message_sent;
  // Asked before SendMessage and SendMessageBatch; none: no reserve is kept.
  const storage::DiskSpace* disk = nullptr;
};

class SqsApi {
 public:
  SqsApi(QueueStore& store, BlockingPool& pool, Reactor& reactor, SqsApiOptions options);
  ~SqsApi();
  SqsApi(const SqsApi&) = delete;
  SqsApi& operator=(const SqsApi&) = delete;

  static bool Matches(const http::Request& request);

  // REQUIRES: on the reactor.
  void Handle(http::Request&& request, http::Responder responder);
  // Drops parked long polls; later wake-ups are ignored. REQUIRES: on the reactor.
  void Shutdown();

  // The blocking core: one request, one response. For a ReceiveMessage that found
  // nothing, `*wait_seconds` (if given) gets how long it may wait, else 0.
  // `*sent_to` (if given) gets the queue a message was sent to, else "".
  http::Response HandleSync(const http::Request& request, int* wait_seconds = nullptr,
                            std::string* sent_to = nullptr);

 private:
  struct Waiter;
  void Park(std::shared_ptr<Waiter> waiter);
  void Wake(const std::string& queue);
  void Retry(const std::shared_ptr<Waiter>& waiter);
  void Tick();

  QueueStore& store_;
  BlockingPool& pool_;
  Reactor& reactor_;
  const SqsApiOptions options_;
  // Confined to the reactor.
  std::multimap<std::string, std::shared_ptr<Waiter>> waiters_;  // by queue name
  std::unique_ptr<Reactor::Timer> tick_;
  bool shut_down_ = false;
  // Expires with this object; callbacks from the BlockingPool check it.
  std::shared_ptr<SqsApi*> token_;
};

}  // namespace nimbus::sqs
