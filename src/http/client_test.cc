#include "http/client.h"

#include <gtest/gtest.h>

#include "http/testing/fake_http_server.h"

namespace nimbus::http {
namespace {

using testing::FakeHttpServer;

TEST(ParseEndpoint, AcceptsHostPortAndBasePath) {
  auto e = ParseEndpoint("http://127.0.0.1:8777/");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->url, "http://127.0.0.1:8777");
  EXPECT_EQ(e->host, "127.0.0.1");
  EXPECT_EQ(e->port, 8777);
  EXPECT_EQ(e->base_path, "");
  e = ParseEndpoint("http://[::1]:9/prefix");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->host, "::1");
  EXPECT_EQ(e->port, 9);
  EXPECT_EQ(e->base_path, "/prefix");
  EXPECT_EQ(ParseEndpoint("http://localhost")->port, 80);
}

TEST(ParseEndpoint, RejectsOtherSchemesAndBadPorts) {
  for (auto bad : {"https://x", "127.0.0.1:8777", "http://", "http://h:0", "http://h:99999",
                   "http://h:x"}) {
    EXPECT_EQ(ParseEndpoint(bad).error().code(), Code::kInvalidArgument) << bad;
  }
}

TEST(HttpClient, SendsTheRequestAndReturnsTheWholeResponse) {
  FakeHttpServer server({FakeHttpServer::Response(201, R"({"ok":true})", "X-Extra: 1\r\n")});
  HttpClient client(*ParseEndpoint(server.url()));
  Request req;
  req.method = "POST";
  req.target = "/2015-03-31/functions";
  req.headers.Set("Content-Type", "application/json");
  req.body = std::string(1 << 20, 'z');
  uint64_t last_progress = 0;
  SendOptions options;
  options.on_upload_progress = [&](uint64_t sent, uint64_t total) {
    EXPECT_EQ(total, 1u << 20);
    EXPECT_GE(sent, last_progress);
    last_progress = sent;
  };
  auto res = client.Send(req, options);
  ASSERT_TRUE(res.has_value()) << res.status().ToString();
  EXPECT_EQ(res->status, 201);
  EXPECT_EQ(res->body, R"({"ok":true})");
  EXPECT_EQ(res->headers.Get("x-extra"), "1");
  EXPECT_EQ(last_progress, 1u << 20);
  auto seen = server.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].rfind("POST /2015-03-31/functions HTTP/1.1\r\n", 0), 0u);
  EXPECT_NE(seen[0].find("Content-Type: application/json\r\n"), std::string::npos);
  EXPECT_EQ(seen[0].size() - seen[0].find("\r\n\r\n") - 4, 1u << 20);
}

TEST(HttpClient, NamesTheEndpointAndReasonWhenNothingListens) {
  const std::string url = "http://127.0.0.1:" + std::to_string(testing::UnusedPort());
  HttpClient client(*ParseEndpoint(url));
  Request req;
  req.method = "GET";
  req.target = "/";
  auto res = client.Send(req, {});
  ASSERT_FALSE(res.has_value());
  EXPECT_EQ(res.error(), Unavailable("cannot connect to " + url + ": Connection refused"));
}

TEST(HttpClient, TimesOutWhenTheServerNeverAnswers) {
  // Accepts (the backlog does) but never reads or answers.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::listen(fd, 1);
  const std::string url = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  HttpClient client(*ParseEndpoint(url));
  Request req;
  req.method = "GET";
  req.target = "/";
  SendOptions options;
  options.timeout = std::chrono::milliseconds(100);
  auto res = client.Send(req, options);
  ::close(fd);
  ASSERT_FALSE(res.has_value());
  EXPECT_EQ(res.error().code(), Code::kDeadlineExceeded);
  EXPECT_EQ(res.error().message(), url + ": timed out waiting for the response");
}

}  // namespace
}  // namespace nimbus::http
