// KeyStore: the access keys that may sign requests to Nimbus (issue #8), kept
// in one JSON file in the data directory (<data>/credentials.json, mode 0600,
// replaced atomically). On first open it is created with one admin key, so a
// fresh server has credentials to hand out; the server prints where they are,
// never the secret.
//
// Keys are long-term AWS-style credentials ("AKIA" + 16 base-32 characters, a
// 40-character secret from OpenSSL's RAND_bytes) with a policy: admin (every
// API) or invoke (only invoking functions).
//
// The server verifies requests against it (auth::Authenticator).
//
// Thread-safe: reads take a shared lock, held for a map lookup only. Create and
// Delete (rare control-plane writes, on the blocking pool) are serialized by a
// writer mutex held while the file is written, and swap the new list in under
// the exclusive lock: readers never wait for the disk.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "http/sigv4.h"

namespace nimbus::auth {

enum class Policy { kAdmin, kInvoke };
std::string_view PolicyName(Policy p);  // "admin", "invoke"

struct AccessKey {
  std::string id;      // "AKIA…"
  std::string secret;  // 40 characters
  Policy policy = Policy::kAdmin;
  int64_t created_ms = 0;
};

// A new random key: `prefix` ("AKIA" long-term, "ASIA" session) + 16 base-32
// characters, and a 40-character secret from OpenSSL's RAND_bytes.
Result<AccessKey> GenerateAccessKey(std::string_view prefix, Policy policy, int64_t now_ms);
// `bytes` random bytes (RAND_bytes), base64-encoded.
Result<std::string> RandomBase64(size_t bytes);

class KeyStore final : public http::CredentialLookup {
 public:
  // Reads `file`, or creates it with one admin key when it does not exist.
  // Errors: the file cannot be read or written, or is not a key list this
  // version wrote (kInvalidArgument naming the file: nothing is overwritten).
  static Result<std::unique_ptr<KeyStore>> Open(const std::filesystem::path& file, int64_t now_ms);

  std::optional<http::AwsCredentials> Find(std::string_view access_key_id) const override;
  std::optional<Policy> PolicyOf(std::string_view access_key_id) const;
  std::vector<AccessKey> List() const;

  // A new key, on disk before it is returned.
  Result<AccessKey> Create(Policy policy, int64_t now_ms);
  // Errors: kNotFound; kFailedPrecondition for the last admin key (the store
  // would lock everyone out).
  Status Delete(std::string_view access_key_id);

  const std::filesystem::path& path() const { return file_; }
  // Whether Open created the file (and its admin key).
  bool created() const { return created_; }

 private:
  explicit KeyStore(std::filesystem::path file) : file_(std::move(file)) {}
  Status Save(const std::map<std::string, AccessKey, std::less<>>& keys) const;

  const std::filesystem::path file_;
  bool created_ = false;
  std::mutex write_mu_;  // serializes Create/Delete (held across Save)
  mutable std::shared_mutex mu_;
  std::map<std::string, AccessKey, std::less<>> keys_;  // GUARDED_BY(mu_), by id; written under write_mu_ too
};

}  // namespace nimbus::auth
