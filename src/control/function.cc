#include "control/function.h"

#include <fmt/format.h>

namespace nimbus::control {

std::string FunctionArn(const Region& region, const std::string& name) {
  return fmt::format("arn:aws:lambda:{}:{}:function:{}", region.name, region.account_id, name);
}

std::string QualifiedFunctionArn(const Region& region, const std::string& name,
                                 const std::string& qualifier) {
  return FunctionArn(region, name) + ":" + qualifier;
}

std::string LayerArn(const Region& region, const std::string& name) {
  return fmt::format("arn:aws:lambda:{}:{}:layer:{}", region.name, region.account_id, name);
}

std::string LayerVersionArn(const Region& region, const std::string& name, int version) {
  return fmt::format("{}:{}", LayerArn(region, name), version);
}

}  // namespace nimbus::control
