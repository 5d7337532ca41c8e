#include "http/server.h"

#include "http/testing/raw_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <future>

#include <fmt/format.h>

namespace nimbus::http {
namespace {

using namespace std::chrono_literals;

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override { reactor_.Start(); }
  void TearDown() override {
    std::promise<void> done;
    reactor_.Post([&] {
      listener_.reset();
      done.set_value();
    });
    done.get_future().wait();
    reactor_.Stop();
  }
  uint16_t StartListener(Handler h, ListenerOptions o = {}) {
    std::promise<uint16_t> port;
    reactor_.Post([&] {
      auto l = Listen(reactor_, "127.0.0.1", 0, std::move(h), o);
      ASSERT_TRUE(l.has_value()) << l.error().ToString();
      listener_ = std::move(*l);
      port.set_value(listener_->port());
    });
    return port.get_future().get();
  }
  Reactor reactor_{"reactor-test"};
  std::unique_ptr<Listener> listener_;
};

TEST_F(ServerTest, AnswersSeveralRequestsOnOneKeepAliveConnection) {
  uint16_t port = StartListener([](Request&& r, Responder resp) {
    resp.Respond(Response::Text(200, r.method + " " + r.target + " " + r.body));
  });
  RawClient c(port);
  ASSERT_TRUE(c.connected());
  c.Send("POST /a?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc");
  std::string r1 = c.ReadResponse();
  EXPECT_NE(r1.find("HTTP/1.1 200 OK"), std::string::npos);
  EXPECT_NE(r1.find("POST /a?x=1 abc"), std::string::npos);
  c.Send("GET /b HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_NE(c.ReadResponse().find("GET /b "), std::string::npos);
}

TEST_F(ServerTest, AResponseIsTheStatusLineTheHandlersHeadersInOrderAndContentLength) {
  ListenerOptions o;
  o.server_name = "nimbus";
  uint16_t port = StartListener(
      [](Request&&, Responder resp) {
        Response r = Response::Json(201, "{}");
        r.headers.Add("X-B", "2");
        r.headers.Add("X-A", "1");
        resp.Respond(std::move(r));
      },
      o);
  RawClient c(port);
  c.Send("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(c.ReadResponse(),
            "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nX-B: 2\r\nX-A: 1\r\n"
            "Server: nimbus\r\nContent-Length: 2\r\n\r\n{}");
}

TEST_F(ServerTest, FramingHeadersAndLineBreaksFromAHandlerDoNotReachTheWire) {
  uint16_t port = StartListener([](Request&&, Responder resp) {
    Response r = Response::Text(200, "body");
    r.headers.Add("Content-Length", "1");
    r.headers.Add("Transfer-Encoding", "chunked");
    r.headers.Add("Connection", "close");
    r.headers.Add("X-Split", "a\r\nInjected: yes");
    resp.Respond(std::move(r));
  });
  RawClient c(port);
  c.Send("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(c.ReadResponse(),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "X-Split: aInjected: yes\r\nContent-Length: 4\r\n\r\nbody");
  // Still keep-alive: the handler's Connection header was not the server's answer.
  c.Send("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_NE(c.ReadResponse().find("body"), std::string::npos);
}

TEST_F(ServerTest, AReplyToHeadIsSentWithoutTheBodyAHandlerGaveIt) {
  uint16_t port = StartListener([](Request&& r, Responder resp) {
    resp.Respond(r.method == "HEAD" ? Response::Text(404, "missing") : Response::Text(200, r.target));
  });
  RawClient c(port);
  // Pipelined: a body after the HEAD reply would be read as the start of the next one.
  c.Send("HEAD /x HTTP/1.1\r\nHost: h\r\n\r\nGET /y HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  std::string got;
  for (std::string part; !(part = c.ReadResponse()).empty();) got += part;
  EXPECT_EQ(got,
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: 7\r\n\r\n"
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\n"
            "Connection: close\r\n\r\n/y");
}

TEST_F(ServerTest, ConnectionCloseIsAnsweredWithConnectionCloseAndTheServerCloses) {
  uint16_t port = StartListener(
      [](Request&&, Responder resp) { resp.Respond(Response::Text(200, "bye")); });
  RawClient c(port);
  c.Send("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  std::string got = c.ReadResponse();
  EXPECT_NE(got.find("\r\nConnection: close\r\n"), std::string::npos) << got;
  EXPECT_TRUE(c.PeerClosed());
}

TEST_F(ServerTest, AnHttp10KeepAliveRequestKeepsTheConnectionOpen) {
  uint16_t port = StartListener(
      [](Request&& r, Responder resp) { resp.Respond(Response::Text(200, r.target)); });
  RawClient c(port);
  c.Send("GET /one HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  std::string got = c.ReadResponse();
  EXPECT_EQ(got.rfind("HTTP/1.0 200 OK\r\n", 0), 0u) << got;
  EXPECT_NE(got.find("\r\nConnection: keep-alive\r\n"), std::string::npos) << got;
  c.Send("GET /two HTTP/1.0\r\n\r\n");
  EXPECT_NE(c.ReadResponse().find("/two"), std::string::npos);
  EXPECT_TRUE(c.PeerClosed());
}

TEST_F(ServerTest, ABodyLargerThanTheSocketBufferIsWrittenWhole) {
  const std::string big(8 << 20, 'x');
  uint16_t port = StartListener(
      [&](Request&&, Responder resp) { resp.Respond(Response::Text(200, big)); });
  RawClient c(port);
  c.Send("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  std::string got = c.ReadResponse();
  ASSERT_GE(got.size(), big.size());
  EXPECT_EQ(got.substr(got.size() - big.size()), big);
  c.Send("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(c.ReadResponse().size(), got.size());
}

// A file of `size` bytes whose byte i is 'a' + i % 26, unlinked at once.
UniqueFd PatternFile(size_t size) {
  char name[] = "/tmp/nimbus-http-test-XXXXXX";
  UniqueFd fd(::mkstemp(name));
  ::unlink(name);
  std::string data(size, '\0');
  for (size_t i = 0; i < size; ++i) data[i] = static_cast<char>('a' + i % 26);
  EXPECT_EQ(::write(fd.get(), data.data(), data.size()), static_cast<ssize_t>(size));
  return fd;
}

TEST_F(ServerTest, AFileBodyIsSentFromItsOffsetForItsLengthAndTheConnectionIsReused) {
  // 20 MiB: more than the socket buffer and more than one turn of the reactor.
  const size_t size = 20 << 20;
  uint16_t port = StartListener([&](Request&& r, Responder resp) {
    Response response;
    response.file = std::make_shared<FileBody>();
    response.file->fd = PatternFile(size);
    response.file->offset = r.target == "/tail" ? size - 30 : 3;
    response.file->length = r.target == "/tail" ? 30 : size - 3;
    resp.Respond(std::move(response));
  });
  RawClient c(port);
  c.Send("GET /all HTTP/1.1\r\nHost: h\r\n\r\n");
  std::string got = c.ReadResponse();
  EXPECT_NE(got.find(fmt::format("Content-Length: {}\r\n", size - 3)), std::string::npos);
  const std::string body = got.substr(got.find("\r\n\r\n") + 4);
  ASSERT_EQ(body.size(), size - 3);
  EXPECT_EQ(body.substr(0, 4), "defg");
  for (size_t i = 0; i < body.size(); i += 4099) {
    ASSERT_EQ(body[i], static_cast<char>('a' + (i + 3) % 26)) << "byte " << i;
  }
  c.Send("GET /tail HTTP/1.1\r\nHost: h\r\n\r\n");
  std::string tail = c.ReadResponse();
  std::string expected;
  for (size_t i = size - 30; i < size; ++i) expected.push_back(static_cast<char>('a' + i % 26));
  EXPECT_TRUE(tail.ends_with("Content-Length: 30\r\n\r\n" + expected)) << tail;
}

TEST_F(ServerTest, AFileShorterThanItsLengthEndsTheConnection) {
  uint16_t port = StartListener([&](Request&&, Responder resp) {
    Response response;
    response.file = std::make_shared<FileBody>();
    response.file->fd = PatternFile(100);
    response.file->length = 1000;
    resp.Respond(std::move(response));
  });
  RawClient c(port);
  c.Send("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  std::string got = c.ReadResponse();  // returns what came before the end
  EXPECT_NE(got.find("Content-Length: 1000\r\n"), std::string::npos);
  EXPECT_EQ(got.size() - (got.find("\r\n\r\n") + 4), 100u) << "the bytes it has, then the end";
  EXPECT_TRUE(c.PeerClosed());
}

TEST_F(ServerTest, TheHandlerGetsMethodTargetHeadersInOrderWithDuplicatesAndBody) {
  std::promise<Request> received;
  uint16_t port = StartListener([&](Request&& r, Responder resp) {
    received.set_value(std::move(r));
    resp.Respond(Response::Text(200, "ok"));
  });
  RawClient c(port);
  // Split inside the header and again inside the body.
  c.Send("PUT /p%20q?x=1 HTTP/1.1\r\nHost: h\r\nX-Dup: 1\r\nx-dup: 2\r\nCont");
  c.Send("ent-Length: 6\r\n\r\nabc");
  c.Send("def");
  EXPECT_NE(c.ReadResponse().find("ok"), std::string::npos);
  Request got = received.get_future().get();
  EXPECT_EQ(got.method, "PUT");
  EXPECT_EQ(got.target, "/p%20q?x=1");
  EXPECT_EQ(got.body, "abcdef");
  EXPECT_EQ(got.declared_body_size, 6u);
  EXPECT_EQ(got.remote_address, "127.0.0.1");
  EXPECT_EQ(got.headers.entries(),
            (std::vector<std::pair<std::string, std::string>>{
                {"Host", "h"}, {"X-Dup", "1"}, {"x-dup", "2"}, {"Content-Length", "6"}}));
}

TEST_F(ServerTest, PipelinedRequestsAreAnsweredInOrderAndNeverDispatchedInsideAHandler) {
  std::atomic<int> depth = 0, max_depth = 0;
  uint16_t port = StartListener([&](Request&& r, Responder resp) {
    max_depth = std::max(max_depth.load(), ++depth);
    // Answered at once: the response is written from inside this call.
    resp.Respond(Response::Text(200, r.target + r.body));
    --depth;
  });
  RawClient c(port);
  c.Send("POST /1 HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\naGET /2 HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_NE(c.ReadResponse().find("\r\n\r\n/1a"), std::string::npos);
  EXPECT_NE(c.ReadResponse().find("\r\n\r\n/2"), std::string::npos);
  EXPECT_EQ(max_depth.load(), 1);
}

TEST_F(ServerTest, AChunkedBodyIsReassembledAndOneBeyondTheLimitIsTooLarge) {
  ListenerOptions o;
  o.max_body_bytes = 8;
  uint16_t port = StartListener(
      [](Request&& r, Responder resp) {
        resp.Respond(Response::Text(200, r.body_too_large ? "too large" : "body " + r.body));
      },
      o);
  RawClient c(port);
  c.Send("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
         "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
  EXPECT_NE(c.ReadResponse().find("body abcde"), std::string::npos);
  c.Send("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
         "9\r\n123456789\r\n0\r\n\r\n");
  EXPECT_NE(c.ReadResponse().find("too large"), std::string::npos);
  EXPECT_TRUE(c.PeerClosed());
}

TEST_F(ServerTest, AMalformedRequestClosesTheConnectionWithoutReachingTheHandler) {
  std::atomic<bool> called = false;
  uint16_t port = StartListener([&](Request&&, Responder resp) {
    called = true;
    resp.Respond(Response::Text(200, "no"));
  });
  RawClient c(port);
  c.Send("GET / HTTP/1.1\r\nHost h\r\n\r\n");
  EXPECT_TRUE(c.PeerClosed());
  EXPECT_FALSE(called);
}

// Found with fuzz/http_request_fuzz: Beast 1.81 puts no bound on a chunk header
// (its extensions) or on trailers, so a client could make the server buffer
// without limit while the parser waited for their end.
TEST_F(ServerTest, AChunkHeaderOrTrailerThatNeverEndsClosesTheConnection) {
  std::atomic<bool> called = false;
  uint16_t port = StartListener([&](Request&&, Responder resp) {
    called = true;
    resp.Respond(Response::Text(200, "no"));
  });
  const std::string head = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  // One byte more than the server holds unparsed (kMaxRequestHeaderBytes), sent
  // whole so that the server has read it all when it gives up.
  for (const std::string start : {"1;ext=", "0\r\nX-Trailer: "}) {
    RawClient c(port);
    c.Send(head + start + std::string(64 * 1024 + 1 - start.size(), 'a'));
    EXPECT_TRUE(c.PeerClosed()) << start;
  }
  EXPECT_FALSE(called);
}

TEST_F(ServerTest, AResponderCanAnswerLaterFromAnotherThread) {
  std::promise<Responder> parked;
  uint16_t port = StartListener([&](Request&&, Responder resp) { parked.set_value(std::move(resp)); });
  RawClient c(port);
  c.Send("GET /next HTTP/1.1\r\nHost: h\r\n\r\n");
  auto f = parked.get_future();
  ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
  Responder r = f.get();
  std::thread t([&] { r.Respond(Response::Json(202, "{\"status\":\"OK\"}")); });
  t.join();
  std::string got = c.ReadResponse();
  EXPECT_NE(got.find("HTTP/1.1 202 Accepted"), std::string::npos);
  EXPECT_NE(got.find("{\"status\":\"OK\"}"), std::string::npos);
}

TEST_F(ServerTest, AnOversizedBodyReachesTheHandlerUnreadAndTheConnectionCloses) {
  ListenerOptions o;
  o.max_body_bytes = 10;
  uint16_t port = StartListener(
      [](Request&& r, Responder resp) {
        resp.Respond(Response::Text(413, r.body_too_large
                                             ? "too large " + std::to_string(r.declared_body_size)
                                             : "read " + r.body));
      },
      o);
  RawClient c(port);
  c.Send("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n01234567890");
  std::string got = c.ReadResponse();
  EXPECT_NE(got.find("too large 11"), std::string::npos) << got;
  EXPECT_TRUE(c.PeerClosed());
}

TEST_F(ServerTest, ExpectContinueGetsAnInterimResponse) {
  uint16_t port = StartListener(
      [](Request&& r, Responder resp) { resp.Respond(Response::Text(200, r.body)); });
  RawClient c(port);
  c.Send("PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n");
  std::string interim = c.ReadResponse();
  EXPECT_NE(interim.find("HTTP/1.1 100 Continue"), std::string::npos) << interim;
  c.Send("hi");
  EXPECT_NE(c.ReadResponse().find("\r\n\r\nhi"), std::string::npos);
}

TEST_F(ServerTest, DroppingAResponderClosesTheConnection) {
  uint16_t port = StartListener([](Request&&, Responder) {});
  RawClient c(port);
  c.Send("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_TRUE(c.PeerClosed());
}

TEST_F(ServerTest, DestroyingTheListenerClosesItsConnections) {
  std::promise<void> got_request;
  std::vector<Responder> parked;
  uint16_t port = StartListener([&](Request&&, Responder r) {
    parked.push_back(std::move(r));
    got_request.set_value();
  });
  RawClient c(port);
  c.Send("GET /next HTTP/1.1\r\nHost: h\r\n\r\n");
  got_request.get_future().wait();
  std::promise<void> done;
  reactor_.Post([&] {
    listener_.reset();
    parked.clear();
    done.set_value();
  });
  done.get_future().wait();
  EXPECT_TRUE(c.PeerClosed());
  RawClient again(port);
  EXPECT_FALSE(again.connected());
}

TEST_F(ServerTest, ServesAnAlreadyListeningSocket) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(fd, 16), 0);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  std::promise<void> ready;
  reactor_.Post([&] {
    auto l = Serve(reactor_, UniqueFd(fd),
                   [](Request&&, Responder r) { r.Respond(Response::Text(200, "served")); });
    ASSERT_TRUE(l.has_value());
    listener_ = std::move(*l);
    ready.set_value();
  });
  ready.get_future().wait();
  RawClient c(ntohs(a.sin_port));
  c.Send("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_NE(c.ReadResponse().find("served"), std::string::npos);
}

}  // namespace
}  // namespace nimbus::http
