// KeysApi: Nimbus' own API for the access keys of the KeyStore, used by
// `nimbus keys` (issue #8). Requests are verified and authorized by the server
// before they get here, signed for "lambda" like the Lambda API; invoke-only
// keys are refused by Authenticator::Authorize, so only admins reach it.
//
//   GET    /nimbus/keys       200 {"AccessKeys":[{"AccessKeyId","Policy","Created"}]}
//                             (Created: epoch ms; secrets are never listed)
//   POST   /nimbus/keys       body {"Policy":"admin"|"invoke"} (default admin; an empty
//                             body is {}) → 201 {"AccessKeyId","SecretAccessKey","Policy",
//                             "Created"}: the only time the secret leaves the server
//   DELETE /nimbus/keys/<id>  204; 404 ResourceNotFoundException for an unknown key,
//                             409 ResourceConflictException for the last admin key
//
// Errors are in the Lambda REST shape: the x-amzn-ErrorType header and
// {"Type":"User","message":...}; a body that is not a JSON object or an
// unknown Policy is 400 InvalidParameterValueException naming the value.
//
// Thread-safe. A list is answered on the calling reactor (a map copy); creating
// and deleting write and fsync the key file, so they run on the BlockingPool and
// answer from there. A deleted key is refused from the next request on: the
// Authenticator looks every key up in the same KeyStore.
#pragma once

#include <functional>

#include "auth/key_store.h"
#include "base/blocking_pool.h"
#include "base/clock.h"
#include "http/message.h"
#include "http/server.h"

namespace nimbus::auth {

class KeysApi final {
 public:
  // `keys`, `blocking` and `clock` must outlive the KeysApi and every request
  // it is handling (the blocking pool drains before the others go).
  KeysApi(KeyStore& keys, BlockingPool& blocking, const Clock& clock)
      : keys_(keys), blocking_(blocking), clock_(clock) {}
  KeysApi(const KeysApi&) = delete;
  KeysApi& operator=(const KeysApi&) = delete;

  // True for /nimbus/keys and the paths below it, whatever the method.
  static bool Matches(const http::Request& request);

  // Answers `request` through `responder`, at once or from the blocking pool.
  // May be called on a reactor thread.
  void Handle(http::Request&& request, http::Responder responder);

  // The same, answering through `done`: called exactly once, on this thread or
  // on a blocking pool thread.
  void Handle(const http::Request& request, std::function<void(http::Response)> done);

 private:
  KeyStore& keys_;
  BlockingPool& blocking_;
  const Clock& clock_;
};

}  // namespace nimbus::auth
