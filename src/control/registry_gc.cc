// Registry's code collection: which code hexes are live, pins for mutations in
// progress, and the removal of unreferenced blobs and code directories (see
// "Code collection" in registry.h). Same class and locking rules as
// registry.cc: every decision is made under mu_, every file operation outside
// it.
#include <fmt/format.h>

#include <system_error>
#include <utility>

#include "base/encoding.h"
#include "base/log.h"
#include "control/registry.h"

namespace nimbus::control {
namespace {

// The names of <code>'s entries that are code directories (hex names; not the
// ".tmp-*" trees of unpacks and removals in progress). Blocking.
std::vector<std::string> ListCodeDirs(const std::filesystem::path& code) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(code, ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (storage::IsSha256Hex(name)) out.push_back(std::move(name));
  }
  if (ec) log::Warn("registry: code collection: list {}: {}", code.string(), ec.message());
  return out;
}

}  // namespace

Registry::CodePin::CodePin(Registry& r, std::string hex) : r_(&r), hex_(std::move(hex)) {
  r_->PinCode(hex_);
}

Registry::CodePin::CodePin(CodePin&& other) noexcept
    : r_(std::exchange(other.r_, nullptr)), hex_(std::move(other.hex_)) {}

Registry::CodePin& Registry::CodePin::operator=(CodePin&& other) noexcept {
  if (this != &other) {
    Release();
    r_ = std::exchange(other.r_, nullptr);
    hex_ = std::move(other.hex_);
  }
  return *this;
}

Registry::CodePin::~CodePin() { Release(); }

void Registry::CodePin::Release() {
  if (r_ != nullptr) r_->UnpinCode(hex_);
  r_ = nullptr;
}

// The wait needs the std::mutex itself, which the analysis cannot follow.
void Registry::PinCode(const std::string& hex) NIMBUS_NO_THREAD_SAFETY_ANALYSIS {
  std::unique_lock<std::mutex> lock(mu_.native());
  // A collection that claimed `hex` is unlinking its blob or renaming its
  // directory away; the caller then finds neither and writes both afresh.
  while (removing_code_.count(hex) > 0) code_removed_.wait(lock);
  ++pinned_code_[hex];
  unreferenced_since_.erase(hex);
}

void Registry::UnpinCode(const std::string& hex) {
  MutexLock l(mu_);
  auto it = pinned_code_.find(hex);
  NIMBUS_CHECK(it != pinned_code_.end()) << "code " << hex << " unpinned more often than pinned";
  if (--it->second == 0) pinned_code_.erase(it);
}

std::set<std::string> Registry::LiveCodeLocked() const {
  std::set<std::string> live;
  auto add = [&live](const FunctionSnapshot& v) {
    live.insert(v->code_hex);
    // A function keeps its layers' content even after DeleteLayerVersion.
    for (const FunctionLayer& layer : v->config.layers) live.insert(layer.code_hex);
  };
  for (const auto& [name, e] : functions_) {
    add(e.latest);
    for (const auto& [n, v] : e.versions) add(v);
  }
  for (const auto& [name, layer] : layers_) {
    for (const auto& [n, v] : layer.versions) live.insert(v.code_hex);
  }
  for (const auto& [hex, count] : pinned_code_) live.insert(hex);
  return live;
}

CodeCollection Registry::CollectGarbage() { return Collect(/*at_open=*/false); }

void Registry::SetCodeStoredHookForTest(std::function<void()> hook) {
  MutexLock l(mu_);
  code_stored_hook_ = std::move(hook);
}

CodeCollection Registry::Collect(bool at_open) {
  CodeCollection out;
  const std::filesystem::path code = data_dir_ / "code";
  // 1. What is on disk. Anything stored after these listings is not looked at;
  //    anything listed is checked against the live set under mu_ below.
  std::vector<std::string> blobs;
  if (auto listed = blobs_->List(); listed.has_value()) {
    blobs = std::move(listed).value();
  } else {
    log::Warn("registry: code collection: {}", listed.error().ToString());
  }
  std::vector<std::string> dirs = ListCodeDirs(code);

  // 2. Claim what goes, under mu_. A claimed hex is in removing_code_ until
  //    step 4, so no mutation can pin it meanwhile.
  std::vector<std::string> doomed_blobs;
  std::vector<std::string> doomed_dirs;
  std::set<std::string> claimed;
  {
    MutexLock l(mu_);
    const std::set<std::string> live = LiveCodeLocked();
    // Hexes in removing_code_ but not `claimed` belong to a concurrent collection.
    for (const std::string& hex : blobs) {
      if (live.count(hex) > 0 || removing_code_.count(hex) > 0) continue;
      removing_code_.insert(hex);
      claimed.insert(hex);
      doomed_blobs.push_back(hex);
    }
    const auto now = clock_.MonotonicNow();
    // Rebuilt from this listing: directories gone or live since drop out.
    std::map<std::string, std::chrono::steady_clock::time_point> still_waiting;
    for (const std::string& hex : dirs) {
      if (live.count(hex) > 0) continue;
      auto seen = unreferenced_since_.find(hex);
      const auto since = seen != unreferenced_since_.end() ? seen->second : now;
      if (at_open || now - since >= code_dir_grace_) {
        if (claimed.count(hex) == 0) {
          if (removing_code_.count(hex) > 0) continue;
          removing_code_.insert(hex);
          claimed.insert(hex);
        }
        doomed_dirs.push_back(hex);
      } else {
        still_waiting[hex] = since;
        ++out.code_dirs_waiting;
      }
    }
    unreferenced_since_ = std::move(still_waiting);
  }

  // 3. Remove, without the lock. A directory is renamed out of its hex name
  //    first: after a crash during the recursive removal, the partial tree is a
  //    ".tmp-*" that Open deletes, never a code directory taken as complete.
  for (const std::string& hex : doomed_blobs) {
    Status s = blobs_->Remove(hex);
    if (s.ok()) {
      ++out.blobs_removed;
    } else {
      log::Warn("registry: code collection: {}", s.ToString());
    }
  }
  std::vector<std::filesystem::path> trash;
  for (const std::string& hex : doomed_dirs) {
    std::filesystem::path to = code / (".tmp-gc-" + RandomHex32());
    std::error_code ec;
    std::filesystem::rename(CodeDir(hex), to, ec);
    if (!ec) {
      trash.push_back(std::move(to));
      ++out.code_dirs_removed;
    } else if (ec != std::errc::no_such_file_or_directory) {
      log::Warn("registry: code collection: rename {}: {}", CodeDir(hex).string(), ec.message());
    }
  }

  // 4. Release the claims: pins waiting for them proceed (and find nothing).
  {
    MutexLock l(mu_);
    for (const std::string& hex : claimed) removing_code_.erase(hex);
  }
  code_removed_.notify_all();

  // 5. The renamed trees no longer carry a hex name: nothing waits on them.
  for (const std::filesystem::path& dir : trash) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    if (ec) log::Warn("registry: code collection: remove {}: {}", dir.string(), ec.message());
  }
  if (out.blobs_removed > 0 || out.code_dirs_removed > 0) {
    log::Info("registry: code collection removed {} blobs and {} code directories ({} waiting)",
              out.blobs_removed, out.code_dirs_removed, out.code_dirs_waiting);
  }
  return out;
}

}  // namespace nimbus::control
