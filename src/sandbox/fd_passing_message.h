// FdPassingMessage: the msghdr for sending or receiving up to kMaxFds file descriptors
// (SCM_RIGHTS) with a fixed-size payload over a Unix socket. Shared by both ends of the
// sandbox control socket: init sends the Runtime API listener (sandbox_init.cc) and
// LinuxSandbox receives it; LinuxSandbox sends a stem cell's code and layer mounts and init
// receives them; LinuxSandbox sends a zygote a new sandbox's five channel ends.
//
// Everything lives inline in the object, which the caller keeps on its stack: no allocation
// and no calls beyond memcpy, so init may build one after clone(), where only
// async-signal-safe calls are allowed. Thread-compatible. Neither copyable nor movable: the
// msghdr points into the object itself.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>

namespace nimbus::sandbox {

class FdPassingMessage {
 public:
  static constexpr int kMaxFds = 5;  // a zygote request carries five

  // `payload` is what is sent, or where what is received goes; it must outlive this object.
  FdPassingMessage(void* payload, std::size_t size) : iov_{payload, size} {
    msg_.msg_iov = &iov_;
    msg_.msg_iovlen = 1;
    msg_.msg_control = control_;
    msg_.msg_controllen = sizeof control_;
  }
  FdPassingMessage(const FdPassingMessage&) = delete;
  FdPassingMessage& operator=(const FdPassingMessage&) = delete;

  // Sending side: passes `fds[0..n)` (n <= kMaxFds, in order) with the payload. The receiver
  // gets its own references. n == 0 sends none.
  void AttachFds(const int* fds, int n) {
    if (n <= 0) {
      msg_.msg_control = nullptr;
      msg_.msg_controllen = 0;
      return;
    }
    if (n > kMaxFds) n = kMaxFds;
    msg_.msg_controllen = CMSG_SPACE(sizeof(int) * static_cast<std::size_t>(n));
    cmsghdr* c = CMSG_FIRSTHDR(&msg_);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * static_cast<std::size_t>(n));
    std::memcpy(CMSG_DATA(c), fds, sizeof(int) * static_cast<std::size_t>(n));
  }
  void AttachFd(int fd) { AttachFds(&fd, 1); }

  // Receiving side, after recvmsg(msg()): stores the descriptors that came with the payload,
  // in order, in out[0..max) and returns how many (descriptors beyond `max` are closed). The
  // caller owns them.
  int ReceivedFds(int* out, int max) {
    int count = 0;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg_); c != nullptr; c = CMSG_NXTHDR(&msg_, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      std::size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (std::size_t i = 0; i < n; ++i) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
        if (count < max) {
          out[count++] = fd;
        } else {
          ::close(fd);
        }
      }
    }
    return count;
  }
  // The one descriptor that came with the payload, or -1 when none did.
  int ReceivedFd() {
    int fd = -1;
    return ReceivedFds(&fd, 1) == 1 ? fd : -1;
  }

  // For sendmsg() and recvmsg().
  msghdr* msg() { return &msg_; }

 private:
  iovec iov_;
  // Room for kMaxFds descriptors, aligned as CMSG_FIRSTHDR expects.
  alignas(cmsghdr) char control_[CMSG_SPACE(sizeof(int) * kMaxFds)] = {};
  msghdr msg_ = {};
};

}  // namespace nimbus::sandbox
