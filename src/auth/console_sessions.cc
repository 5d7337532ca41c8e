#include "auth/console_sessions.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <algorithm>
#include <utility>

namespace nimbus::auth {
namespace {

// The table's key for `token`: its SHA-256, so that a lookup's string
// comparisons reveal nothing about a valid token.
std::string TokenKey(std::string_view token) {
  std::string digest(SHA256_DIGEST_LENGTH, '\0');
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(),
         reinterpret_cast<unsigned char*>(digest.data()));
  return digest;
}

// Standard base64 to base64url without padding (a cookie value needing no quoting).
std::string ToBase64Url(std::string text) {
  std::replace(text.begin(), text.end(), '+', '-');
  std::replace(text.begin(), text.end(), '/', '_');
  while (!text.empty() && text.back() == '=') text.pop_back();
  return text;
}

constexpr size_t kTokenBytes = 32;

}  // namespace

ConsoleSessions::ConsoleSessions(const KeyStore& keys, ConsoleSessionsOptions options)
    : keys_(keys), options_(std::move(options)) {}

Result<std::string> ConsoleSessions::SignIn(std::string_view access_key_id, std::string_view secret,
                                            std::string_view remote_address, TimePoint now) {
  {
    MutexLock lock(mu_);
    if (!Allowed(remote_address, now)) {
      return Status(Code::kThrottled, "too many failed sign-ins from this address; wait a minute and try again");
    }
  }
  const std::optional<http::AwsCredentials> key = keys_.Find(access_key_id);
  const bool match = key.has_value() && key->secret_access_key.size() == secret.size() &&
                     CRYPTO_memcmp(key->secret_access_key.data(), secret.data(), secret.size()) == 0;
  if (!match) {
    MutexLock lock(mu_);
    CountFailure(remote_address, now);
    return Status(Code::kPermissionDenied, "the access key ID or secret is wrong");
  }
  NIMBUS_ASSIGN_OR_RETURN(std::string raw, RandomBase64(kTokenBytes));
  std::string token = ToBase64Url(std::move(raw));
  MutexLock lock(mu_);
  Trim(now, std::max<size_t>(options_.max_sessions, 1) - 1);
  const uint64_t seq = next_seq_++;
  std::string map_key = TokenKey(token);
  by_age_.emplace(seq, map_key);
  sessions_.insert_or_assign(std::move(map_key), Session{std::string(access_key_id), now, seq});
  return token;
}

std::optional<std::string> ConsoleSessions::Find(std::string_view token, TimePoint now) {
  std::string access_key_id;
  {
    MutexLock lock(mu_);
    auto it = sessions_.find(TokenKey(token));
    if (it == sessions_.end()) return std::nullopt;
    if (now - it->second.created >= options_.lifetime) {
      Erase(it);
      return std::nullopt;
    }
    access_key_id = it->second.access_key_id;
  }
  // A deleted key's sessions end with it.
  if (!keys_.PolicyOf(access_key_id).has_value()) {
    SignOut(token);
    return std::nullopt;
  }
  return access_key_id;
}

void ConsoleSessions::SignOut(std::string_view token) {
  MutexLock lock(mu_);
  auto it = sessions_.find(TokenKey(token));
  if (it != sessions_.end()) Erase(it);
}

size_t ConsoleSessions::size() const {
  MutexLock lock(mu_);
  return sessions_.size();
}

void ConsoleSessions::Erase(std::map<std::string, Session, std::less<>>::iterator it) {
  by_age_.erase(it->second.seq);
  sessions_.erase(it);
}

void ConsoleSessions::Trim(TimePoint now, size_t room) {
  while (!by_age_.empty()) {
    auto oldest = sessions_.find(by_age_.begin()->second);
    const bool expired = now - oldest->second.created >= options_.lifetime;
    if (!expired && sessions_.size() <= room) break;
    Erase(oldest);
  }
}

bool ConsoleSessions::Allowed(std::string_view remote_address, TimePoint now) {
  auto it = failures_.find(remote_address);
  if (it == failures_.end()) return true;
  if (now - it->second.window_start >= options_.failure_window) {
    failures_.erase(it);
    return true;
  }
  return it->second.count < options_.max_failures;
}

void ConsoleSessions::CountFailure(std::string_view remote_address, TimePoint now) {
  auto it = failures_.find(remote_address);
  if (it != failures_.end() && now - it->second.window_start >= options_.failure_window) {
    failures_.erase(it);
    it = failures_.end();
  }
  if (it == failures_.end()) {
    if (failures_.size() >= options_.max_failing_addresses) {
      std::erase_if(failures_, [&](const auto& f) { return now - f.second.window_start >= options_.failure_window; });
      if (failures_.size() >= options_.max_failing_addresses) failures_.erase(failures_.begin());
    }
    it = failures_.emplace(std::string(remote_address), Failures{now, 0}).first;
  }
  ++it->second.count;
}

}  // namespace nimbus::auth
