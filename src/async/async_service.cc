#include "async/async_service.h"

#include "base/encoding.h"
#include "base/log.h"

namespace nimbus::async {

Result<std::unique_ptr<AsyncService>> AsyncService::Open(AsyncServiceDeps deps,
                                                         AsyncServiceOptions options) {
  NIMBUS_ASSIGN_OR_RETURN(auto store, EventStore::Open(options.db_path));
  NIMBUS_ASSIGN_OR_RETURN(auto configs, store->LoadConfigs());
  NIMBUS_ASSIGN_OR_RETURN(auto events, store->LoadEvents());
  std::unique_ptr<AsyncService> s(new AsyncService());
  for (EventInvokeConfig& c : configs) s->configs_.Put(std::move(c));
  s->recovered_ = std::move(events);
  if (!s->recovered_.empty()) {
    log::Info("async: {} queued events found in {}", s->recovered_.size(),
              options.db_path.string());
  }
  s->timers_ = NewReactorTimers(deps.reactor);
  s->journal_ = std::make_unique<GroupCommitJournal>(deps.reactor, std::move(store));
  DispatcherOptions dispatcher_options;
  dispatcher_options.retry.scale = options.retry_scale;
  dispatcher_options.max_in_flight = options.max_in_flight;
  dispatcher_options.region = options.region;
  s->dispatcher_ = std::make_unique<Dispatcher>(
      DispatcherDeps{deps.clock, *s->timers_, *s->journal_, deps.invoker, deps.resolve,
                     s->configs_, [] { return NewUuid(); }, deps.send_to_queue, deps.metric},
      dispatcher_options);
  s->config_api_ = std::make_unique<EventInvokeConfigApi>(EventInvokeConfigApi::Deps{
      *s->journal_, s->configs_, deps.resolve, deps.clock, options.region,
      [] { return NewUuid(); }});
  return s;
}

AsyncService::~AsyncService() {
  // The dispatcher and API hold timers and write to the journal: they go first.
  config_api_.reset();
  dispatcher_.reset();
  journal_.reset();
}

void AsyncService::Start() { dispatcher_->Recover(std::move(recovered_)); }

void AsyncService::Stop(std::function<void()> done) {
  dispatcher_->Stop();
  journal_->Flush(std::move(done));
}

}  // namespace nimbus::async
