// Reading resource-based policies (AddPermission's documents, SQS queue policies)
// for the decisions the platform makes on a resource's behalf: may S3 invoke this
// function or send to this queue, may anyone call its public function URL.
#pragma once

#include <string_view>

namespace nimbus::control {

// Whether `document` has an "Allow" statement for `action` (compared without case;
// "<service>:*" and "*" cover every action)
// whose principal is `principal`: a service principal such as "s3.amazonaws.com"
// (Principal.Service), or "*" for anyone (Principal "*" or {"AWS": "*"}), which
// also covers any service. Conditions are not evaluated.
bool PolicyAllows(std::string_view document, std::string_view principal, std::string_view action);

}  // namespace nimbus::control
