#include "cli/file_watcher.h"

#include <fmt/format.h>
#include <poll.h>
#include <sys/inotify.h>

#include <cerrno>

#include "base/errno_status.h"

namespace nimbus::cli {
namespace {

namespace fs = std::filesystem;

constexpr uint32_t kMask = IN_CLOSE_WRITE | IN_MODIFY | IN_ATTRIB | IN_CREATE | IN_DELETE |
                           IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_ONLYDIR;

// Scratch files editors write next to the file being edited.
bool IsScratch(std::string_view name) {
  return name.ends_with("~") || name == "4913" || name.starts_with(".#") ||
         (name.starts_with(".") && (name.ends_with(".swp") || name.ends_with(".swx")));
}

}  // namespace

Result<std::unique_ptr<FileWatcher>> FileWatcher::Create(const std::vector<fs::path>& trees,
                                                         const std::vector<fs::path>& files) {
  UniqueFd fd(inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!fd) return ErrnoStatus("inotify_init1");
  std::unique_ptr<FileWatcher> w(new FileWatcher(std::move(fd)));
  for (const auto& t : trees) NIMBUS_RETURN_IF_ERROR(w->AddTree(t));
  for (const auto& f : files) {
    fs::path dir = f.parent_path().empty() ? fs::path(".") : f.parent_path();
    NIMBUS_RETURN_IF_ERROR(w->Add(dir, false, f.filename().string()));
  }
  return w;
}

Status FileWatcher::Add(const fs::path& dir, bool tree, const std::string& name) {
  int wd = inotify_add_watch(fd_.get(), dir.c_str(), kMask);
  if (wd < 0) return ErrnoStatus("watch " + dir.string());
  Watch& w = watches_[wd];
  w.dir = dir;
  w.tree = w.tree || tree;
  if (!name.empty()) w.names.insert(name);
  return Status::Ok();
}

Status FileWatcher::AddTree(const fs::path& dir) {
  NIMBUS_RETURN_IF_ERROR(Add(dir, true, ""));
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec), end;
       !ec && it != end; it.increment(ec)) {
    if (it->is_directory(ec) && !it->is_symlink(ec))
      NIMBUS_RETURN_IF_ERROR(Add(it->path(), true, ""));
  }
  if (ec) return Status(Code::kInternal, fmt::format("watch {}: {}", dir.string(), ec.message()));
  return Status::Ok();
}

Status FileWatcher::Drain(std::set<std::string>& changed) {
  alignas(struct inotify_event) char buf[64 * 1024];
  for (;;) {
    ssize_t n = ::read(fd_.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return Status::Ok();
    if (n < 0) return ErrnoStatus("read inotify events");
    for (char* p = buf; p < buf + n;) {
      auto* ev = reinterpret_cast<struct inotify_event*>(p);
      p += sizeof(struct inotify_event) + ev->len;
      if (ev->mask & IN_Q_OVERFLOW) {
        changed.insert("(too many changes to list)");
        continue;
      }
      auto w = watches_.find(ev->wd);
      if (w == watches_.end()) continue;
      if (ev->mask & IN_IGNORED) {
        watches_.erase(w);
        continue;
      }
      const std::string name = ev->len > 0 ? std::string(ev->name) : "";
      if (!name.empty() && IsScratch(name)) continue;
      if (!w->second.tree && !w->second.names.contains(name)) continue;
      const fs::path path = name.empty() ? w->second.dir : w->second.dir / name;
      // A directory that appears inside a tree is part of it.
      if (w->second.tree && (ev->mask & IN_ISDIR) && (ev->mask & (IN_CREATE | IN_MOVED_TO))) {
        NIMBUS_RETURN_IF_ERROR(AddTree(path));
      }
      changed.insert(path.string());
    }
  }
}

Result<FileWatcher::Changes> FileWatcher::Wait(std::chrono::milliseconds quiet, int stop_fd) {
  std::set<std::string> changed;
  for (;;) {
    struct pollfd fds[2] = {{fd_.get(), POLLIN, 0}, {stop_fd, POLLIN, 0}};
    // Until the first change, wait as long as it takes; then until `quiet` passes.
    int timeout = changed.empty() ? -1 : static_cast<int>(quiet.count());
    int n = ::poll(fds, 2, timeout);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("poll");
    if (fds[1].revents != 0) return Changes{true, {changed.begin(), changed.end()}};
    if (n == 0) return Changes{false, {changed.begin(), changed.end()}};
    NIMBUS_RETURN_IF_ERROR(Drain(changed));
  }
}

}  // namespace nimbus::cli
