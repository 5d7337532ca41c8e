// Journal: how the reactor-confined parts of async make their changes durable.
// Write() queues a batch; `done` runs on the reactor once the batch is on disk
// (fsync'd) or could not be written. Batches become durable in the order they
// were written. REQUIRES: Write() on the reactor thread.
#pragma once

#include <functional>

#include "async/event_store.h"
#include "base/status.h"

namespace nimbus::async {

class Journal {
 public:
  virtual ~Journal() = default;
  virtual void Write(WriteBatch batch, std::function<void(Status)> done) = 0;
};

}  // namespace nimbus::async
