// RawClient: a blocking HTTP/1.1 client over a plain socket, for tests that
// must see exactly the bytes on the wire. Test-only; thread-compatible.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

namespace nimbus::http {

// A blocking raw-socket client: tests see exactly the bytes on the wire.
class RawClient {
 public:
  explicit RawClient(uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{5, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~RawClient() { close(fd_); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;
  bool connected() const { return connected_; }
  void Send(const std::string& s) { ASSERT_EQ(write(fd_, s.data(), s.size()), (ssize_t)s.size()); }
  // Reads one response (headers + Content-Length body).
  std::string ReadResponse() {
    std::string got = std::move(pending_);
    pending_.clear();
    std::string buf(64 * 1024, '\0');
    size_t hdr_end = std::string::npos, cl = 0;
    for (;;) {
      if (hdr_end == std::string::npos) {
        hdr_end = got.find("\r\n\r\n");
        auto p = got.find("Content-Length: ");
        if (hdr_end != std::string::npos && p != std::string::npos && p < hdr_end) cl = std::stoul(got.substr(p + 16));
      }
      if (hdr_end != std::string::npos && got.size() >= hdr_end + 4 + cl) {
        std::string r = got.substr(0, hdr_end + 4 + cl);
        pending_ = got.substr(hdr_end + 4 + cl);
        return r;
      }
      ssize_t n = read(fd_, buf.data(), buf.size());
      if (n <= 0) return got;
      got.append(buf.data(), static_cast<size_t>(n));
    }
  }
  // True if the server closed the connection.
  bool PeerClosed() {
    char c;
    return read(fd_, &c, 1) == 0;
  }

 private:
  int fd_;
  bool connected_ = false;
  std::string pending_;
};

}  // namespace nimbus::http
