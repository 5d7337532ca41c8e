#include "console/console.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <set>

namespace nimbus::console {
namespace {

http::Request Get(std::string target, std::string accept = "") {
  http::Request r;
  r.method = "GET";
  r.target = std::move(target);
  if (!accept.empty()) r.headers.Set("Accept", std::move(accept));
  return r;
}

TEST(ConsoleTest, EmbedsTheAppAndChartJs) {
  std::set<std::string_view> names;
  for (const EmbeddedFile& f : EmbeddedFiles()) {
    names.insert(f.name);
    EXPECT_FALSE(f.data.empty()) << f.name;
  }
  EXPECT_TRUE(names.contains("index.html"));
  EXPECT_TRUE(names.contains("app.js"));
  EXPECT_TRUE(names.contains("vendor/chart.min.js"));
}

TEST(ConsoleTest, ServesIndexWithTypeAndSafetyHeaders) {
  Console console;
  http::Response r = console.Handle(Get("/console/"));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.headers.Get("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(r.body.find("<title>"), std::string::npos);
  EXPECT_EQ(r.headers.Get("X-Frame-Options"), "DENY");
  EXPECT_EQ(r.headers.Get("X-Content-Type-Options"), "nosniff");
  EXPECT_TRUE(r.headers.Get("Content-Security-Policy").has_value());
  EXPECT_EQ(console.Handle(Get("/console/app.js")).headers.Get("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(console.Handle(Get("/console/vendor/chart.min.js")).status, 200);
}

// The server verifies every API request (issue #8): the app signs in and sends
// its session cookie with the X-Nimbus-Console header, never a made-up
// Authorization, and its only scripts are files (the CSP allows no inline one).
TEST(ConsoleTest, TheAppSignsInWithASessionRatherThanAPlaceholderSignature) {
  std::string_view api, index;
  for (const EmbeddedFile& f : EmbeddedFiles()) {
    if (f.name == "api.js") api = f.data;
    if (f.name == "index.html") index = f.data;
  }
  EXPECT_NE(api.find("'/console/session'"), std::string_view::npos);
  EXPECT_NE(api.find("'X-Nimbus-Console': '1'"), std::string_view::npos);
  EXPECT_NE(api.find("credentials: 'same-origin'"), std::string_view::npos);
  EXPECT_NE(api.find("'X-Nimbus-Service': 's3'"), std::string_view::npos);
  EXPECT_EQ(api.find("Authorization"), std::string_view::npos);
  EXPECT_NE(index.find("id=\"sign-in\""), std::string_view::npos);
  EXPECT_EQ(index.find("<script>"), std::string_view::npos);
  const std::string csp(Console().Handle(Get("/console/")).headers.Get("Content-Security-Policy").value_or(""));
  EXPECT_EQ(csp.find("script-src"), std::string::npos) << "scripts fall under default-src 'self'";
  EXPECT_NE(csp.find("default-src 'self'"), std::string::npos);
}

TEST(ConsoleTest, RevalidatesByETag) {
  Console console;
  http::Response first = console.Handle(Get("/console/app.js"));
  ASSERT_EQ(first.status, 200);
  std::string etag(first.headers.Get("ETag").value_or(""));
  ASSERT_FALSE(etag.empty());
  http::Request again = Get("/console/app.js");
  again.headers.Set("If-None-Match", etag);
  http::Response second = console.Handle(again);
  EXPECT_EQ(second.status, 304);
  EXPECT_TRUE(second.body.empty());
  again.headers.Set("If-None-Match", "\"other\"");
  EXPECT_EQ(console.Handle(again).status, 200);
}

std::string Gunzip(const std::string& data) {
  z_stream z{};
  EXPECT_EQ(inflateInit2(&z, 15 + 16), Z_OK);
  std::string out(16 << 20, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(inflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  inflateEnd(&z);
  return out;
}

TEST(ConsoleTest, CompressesForBrowsersThatAcceptGzip) {
  Console console;
  http::Response plain = console.Handle(Get("/console/vendor/chart.min.js"));
  http::Request gz = Get("/console/vendor/chart.min.js");
  gz.headers.Set("Accept-Encoding", "gzip, deflate, br");
  http::Response packed = console.Handle(gz);
  ASSERT_EQ(packed.status, 200);
  EXPECT_EQ(packed.headers.Get("Content-Encoding"), "gzip");
  EXPECT_EQ(plain.headers.Get("Content-Encoding"), std::nullopt);
  EXPECT_EQ(packed.headers.Get("Vary"), "Accept-Encoding");
  EXPECT_LT(packed.body.size(), plain.body.size() / 2);
  EXPECT_EQ(Gunzip(packed.body), plain.body);
  EXPECT_NE(packed.headers.Get("ETag"), plain.headers.Get("ETag"));
  gz.headers.Set("If-None-Match", std::string(*packed.headers.Get("ETag")));
  EXPECT_EQ(console.Handle(gz).status, 304);
}

TEST(ConsoleTest, HeadHasLengthAndNoBody) {
  Console console;
  http::Request head = Get("/console/index.html");
  head.method = "HEAD";
  http::Response r = console.Handle(head);
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.body.empty());
  EXPECT_GT(r.head_content_length.value_or(0), 0u);
}

TEST(ConsoleTest, UnknownNamesAre404) {
  Console console;
  EXPECT_EQ(console.Handle(Get("/console/nope.js")).status, 404);
  EXPECT_EQ(console.Handle(Get("/console/../server.cc")).status, 404);
}

TEST(ConsoleTest, MatchesItsPathsAndABrowserAtTheRoot) {
  EXPECT_TRUE(Console::Matches(Get("/console")));
  EXPECT_TRUE(Console::Matches(Get("/console/app.js")));
  EXPECT_FALSE(Console::Matches(Get("/consoles")));
  EXPECT_TRUE(Console::Matches(Get("/", "text/html,application/xhtml+xml")));
  // S3 ListBuckets and the like are signed; curl sends no text/html.
  http::Request signed_root = Get("/", "text/html");
  signed_root.headers.Set("Authorization", "AWS4-HMAC-SHA256 Credential=a/20260101/us-east-1/s3/aws4_request");
  EXPECT_FALSE(Console::Matches(signed_root));
  EXPECT_FALSE(Console::Matches(Get("/", "*/*")));
  http::Request post = Get("/console/");
  post.method = "POST";
  EXPECT_FALSE(Console::Matches(post));

  Console console;
  for (const char* target : {"/", "/console"}) {
    http::Response r = console.Handle(Get(target, "text/html"));
    EXPECT_EQ(r.status, 302) << target;
    EXPECT_EQ(r.headers.Get("Location"), "/console/") << target;
  }
}

TEST(ConsoleTest, ServesFromADirectoryWithoutLeavingIt) {
  std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) / "console_web";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "index.html") << "<title>dev</title>";
  std::ofstream(dir.parent_path() / "secret.txt") << "secret";
  Console console(ConsoleOptions{dir});
  ASSERT_TRUE(console.serves_from_disk());
  EXPECT_EQ(console.Handle(Get("/console/")).body, "<title>dev</title>");
  EXPECT_EQ(console.Handle(Get("/console/..%2Fsecret.txt")).status, 404);
  EXPECT_EQ(console.Handle(Get("/console/../secret.txt")).status, 404);
  EXPECT_EQ(console.Handle(Get("/console/.hidden")).status, 404);
  // Chart.js is always the embedded copy.
  EXPECT_EQ(console.Handle(Get("/console/vendor/chart.min.js")).status, 200);
}

}  // namespace
}  // namespace nimbus::console
