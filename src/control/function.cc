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

}  // namespace nimbus::control
