#include "auth/key_store.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <algorithm>
#include <fstream>
#include <mutex>
#include <sstream>

#include "base/encoding.h"
#include "base/errno_status.h"
#include "base/unique_fd.h"

namespace nimbus::auth {
namespace {

namespace json = boost::json;

Result<std::string> RandomBytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    return Internal("auth: RAND_bytes failed");
  }
  return out;
}

std::optional<Policy> ParsePolicy(std::string_view s) {
  if (s == "admin") return Policy::kAdmin;
  if (s == "invoke") return Policy::kInvoke;
  return std::nullopt;
}

}  // namespace

Result<AccessKey> GenerateAccessKey(std::string_view prefix, Policy policy, int64_t now_ms) {
  static constexpr char kBase32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  NIMBUS_ASSIGN_OR_RETURN(std::string id_bytes, RandomBytes(16));
  NIMBUS_ASSIGN_OR_RETURN(std::string secret, RandomBase64(30));  // 40 characters, no padding
  AccessKey k;
  k.id = std::string(prefix);
  for (unsigned char b : id_bytes) k.id += kBase32[b % 32];
  k.secret = std::move(secret);
  k.policy = policy;
  k.created_ms = now_ms;
  return k;
}

Result<std::string> RandomBase64(size_t bytes) {
  NIMBUS_ASSIGN_OR_RETURN(std::string raw, RandomBytes(bytes));
  return Base64Encode(raw);
}

std::string_view PolicyName(Policy p) { return p == Policy::kAdmin ? "admin" : "invoke"; }

Result<std::unique_ptr<KeyStore>> KeyStore::Open(const std::filesystem::path& file, int64_t now_ms) {
  std::unique_ptr<KeyStore> s(new KeyStore(file));
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) {
    NIMBUS_ASSIGN_OR_RETURN(AccessKey admin, GenerateAccessKey("AKIA", Policy::kAdmin, now_ms));
    s->keys_.emplace(admin.id, admin);
    NIMBUS_RETURN_IF_ERROR(s->Save(s->keys_));
    s->created_ = true;
    return s;
  }
  std::ifstream in(file);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in.good() && !in.eof()) return ErrnoStatus(fmt::format("auth: read {}", file.string()), errno);
  auto bad = [&](std::string_view why) {
    return InvalidArgument(fmt::format("auth: {} is not a Nimbus key list ({}); it was left as it is", file.string(), why));
  };
  boost::system::error_code jec;
  json::value v = json::parse(text.str(), jec);
  if (jec || !v.is_object() || !v.as_object().contains("AccessKeys") || !v.at("AccessKeys").is_array()) {
    return bad("expected {\"AccessKeys\": [...]}");
  }
  for (const json::value& e : v.at("AccessKeys").as_array()) {
    const json::object* o = e.if_object();
    if (o == nullptr || !o->contains("AccessKeyId") || !o->contains("SecretAccessKey") || !o->contains("Policy") ||
        !o->at("AccessKeyId").is_string() || !o->at("SecretAccessKey").is_string() || !o->at("Policy").is_string()) {
      return bad("a key without AccessKeyId, SecretAccessKey and Policy");
    }
    auto policy = ParsePolicy(o->at("Policy").as_string());
    if (!policy) return bad(fmt::format("unknown Policy {}", std::string(o->at("Policy").as_string())));
    AccessKey k{std::string(o->at("AccessKeyId").as_string()), std::string(o->at("SecretAccessKey").as_string()),
                *policy, o->contains("Created") && o->at("Created").is_int64() ? o->at("Created").as_int64() : 0};
    s->keys_.emplace(k.id, std::move(k));
  }
  return s;
}

Status KeyStore::Save(const std::map<std::string, AccessKey, std::less<>>& keys) const {
  json::array list;
  for (const auto& [id, k] : keys) {
    list.push_back(json::object{{"AccessKeyId", k.id}, {"SecretAccessKey", k.secret},
                                {"Policy", PolicyName(k.policy)}, {"Created", k.created_ms}});
  }
  const std::string text = json::serialize(json::object{{"AccessKeys", std::move(list)}}) + "\n";
  // Written beside the file and renamed over it: a crash leaves the old list or the new one.
  const std::filesystem::path tmp = file_.string() + ".tmp";
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd.valid()) return ErrnoStatus(fmt::format("auth: create {}", tmp.string()), errno);
  if (::fchmod(fd.get(), 0600) != 0) return ErrnoStatus(fmt::format("auth: chmod {}", tmp.string()), errno);
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd.get(), text.data() + off, text.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(fmt::format("auth: write {}", tmp.string()), errno);
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return ErrnoStatus(fmt::format("auth: fsync {}", tmp.string()), errno);
  if (::rename(tmp.c_str(), file_.c_str()) != 0) {
    return ErrnoStatus(fmt::format("auth: rename to {}", file_.string()), errno);
  }
  UniqueFd dir(::open(file_.parent_path().empty() ? "." : file_.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.valid()) ::fsync(dir.get());
  return Status::Ok();
}

std::optional<http::AwsCredentials> KeyStore::Find(std::string_view access_key_id) const {
  std::shared_lock l(mu_);
  auto it = keys_.find(access_key_id);
  if (it == keys_.end()) return std::nullopt;
  return http::AwsCredentials{it->second.id, it->second.secret, ""};
}

std::optional<Policy> KeyStore::PolicyOf(std::string_view access_key_id) const {
  std::shared_lock l(mu_);
  auto it = keys_.find(access_key_id);
  if (it == keys_.end()) return std::nullopt;
  return it->second.policy;
}

std::vector<AccessKey> KeyStore::List() const {
  std::shared_lock l(mu_);
  std::vector<AccessKey> out;
  for (const auto& [id, k] : keys_) out.push_back(k);
  return out;
}

Result<AccessKey> KeyStore::Create(Policy policy, int64_t now_ms) {
  NIMBUS_ASSIGN_OR_RETURN(AccessKey k, GenerateAccessKey("AKIA", policy, now_ms));
  std::lock_guard w(write_mu_);  // writers one at a time; readers go on meanwhile
  std::map<std::string, AccessKey, std::less<>> next;
  {
    std::shared_lock l(mu_);
    next = keys_;
  }
  next.emplace(k.id, k);
  NIMBUS_RETURN_IF_ERROR(Save(next));
  std::unique_lock l(mu_);
  keys_ = std::move(next);
  return k;
}

Status KeyStore::Delete(std::string_view access_key_id) {
  std::lock_guard w(write_mu_);
  std::map<std::string, AccessKey, std::less<>> next;
  {
    std::shared_lock l(mu_);
    next = keys_;
  }
  auto it = next.find(access_key_id);
  if (it == next.end()) return NotFound(fmt::format("The access key {} does not exist", access_key_id));
  const bool last_admin =
      it->second.policy == Policy::kAdmin &&
      std::count_if(next.begin(), next.end(), [](const auto& kv) { return kv.second.policy == Policy::kAdmin; }) == 1;
  if (last_admin) {
    return Status(Code::kFailedPrecondition,
                  fmt::format("{} is the last admin key; create another before deleting it", access_key_id));
  }
  next.erase(it);
  NIMBUS_RETURN_IF_ERROR(Save(next));
  std::unique_lock l(mu_);
  keys_ = std::move(next);
  return Status::Ok();
}

}  // namespace nimbus::auth
