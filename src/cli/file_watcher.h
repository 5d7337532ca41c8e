// FileWatcher: waits for changes to a deployment's files with inotify, for
// `nimbus deploy --watch`: whole directory trees (a CodeUri, a ContentUri; new
// subdirectories are watched as they appear) and single files (the template, a
// .zip CodeUri; watched through their directory, since editors replace files by
// renaming). Editor scratch files (".x.swp", "x~", vim's "4913", ".#x") are
// ignored. Thread-compatible; owns its inotify descriptor.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/unique_fd.h"

namespace nimbus::cli {

class FileWatcher {
 public:
  // Watches every directory in `trees` with the directories below it, and every
  // path in `files`. Errors: from inotify_init1/inotify_add_watch (a missing path
  // is kNotFound; the per-user watch limit ENOSPC is kResourceExhausted).
  static Result<std::unique_ptr<FileWatcher>> Create(
      const std::vector<std::filesystem::path>& trees,
      const std::vector<std::filesystem::path>& files);

  struct Changes {
    bool stopped = false;            // `stop_fd` became readable
    std::vector<std::string> paths;  // what changed, sorted, without repeats
  };

  // Blocks until something changes, then until `quiet` passes without another
  // change (so a burst of writes is one change), and returns what changed; or
  // returns `stopped` as soon as `stop_fd` (a signalfd, say) is readable, changes
  // or not. Errors: poll/read failures.
  Result<Changes> Wait(std::chrono::milliseconds quiet, int stop_fd);

 private:
  struct Watch {
    std::filesystem::path dir;
    bool tree = false;            // every name (and subdirectories), or
    std::set<std::string> names;  // only these names
  };

  explicit FileWatcher(UniqueFd fd) : fd_(std::move(fd)) {}
  Status AddTree(const std::filesystem::path& dir);
  Status Add(const std::filesystem::path& dir, bool tree, const std::string& name);
  // Reads the pending events; adds what matters to `changed`.
  Status Drain(std::set<std::string>& changed);

  UniqueFd fd_;
  std::map<int, Watch> watches_;  // by watch descriptor
};

}  // namespace nimbus::cli
