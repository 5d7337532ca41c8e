// FakeSandboxFactory: sandboxes without isolation or processes, for invoke tests.
// The "Runtime API listener" is a loopback socket on a free port that the test
// connects to, playing the runtime; the test writes the runtime's output and
// decides when and how it exits. Thread-safe factory; sandboxes are confined to
// the test's reactor like real ones.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "base/errno_status.h"
#include "sandbox/sandbox.h"

namespace nimbus::invoke {

// What a test can do to a fake sandbox from its own thread.
struct FakeSandboxControl {
  sandbox::SandboxSpec spec;
  uint16_t port = 0;
  int output_write_fd = -1;
  int exit_write_fd = -1;
  std::atomic<bool> oom{false};
  std::atomic<bool> killed{false};
  std::atomic<bool> destroyed{false};
  std::atomic<bool> cpu_limited{false};
  std::atomic<uint64_t> max_memory_bytes{21u << 20};
  // Stem cells: set by Specialize() (read by the test after the environment started).
  std::atomic<bool> specialized{false};
  sandbox::Specialization specialization;

  void WriteOutput(const std::string& s) const {
    [[maybe_unused]] ssize_t n = ::write(output_write_fd, s.data(), s.size());
  }
  // Reports the runtime's exit with a raw wait status (W_EXITCODE / signal).
  void Exit(int wait_status) const {
    [[maybe_unused]] ssize_t n = ::write(exit_write_fd, &wait_status, sizeof wait_status);
  }
};

class FakeSandbox final : public sandbox::Sandbox {
 public:
  FakeSandbox(std::shared_ptr<FakeSandboxControl> control, UniqueFd listener, UniqueFd output,
              UniqueFd exit_read)
      : control_(std::move(control)),
        listener_(std::move(listener)),
        output_(std::move(output)),
        exit_read_(std::move(exit_read)) {}
  ~FakeSandbox() override {
    ::close(control_->output_write_fd);
    ::close(control_->exit_write_fd);
  }

  UniqueFd TakeRuntimeApiListener() override { return std::move(listener_); }
  UniqueFd TakeOutput() override { return std::move(output_); }
  int exit_fd() const override { return exit_read_.get(); }
  std::optional<sandbox::ExitInfo> ReadExit() override {
    int status = 0;
    ssize_t n = ::read(exit_read_.get(), &status, sizeof status);
    if (n != sizeof status) return std::nullopt;
    sandbox::ExitInfo e;
    if (WIFEXITED(status)) {
      e.exited = true;
      e.status = WEXITSTATUS(status);
    } else {
      e.signal = WTERMSIG(status);
    }
    return e;
  }
  sandbox::ResourceUsage ReadUsage() override {
    return {.max_memory_bytes = control_->max_memory_bytes.load(), .oom_killed = control_->oom.load()};
  }
  Status Specialize(const sandbox::Specialization& s) override {
    if (!control_->spec.stem_cell || control_->specialized) {
      return Internal("fake sandbox: not an unspecialized stem cell");
    }
    control_->specialization = s;
    control_->specialized = true;
    return Status::Ok();
  }
  Status ApplyCpuLimit() override {
    control_->cpu_limited = true;
    return Status::Ok();
  }
  void Kill() override {
    if (!control_->killed.exchange(true)) control_->Exit(SIGKILL);
  }
  Status Destroy() override {
    Kill();
    control_->destroyed = true;
    return Status::Ok();
  }
  pid_t init_pid() const override { return 0; }
  const std::string& id() const override { return control_->spec.id; }
  // A fake cell is loaded at once: an fd that is always readable.
  int ready_fd() const override { return control_->spec.stem_cell ? ready_.get() : -1; }

 private:
  std::shared_ptr<FakeSandboxControl> control_;
  UniqueFd listener_, output_, exit_read_;
  UniqueFd ready_{::eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK)};
};

class FakeSandboxFactory final : public sandbox::SandboxFactory {
 public:
  Result<std::unique_ptr<sandbox::Sandbox>> Launch(const sandbox::SandboxSpec& spec) override {
    if (fail_next_launch.exchange(false)) return Internal("clone: injected failure");
    auto control = std::make_shared<FakeSandboxControl>();
    control->spec = spec;
    int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(lfd, 8) != 0) {
      return ErrnoStatus("fake sandbox listen");
    }
    socklen_t len = sizeof a;
    ::getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len);
    control->port = ntohs(a.sin_port);
    int out[2], ex[2];
    if (::pipe2(out, O_CLOEXEC | O_NONBLOCK) != 0 || ::pipe2(ex, O_CLOEXEC | O_NONBLOCK) != 0) {
      return ErrnoStatus("fake sandbox pipe");
    }
    control->output_write_fd = out[1];
    control->exit_write_fd = ex[1];
    {
      std::lock_guard<std::mutex> l(mu_);
      launched_.push_back(control);
    }
    return std::unique_ptr<sandbox::Sandbox>(
        std::make_unique<FakeSandbox>(control, UniqueFd(lfd), UniqueFd(out[0]), UniqueFd(ex[0])));
  }
  const sandbox::Capabilities& capabilities() const override { return caps_; }
  // Before the factory is used.
  void set_stem_cells(bool on) { caps_.stem_cells = on; }

  std::vector<std::shared_ptr<FakeSandboxControl>> launched() {
    std::lock_guard<std::mutex> l(mu_);
    return launched_;
  }

  std::atomic<bool> fail_next_launch{false};

 private:
  sandbox::Capabilities caps_;
  std::mutex mu_;
  std::vector<std::shared_ptr<FakeSandboxControl>> launched_;
};

}  // namespace nimbus::invoke
