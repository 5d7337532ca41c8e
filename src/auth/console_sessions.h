// ConsoleSessions: the web console's sign-ins (issue #8). A browser cannot sign
// requests with SigV4 on a plain-HTTP remote origin (WebCrypto needs a secure
// context), so the console signs in once with an access key's id and secret
// and then sends a session token in an HttpOnly, SameSite=Strict cookie;
// auth::Authenticator accepts it as that key.
//
// A session lasts 12 hours from sign-in and ends early when the key is deleted
// from the KeyStore or the user signs out. Sessions live in memory only: a
// restart signs everyone out. The table is bounded (the oldest session is
// evicted), and so are the failed sign-ins counted per remote address (more
// than 10 in a minute are refused with kThrottled before the secret is looked
// at).
//
// Tokens are 32 random bytes (RAND_bytes), base64url; the table keys them by
// their SHA-256, so looking one up compares no secret byte by byte.
//
// Thread-safe: one mutex guards the tables, held for map operations only (the
// KeyStore, which has its own lock, is asked outside it; there is no I/O).
// Times are passed in (the caller's monotonic Clock).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "auth/key_store.h"
#include "base/status.h"
#include "base/thread_annotations.h"

namespace nimbus::auth {

struct ConsoleSessionsOptions {
  // How long a session lasts after sign-in. Longer saves signing in again;
  // shorter limits what a stolen cookie is worth.
  std::chrono::steady_clock::duration lifetime = std::chrono::hours(12);
  // At most this many sessions (at least 1); signing in past it ends the oldest.
  size_t max_sessions = 10'000;
  // Failed sign-ins allowed per remote address per `failure_window`; more are
  // refused (kThrottled) until the window has passed.
  int max_failures = 10;
  std::chrono::steady_clock::duration failure_window = std::chrono::minutes(1);
  // At most this many remote addresses with failures are remembered (past it,
  // those whose window has passed are forgotten, then any).
  size_t max_failing_addresses = 10'000;
};

class ConsoleSessions {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  // `keys` must outlive this object.
  explicit ConsoleSessions(const KeyStore& keys, ConsoleSessionsOptions options = {});
  ConsoleSessions(const ConsoleSessions&) = delete;
  ConsoleSessions& operator=(const ConsoleSessions&) = delete;

  // A new session's token when `secret` is the secret of key `access_key_id`
  // (compared in constant time). Errors: kPermissionDenied for an unknown key
  // or a wrong secret (the message does not say which); kThrottled when
  // `remote_address` failed too often lately; kInternal if RAND_bytes fails.
  Result<std::string> SignIn(std::string_view access_key_id, std::string_view secret,
                             std::string_view remote_address, TimePoint now);

  // The access key id of the session `token`, while it is younger than the
  // lifetime and its key still exists; else nullopt (and it is forgotten).
  std::optional<std::string> Find(std::string_view token, TimePoint now);

  // Ends the session (nothing happens for an unknown token).
  void SignOut(std::string_view token);

  size_t size() const;

 private:
  struct Session {
    std::string access_key_id;
    TimePoint created;
    uint64_t seq = 0;  // its entry in by_age_
  };
  struct Failures {
    TimePoint window_start;
    int count = 0;
  };

  // Drops expired sessions, then the oldest while more than `room` are left.
  void Trim(TimePoint now, size_t room) NIMBUS_REQUIRES(mu_);
  void Erase(std::map<std::string, Session, std::less<>>::iterator it) NIMBUS_REQUIRES(mu_);
  // Whether `remote_address` may try to sign in now.
  bool Allowed(std::string_view remote_address, TimePoint now) NIMBUS_REQUIRES(mu_);
  void CountFailure(std::string_view remote_address, TimePoint now) NIMBUS_REQUIRES(mu_);

  const KeyStore& keys_;
  const ConsoleSessionsOptions options_;
  mutable Mutex mu_;
  // By SHA-256 of the token.
  std::map<std::string, Session, std::less<>> sessions_ NIMBUS_GUARDED_BY(mu_);
  // Sign-in order: seq -> the session's map key (seq grows, so the first is the oldest).
  std::map<uint64_t, std::string> by_age_ NIMBUS_GUARDED_BY(mu_);
  uint64_t next_seq_ NIMBUS_GUARDED_BY(mu_) = 0;
  std::map<std::string, Failures, std::less<>> failures_ NIMBUS_GUARDED_BY(mu_);  // by remote address
};

}  // namespace nimbus::auth
