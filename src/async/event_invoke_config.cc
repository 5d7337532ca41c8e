#include "async/event_invoke_config.h"

namespace nimbus::async {

const EventInvokeConfig* EventInvokeConfigs::Find(const std::string& function,
                                                  const std::string& qualifier) const {
  auto it = configs_.find({function, qualifier});
  return it == configs_.end() ? nullptr : &it->second;
}

void EventInvokeConfigs::Put(EventInvokeConfig config) {
  auto key = std::make_pair(config.function, config.qualifier);
  configs_[std::move(key)] = std::move(config);
}

void EventInvokeConfigs::Remove(const std::string& function, const std::string& qualifier) {
  configs_.erase({function, qualifier});
}

std::vector<EventInvokeConfig> EventInvokeConfigs::List(const std::string& function) const {
  std::vector<EventInvokeConfig> out;
  for (auto it = configs_.lower_bound({function, ""});
       it != configs_.end() && it->first.first == function; ++it) {
    out.push_back(it->second);
  }
  return out;
}

}  // namespace nimbus::async
