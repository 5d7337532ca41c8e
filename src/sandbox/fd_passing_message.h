// FdPassingMessage: the msghdr for sending or receiving one file descriptor (SCM_RIGHTS) with
// a fixed-size payload over a Unix socket. Shared by both ends of the sandbox control socket:
// init sends the Runtime API listener (sandbox_init.cc), LinuxSandbox receives it.
//
// Everything lives inline in the object, which the caller keeps on its stack: no allocation
// and no calls beyond memcpy, so init may build one after clone(), where only
// async-signal-safe calls are allowed. Thread-compatible. Neither copyable nor movable: the
// msghdr points into the object itself.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstring>

namespace nimbus::sandbox {

class FdPassingMessage {
 public:
  // `payload` is what is sent, or where what is received goes; it must outlive this object.
  FdPassingMessage(void* payload, std::size_t size) : iov_{payload, size} {
    msg_.msg_iov = &iov_;
    msg_.msg_iovlen = 1;
    msg_.msg_control = control_;
    msg_.msg_controllen = sizeof control_;
  }
  FdPassingMessage(const FdPassingMessage&) = delete;
  FdPassingMessage& operator=(const FdPassingMessage&) = delete;

  // Sending side: passes `fd` with the payload. The receiver gets its own reference.
  void AttachFd(int fd) {
    cmsghdr* c = CMSG_FIRSTHDR(&msg_);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  }

  // Receiving side, after recvmsg(msg()): the descriptor that came with the payload (the
  // last one, should there be several), or -1 when none did. The caller owns it.
  int ReceivedFd() {
    int fd = -1;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg_); c != nullptr; c = CMSG_NXTHDR(&msg_, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
        std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
      }
    }
    return fd;
  }

  // For sendmsg() and recvmsg().
  msghdr* msg() { return &msg_; }

 private:
  iovec iov_;
  // Room for one descriptor, aligned as CMSG_FIRSTHDR expects.
  alignas(cmsghdr) char control_[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg_ = {};
};

}  // namespace nimbus::sandbox
