#include "http/sigv4.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "base/encoding.h"

namespace nimbus::http {
namespace {

using std::chrono::seconds;
using Time = std::chrono::system_clock::time_point;

Time At(int y, unsigned mo, unsigned d, int h = 0, int mi = 0, int s = 0) {
  return std::chrono::sys_days(std::chrono::year{y} / std::chrono::month{mo} /
                               std::chrono::day{d}) +
         std::chrono::hours(h) + std::chrono::minutes(mi) + std::chrono::seconds(s);
}

class KeyStore final : public CredentialLookup {
 public:
  KeyStore& Add(AwsCredentials c) {
    keys_[c.access_key_id] = std::move(c);
    return *this;
  }
  std::optional<AwsCredentials> Find(std::string_view access_key_id) const override {
    auto it = keys_.find(std::string(access_key_id));
    if (it == keys_.end()) return std::nullopt;
    return it->second;
  }

 private:
  std::map<std::string, AwsCredentials> keys_;
};

std::string Sha256Hex(std::string_view data) { return HexEncode(Sha256(data)); }

std::string SignatureOf(std::string_view authorization) {
  const size_t at = authorization.find("Signature=");
  return at == std::string_view::npos ? "" : std::string(authorization.substr(at + 10));
}

// The AWS Signature Version 4 test suite (aws-sig-v4-test-suite) and the examples
// of the AWS General Reference: credentials, region, service and time.
constexpr std::string_view kSuiteKey = "AKIDEXAMPLE";
constexpr std::string_view kSuiteSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const Time kSuiteTime = At(2015, 8, 30, 12, 36, 0);
constexpr std::string_view kEmptyHash =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
// clang-format off
constexpr std::string_view kSuiteStsToken =
    "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfp"
    "SPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQ"
    "DYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+s"
    "cqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";
// clang-format on

// The Amazon S3 API Reference's SigV4 examples.
constexpr std::string_view kS3Key = "AKIAIOSFODNN7EXAMPLE";
constexpr std::string_view kS3Secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const Time kS3Time = At(2013, 5, 24);

struct SuiteCase {
  std::string name;
  std::string method;
  std::string target;  // as on the wire (the suite's raw UTF-8 and spaces included)
  std::vector<std::pair<std::string, std::string>> headers;  // besides Host and X-Amz-Date
  std::string body;
  std::string session_token;
  std::string canonical_request;  // empty where the case pins only the signature
  std::string signed_headers;
  std::string signature;
};

std::string SuiteCreq(std::string_view method, std::string_view uri, std::string_view query,
                      std::string_view extra_headers = "",
                      std::string_view signed_headers = "host;x-amz-date",
                      std::string_view payload = kEmptyHash) {
  return fmt::format(
      "{}\n{}\n{}\nhost:example.amazonaws.com\n{}x-amz-date:20150830T123600Z\n\n{}\n{}", method,
      uri, query, extra_headers, signed_headers, payload);
}

// The suite's cases: the request as on the wire, the canonical request where it
// is pinned, and the signed headers and signature of the expected Authorization.
std::vector<SuiteCase> SuiteCases() {
  const std::string hd = "host;x-amz-date";
  const std::string h1 = "host;my-header1;x-amz-date";
  const std::string vanilla = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
  const std::string unreserved =
      "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  const std::string token = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267";
  const std::string form = "application/x-www-form-urlencoded";
  // clang-format off
  return {
      {"get-vanilla", "GET", "/", {}, "", "", SuiteCreq("GET", "/", ""), hd, vanilla},
      {"get-vanilla-empty-query-key", "GET", "/?Param1=value1", {}, "", "",
       SuiteCreq("GET", "/", "Param1=value1"), hd,
       "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb"},
      {"get-vanilla-query-order-key-case", "GET", "/?Param2=value2&Param1=value1", {}, "", "",
       SuiteCreq("GET", "/", "Param1=value1&Param2=value2"), hd,
       "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
      {"get-vanilla-query-order-key", "GET", "/?Param1=value2&Param1=Value1", {}, "", "",
       SuiteCreq("GET", "/", "Param1=Value1&Param1=value2"), hd,
       "eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1"},
      {"get-vanilla-query-order-value", "GET", "/?Param1=value2&Param1=value1", {}, "", "",
       SuiteCreq("GET", "/", "Param1=value1&Param1=value2"), hd,
       "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694"},
      {"get-vanilla-query-order-encoded", "GET", "/?Param-3=Value3&Param=Value2&%E1%88%B4=Value1",
       {}, "", "", SuiteCreq("GET", "/", "%E1%88%B4=Value1&Param=Value2&Param-3=Value3"), hd,
       "371d3713e185cc334048618a97f809c9ffe339c62934c032af5a0e595648fcac"},
      {"get-vanilla-query-unreserved", "GET", "/?" + unreserved + "=" + unreserved, {}, "", "",
       SuiteCreq("GET", "/", unreserved + "=" + unreserved), hd,
       "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"},
      {"get-vanilla-utf8-query", "GET", "/?\xE1\x88\xB4=bar", {}, "", "",
       SuiteCreq("GET", "/", "%E1%88%B4=bar"), hd,
       "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"},
      {"get-vanilla-with-session-token", "GET", "/", {}, "", token,
       "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n"
       "x-amz-security-token:" + token + "\n\nhost;x-amz-date;x-amz-security-token\n" +
           std::string(kEmptyHash),
       "host;x-amz-date;x-amz-security-token",
       "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8"},
      {"get-unreserved", "GET", "/" + unreserved, {}, "", "",
       SuiteCreq("GET", "/" + unreserved, ""), hd,
       "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"},
      {"get-utf8", "GET", "/\xE1\x88\xB4", {}, "", "", SuiteCreq("GET", "/%E1%88%B4", ""), hd,
       "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"},
      {"get-header-key-duplicate", "GET", "/",
       {{"My-Header1", "value2"}, {"My-Header1", "value2"}, {"My-Header1", "value1"}}, "", "",
       SuiteCreq("GET", "/", "", "my-header1:value2,value2,value1\n", h1), h1,
       "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"},
      {"get-header-value-multiline", "GET", "/", {{"My-Header1", "value1\n  value2\n     value3"}},
       "", "", SuiteCreq("GET", "/", "", "my-header1:value1 value2 value3\n", h1), h1,
       "cfd34249e4b1c8d6b91ef74165d41a32e5fab3306300901bb65a51a73575eefd"},
      {"get-header-value-order", "GET", "/",
       {{"My-Header1", "value4"}, {"My-Header1", "value1"}, {"My-Header1", "value3"},
        {"My-Header1", "value2"}}, "", "",
       SuiteCreq("GET", "/", "", "my-header1:value4,value1,value3,value2\n", h1), h1,
       "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01"},
      {"get-header-value-trim", "GET", "/",
       {{"My-Header1", " value1"}, {"My-Header2", " \"a   b   c\""}}, "", "",
       SuiteCreq("GET", "/", "", "my-header1:value1\nmy-header2:\"a b c\"\n",
                 "host;my-header1;my-header2;x-amz-date"),
       "host;my-header1;my-header2;x-amz-date",
       "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"},
      {"post-vanilla", "POST", "/", {}, "", "", SuiteCreq("POST", "/", ""), hd,
       "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
      {"post-vanilla-query", "POST", "/?Param1=value1", {}, "", "",
       SuiteCreq("POST", "/", "Param1=value1"), hd,
       "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"},
      {"post-vanilla-query-space", "POST", "/?p", {}, "", "", SuiteCreq("POST", "/", "p="), hd,
       "e71688addb58a26418614085fb730ba3faa623b461c17f48f2fbdb9361b94a9b"},
      {"post-vanilla-query-nonunreserved", "POST",
       "/?%40%23%24%25%5E&%2B=%2F%2C%3F%3E%3C%60%22%3B%3A%5C%7C%5D%5B%7B%7D", {}, "", "",
       SuiteCreq("POST", "/", "%2B=%2F%2C%3F%3E%3C%60%22%3B%3A%5C%7C%5D%5B%7B%7D&%40%23%24%25%5E="),
       hd, "66c82657c86e26fb25238d0e69f011edc4c6df5ae71119d7cb98ed9b87393c1e"},
      {"post-header-key-sort", "POST", "/", {{"My-Header1", "value1"}}, "", "",
       SuiteCreq("POST", "/", "", "my-header1:value1\n", h1), h1,
       "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c"},
      {"post-header-value-case", "POST", "/", {{"My-Header1", "VALUE1"}}, "", "",
       SuiteCreq("POST", "/", "", "my-header1:VALUE1\n", h1), h1,
       "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"},
      {"post-x-www-form-urlencoded", "POST", "/", {{"Content-Type", form}}, "Param1=value1", "",
       "POST\n/\n\ncontent-type:" + form + "\nhost:example.amazonaws.com\n"
       "x-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\n"
       "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
       "content-type;host;x-amz-date",
       "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"},
      {"post-x-www-form-urlencoded-parameters", "POST", "/",
       {{"Content-Type", form + "; charset=utf8"}}, "Param1=value1", "", "",
       "content-type;host;x-amz-date",
       "1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe"},
      {"post-sts-header-before", "POST", "/", {}, "", std::string(kSuiteStsToken), "",
       "host;x-amz-date;x-amz-security-token",
       "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead"},
      // normalize-path/
      {"get-relative", "GET", "/example/..", {}, "", "", SuiteCreq("GET", "/", ""), hd, vanilla},
      {"get-relative-relative", "GET", "/example1/example2/../..", {}, "", "",
       SuiteCreq("GET", "/", ""), hd, vanilla},
      {"get-slash", "GET", "//", {}, "", "", SuiteCreq("GET", "/", ""), hd, vanilla},
      {"get-slash-dot-slash", "GET", "/./", {}, "", "", SuiteCreq("GET", "/", ""), hd, vanilla},
      {"get-slash-pointless-dot", "GET", "/./example", {}, "", "",
       SuiteCreq("GET", "/example", ""), hd,
       "ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5"},
      {"get-slashes", "GET", "//example//", {}, "", "", SuiteCreq("GET", "/example/", ""), hd,
       "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84"},
      {"get-space", "GET", "/example space/", {}, "", "",
       SuiteCreq("GET", "/example%20space/", ""), hd,
       "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"},
      {"get-special-character", "GET", "/example/$delete", {}, "", "",
       SuiteCreq("GET", "/example/%24delete", ""), hd,
       "a853c9b21b528b19643d00910d35b83a10c366a10833ceefb45edd6c80e40f27"},
  };
  // clang-format on
}

Request SuiteRequest(const SuiteCase& c) {
  Request r;
  r.method = c.method;
  r.target = c.target;
  r.headers.Add("Host", "example.amazonaws.com");
  for (const auto& [k, v] : c.headers) r.headers.Add(k, v);
  r.headers.Add("X-Amz-Date", "20150830T123600Z");
  r.body = c.body;
  return r;
}

SigningParams SuiteParams(std::string session_token = "") {
  SigningParams p;
  p.credentials = {std::string(kSuiteKey), std::string(kSuiteSecret), std::move(session_token)};
  p.region = "us-east-1";
  p.service = "service";
  p.time = kSuiteTime;
  return p;
}

TEST(SigV4Suite, SignsEveryPublishedCaseAsTheSuiteDoes) {
  for (const SuiteCase& c : SuiteCases()) {
    SCOPED_TRACE(c.name);
    Request r = SuiteRequest(c);
    ASSERT_TRUE(SignRequest(r, SuiteParams(c.session_token)).ok());
    EXPECT_EQ(r.headers.Get("Authorization").value_or(""),
              "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
              "SignedHeaders=" +
                  c.signed_headers + ", Signature=" + c.signature);
    if (!c.canonical_request.empty()) {
      EXPECT_EQ(SigV4CanonicalRequest(r, "service", c.signed_headers, Sha256Hex(c.body)),
                c.canonical_request);
    }
  }
}

TEST(SigV4Suite, VerifiesEveryPublishedCaseItSigned) {
  for (const SuiteCase& c : SuiteCases()) {
    SCOPED_TRACE(c.name);
    Request r = SuiteRequest(c);
    ASSERT_TRUE(SignRequest(r, SuiteParams(c.session_token)).ok());
    KeyStore keys;
    keys.Add({std::string(kSuiteKey), std::string(kSuiteSecret), c.session_token});
    auto verified = VerifySignature(r, keys, kSuiteTime);
    ASSERT_TRUE(verified) << verified.error().message;
    EXPECT_EQ(verified->access_key_id, "AKIDEXAMPLE");
    EXPECT_EQ(verified->signature, c.signature);
  }
}

TEST(SigV4Suite, DerivesTheSigningKeysOfTheGeneralReference) {
  EXPECT_EQ(HexEncode(SigV4SigningKey(kSuiteSecret, "20150830", "us-east-1", "iam")),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9");
  EXPECT_EQ(HexEncode(SigV4SigningKey(kSuiteSecret, "20120215", "us-east-1", "iam")),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
}

TEST(SigV4Suite, SignsTheIamListUsersExampleOfTheGeneralReference) {
  Request r;
  r.method = "GET";
  r.target = "/?Action=ListUsers&Version=2010-05-08";
  r.headers.Add("Host", "iam.amazonaws.com");
  r.headers.Add("Content-Type", "application/x-www-form-urlencoded; charset=utf-8");
  SigningParams p = SuiteParams();
  p.service = "iam";
  ASSERT_TRUE(SignRequest(r, p).ok());
  EXPECT_EQ(r.headers.Get("X-Amz-Date").value_or(""), "20150830T123600Z");
  EXPECT_EQ(r.headers.Get("Authorization").value_or(""),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "
            "SignedHeaders=content-type;host;x-amz-date, "
            "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7");
}

// ---------------------------------------------------------------------------
// The S3 API Reference's examples.

SigningParams S3Params() {
  SigningParams p;
  p.credentials = {std::string(kS3Key), std::string(kS3Secret), ""};
  p.region = "us-east-1";
  p.service = "s3";
  p.time = kS3Time;
  return p;
}

KeyStore S3Keys() {
  KeyStore keys;
  keys.Add({std::string(kS3Key), std::string(kS3Secret), ""});
  return keys;
}

TEST(SigV4S3Examples, SignsTheGetObjectWithARangeExample) {
  Request r;
  r.method = "GET";
  r.target = "/test.txt";
  r.headers.Add("Host", "examplebucket.s3.amazonaws.com");
  r.headers.Add("Range", "bytes=0-9");
  ASSERT_TRUE(SignRequest(r, S3Params()).ok());
  EXPECT_EQ(r.headers.Get("x-amz-content-sha256").value_or(""), kEmptyHash);
  const std::string creq =
      SigV4CanonicalRequest(r, "s3", "host;range;x-amz-content-sha256;x-amz-date", kEmptyHash);
  EXPECT_EQ(
      creq,
      "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
      "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
      "x-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n"
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex(creq), "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
  EXPECT_EQ(r.headers.Get("Authorization").value_or(""),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
  auto verified = VerifySignature(r, S3Keys(), kS3Time);
  ASSERT_TRUE(verified) << verified.error().message;
  EXPECT_EQ(verified->payload, PayloadKind::kSha256);
  EXPECT_EQ(verified->CredentialScopeString(), "20130524/us-east-1/s3/aws4_request");
}

TEST(SigV4S3Examples, SignsThePutObjectExampleWithItsDateHeaderAndDollarSign) {
  Request r;
  r.method = "PUT";
  r.target = "/test$file.text";
  r.headers.Add("Host", "examplebucket.s3.amazonaws.com");
  r.headers.Add("Date", "Fri, 24 May 2013 00:00:00 GMT");
  r.headers.Add("x-amz-storage-class", "REDUCED_REDUNDANCY");
  r.body = "Welcome to Amazon S3.";
  ASSERT_TRUE(SignRequest(r, S3Params()).ok());
  EXPECT_EQ(r.headers.Get("x-amz-content-sha256").value_or(""),
            "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  EXPECT_EQ(SigV4CanonicalUri("/test$file.text", "s3"), "/test%24file.text");
  EXPECT_EQ(r.headers.Get("Authorization").value_or(""),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, "
            "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
  EXPECT_TRUE(VerifySignature(r, S3Keys(), kS3Time));
}

TEST(SigV4S3Examples, SignsTheGetBucketLifecycleAndListObjectsExamples) {
  for (const auto& [target, signature] : std::vector<std::pair<std::string, std::string>>{
           {"/?lifecycle", "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"},
           {"/?max-keys=2&prefix=J",
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"},
           {"/?prefix=J&max-keys=2",
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"}}) {
    SCOPED_TRACE(target);
    Request r;
    r.method = "GET";
    r.target = target;
    r.headers.Add("Host", "examplebucket.s3.amazonaws.com");
    ASSERT_TRUE(SignRequest(r, S3Params()).ok());
    EXPECT_EQ(SignatureOf(r.headers.Get("Authorization").value_or("")), signature);
    EXPECT_TRUE(VerifySignature(r, S3Keys(), kS3Time));
  }
}

Request S3PresignExample() {
  Request r;
  r.method = "GET";
  r.target = "/test.txt";
  r.headers.Add("Host", "examplebucket.s3.amazonaws.com");
  return r;
}

TEST(SigV4S3Examples, PresignsTheGetObjectExampleExactly) {
  auto target = PresignTarget(S3PresignExample(), S3Params(), seconds(86400));
  ASSERT_TRUE(target.has_value()) << target.error().ToString();
  EXPECT_EQ(
      *target,
      "/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%"
      "2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&"
      "X-Amz-SignedHeaders=host&"
      "X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
}

TEST(SigV4S3Examples, AcceptsThePresignedExampleUntilItsLastSecond) {
  Request r = S3PresignExample();
  r.target = *PresignTarget(r, S3Params(), seconds(86400));
  for (Time now : {kS3Time, At(2013, 5, 24, 12), At(2013, 5, 25)}) {
    auto verified = VerifySignature(r, S3Keys(), now);
    ASSERT_TRUE(verified) << verified.error().message;
    EXPECT_TRUE(verified->presigned);
    EXPECT_EQ(verified->payload, PayloadKind::kUnsigned);
  }
  auto expired = VerifySignature(r, S3Keys(), At(2013, 5, 25, 0, 0, 1));
  ASSERT_FALSE(expired);
  EXPECT_EQ(expired.error().kind, SignatureErrorKind::kExpired);
  EXPECT_EQ(expired.error().code, "AccessDenied");
  EXPECT_EQ(expired.error().message, "Request has expired");
  EXPECT_EQ(expired.error().details, (std::vector<std::pair<std::string, std::string>>{
                                         {"X-Amz-Expires", "86400"},
                                         {"Expires", "2013-05-25T00:00:00Z"},
                                         {"ServerTime", "2013-05-25T00:00:01Z"}}));
}

constexpr std::string_view kSeedSignature =
    "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
constexpr std::string_view kChunk1Signature =
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648";
constexpr std::string_view kChunk2Signature =
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497";
constexpr std::string_view kFinalChunkSignature =
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9";

std::string Chunk(std::string_view data, std::string_view signature) {
  return fmt::format("{:x};chunk-signature={}\r\n{}\r\n", data.size(), signature, data);
}

// The example upload: 66560 bytes of 'a' in a 64 KiB chunk, a 1 KiB chunk and the
// final empty one.
Request S3ChunkedExample() {
  Request r;
  r.method = "PUT";
  r.target = "/examplebucket/chunkObject.txt";
  r.headers.Add("Host", "s3.amazonaws.com");
  r.headers.Add("x-amz-storage-class", "REDUCED_REDUNDANCY");
  r.headers.Add("Content-Encoding", "aws-chunked");
  r.headers.Add("x-amz-decoded-content-length", "66560");
  r.headers.Add("Content-Length", "66824");
  r.body = Chunk(std::string(65536, 'a'), kChunk1Signature) +
           Chunk(std::string(1024, 'a'), kChunk2Signature) + Chunk("", kFinalChunkSignature);
  return r;
}

TEST(SigV4S3Examples, SignsAndVerifiesTheChunkedUploadExample) {
  Request r = S3ChunkedExample();
  ASSERT_EQ(r.body.size(), 66824u);
  SigningParams p = S3Params();
  p.payload_hash = std::string(kStreamingSignedPayload);
  ASSERT_TRUE(SignRequest(r, p).ok());
  EXPECT_EQ(r.headers.Get("Authorization").value_or(""),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
            "x-amz-decoded-content-length;x-amz-storage-class, Signature=" +
                std::string(kSeedSignature));

  auto verified = VerifySignature(r, S3Keys(), kS3Time);
  ASSERT_TRUE(verified) << verified.error().message;
  EXPECT_EQ(verified->payload, PayloadKind::kStreamingSigned);
  EXPECT_EQ(verified->signature, kSeedSignature);
  const std::string scope = verified->CredentialScopeString();
  EXPECT_EQ(SigV4ChunkSignature(verified->signing_key, verified->amz_date, scope, kSeedSignature,
                                std::string(65536, 'a')),
            kChunk1Signature);
  EXPECT_EQ(SigV4ChunkSignature(verified->signing_key, verified->amz_date, scope, kChunk1Signature,
                                std::string(1024, 'a')),
            kChunk2Signature);
  EXPECT_EQ(
      SigV4ChunkSignature(verified->signing_key, verified->amz_date, scope, kChunk2Signature, ""),
      kFinalChunkSignature);

  auto decoded = DecodeSignedAwsChunked(*verified, r.body);
  ASSERT_TRUE(decoded) << decoded.error().message;
  EXPECT_EQ(decoded->body, std::string(66560, 'a'));
  EXPECT_TRUE(decoded->trailers.empty());
}

// ---------------------------------------------------------------------------
// Canonical forms.

TEST(SigV4Canonical, EncodesEveryByteButTheUnreservedOnes) {
  EXPECT_EQ(SigV4UriEncode("AZaz09-_.~"), "AZaz09-_.~");
  EXPECT_EQ(SigV4UriEncode("a b+c/d=é*!'()"), "a%20b%2Bc%2Fd%3D%C3%A9%2A%21%27%28%29");
  EXPECT_EQ(SigV4UriEncode("a/b c", false), "a/b%20c");
}

TEST(SigV4Canonical, NormalizesAndEncodesTwiceThePathsOfServicesOtherThanS3) {
  EXPECT_EQ(SigV4CanonicalUri("/2015-03-31/functions/my-fn%3A1/invocations", "lambda"),
            "/2015-03-31/functions/my-fn%253A1/invocations");
  EXPECT_EQ(SigV4CanonicalUri("//a/./b/../c//", "lambda"), "/a/c/");
  EXPECT_EQ(SigV4CanonicalUri("/..", "lambda"), "/");
  EXPECT_EQ(SigV4CanonicalUri("", "lambda"), "/");
}

TEST(SigV4Canonical, KeepsS3KeysAsTheyAreEncodedOnce) {
  EXPECT_EQ(SigV4CanonicalUri("/bucket/a//b/../c", "s3"), "/bucket/a//b/../c");
  EXPECT_EQ(SigV4CanonicalUri("/bucket/my%3Akey%20x", "s3"), "/bucket/my%3Akey%20x");
  EXPECT_EQ(SigV4CanonicalUri("/bucket/a%2Bb", "s3"), "/bucket/a%2Bb");
  EXPECT_EQ(SigV4CanonicalUri("/bucket/test$file", "s3"), "/bucket/test%24file");
  EXPECT_EQ(SigV4CanonicalUri("", "s3"), "/");
}

TEST(SigV4Canonical, SortsTheQueryByEncodedNameThenValueWithoutTheSignature) {
  EXPECT_EQ(SigV4CanonicalQuery("b=2&a=1&a=0&X-Amz-Signature=abc&c"), "a=0&a=1&b=2&c=");
  EXPECT_EQ(SigV4CanonicalQuery("x=a%20b&y=a+b&z=%7e"), "x=a%20b&y=a%2Bb&z=~");
  EXPECT_EQ(SigV4CanonicalQuery("Param=1&%E1%88%B4=2&param=3"), "%E1%88%B4=2&Param=1&param=3");
  EXPECT_EQ(SigV4CanonicalQuery(""), "");
}

// ---------------------------------------------------------------------------
// Verification.

constexpr std::string_view kKey = "AKIANIMBUSEXAMPLE01";
constexpr std::string_view kSecret = "nimbus/secret/example/0123456789abcdefghij";
const Time kT0 = At(2026, 1, 1);

KeyStore Keys() {
  KeyStore keys;
  keys.Add({std::string(kKey), std::string(kSecret), ""});
  return keys;
}

SigningParams Params(std::string service = "lambda", Time when = kT0) {
  SigningParams p;
  p.credentials = {std::string(kKey), std::string(kSecret), ""};
  p.region = "us-east-1";
  p.service = std::move(service);
  p.time = when;
  return p;
}

Request LambdaInvoke() {
  Request r;
  r.method = "POST";
  r.target = "/2015-03-31/functions/my-fn%3Alive/invocations?Qualifier=live";
  r.headers.Add("Host", "127.0.0.1:9001");
  r.headers.Add("Content-Type", "application/json");
  r.headers.Add("X-Amz-Invocation-Type", "RequestResponse");
  r.headers.Add("User-Agent", "aws-sdk-js/3.0");
  r.body = R"({"hello":"world"})";
  return r;
}

Request Signed(Request r, const SigningParams& p = Params()) {
  NIMBUS_CHECK(SignRequest(r, p).ok());
  return r;
}

Request S3Put() {
  Request r;
  r.method = "PUT";
  r.target = "/bucket/dir/my%20key.txt";
  r.headers.Add("Host", "localhost:9000");
  r.body = "object body";
  return r;
}

SignatureError ErrorOf(const Request& r, Time now = kT0, const VerifyOptions& options = {},
                       const CredentialLookup& keys = Keys()) {
  auto result = VerifySignature(r, keys, now, options);
  if (result.has_value()) {
    ADD_FAILURE() << "verified a request signed by " << result->access_key_id;
    return {};
  }
  return result.error();
}

TEST(SigV4Verify, AcceptsWhatSignRequestSignedAndNamesTheSigner) {
  const Request r = Signed(LambdaInvoke());
  EXPECT_EQ(r.headers.Get("User-Agent").value_or(""), "aws-sdk-js/3.0");
  EXPECT_EQ(r.headers.Get("Authorization")->find("user-agent"), std::string::npos);
  EXPECT_FALSE(r.headers.Has("X-Amz-Content-Sha256"));
  auto verified = VerifySignature(r, Keys(), kT0);
  ASSERT_TRUE(verified) << verified.error().message;
  EXPECT_EQ(verified->access_key_id, kKey);
  EXPECT_EQ(verified->scope.date, "20260101");
  EXPECT_EQ(verified->scope.region, "us-east-1");
  EXPECT_EQ(verified->scope.service, "lambda");
  EXPECT_EQ(verified->amz_date, "20260101T000000Z");
  EXPECT_EQ(verified->payload, PayloadKind::kSha256);
  EXPECT_FALSE(verified->presigned);
  EXPECT_EQ(verified->signing_key, SigV4SigningKey(kSecret, "20260101", "us-east-1", "lambda"));
}

TEST(SigV4Verify, AcceptsS3RequestsWithAHashedOrUnsignedPayload) {
  auto hashed = VerifySignature(Signed(S3Put(), Params("s3")), Keys(), kT0);
  ASSERT_TRUE(hashed) << hashed.error().message;
  EXPECT_EQ(hashed->payload, PayloadKind::kSha256);

  SigningParams p = Params("s3");
  p.payload_hash = std::string(kUnsignedPayload);
  Request r = Signed(S3Put(), p);
  r.body = "a different body: not covered by UNSIGNED-PAYLOAD";
  auto unsigned_payload = VerifySignature(r, Keys(), kT0);
  ASSERT_TRUE(unsigned_payload) << unsigned_payload.error().message;
  EXPECT_EQ(unsigned_payload->payload, PayloadKind::kUnsigned);
}

TEST(SigV4Verify, RefusesATamperedHeaderWithTheCanonicalStringItExpected) {
  Request r = Signed(LambdaInvoke());
  r.headers.Set("Content-Type", "text/plain");
  const SignatureError e = ErrorOf(r);
  EXPECT_EQ(e.kind, SignatureErrorKind::kSignatureMismatch);
  EXPECT_EQ(e.http_status, 403);
  EXPECT_EQ(e.code, "InvalidSignatureException");
  EXPECT_TRUE(e.message.starts_with(
      "The request signature we calculated does not match the signature you provided. Check your "
      "AWS Secret Access Key and signing method. Consult the service documentation for details.\n\n"
      "The Canonical String for this request should have been\n'POST\n"
      "/2015-03-31/functions/my-fn%253Alive/invocations\nQualifier=live\n"
      "content-type:text/plain\n"))
      << e.message;
  EXPECT_NE(
      e.message.find("The String-to-Sign should have been\n'AWS4-HMAC-SHA256\n20260101T000000Z\n"
                     "20260101/us-east-1/lambda/aws4_request\n"),
      std::string::npos);
}

TEST(SigV4Verify, RefusesATamperedBody) {
  Request r = Signed(LambdaInvoke());
  r.body = R"({"hello":"mallory"})";
  EXPECT_EQ(ErrorOf(r).kind, SignatureErrorKind::kSignatureMismatch);

  Request s3 = Signed(S3Put(), Params("s3"));
  s3.body = "tampered";
  const SignatureError e = ErrorOf(s3);
  EXPECT_EQ(e.kind, SignatureErrorKind::kContentSha256Mismatch);
  EXPECT_EQ(e.http_status, 400);
  EXPECT_EQ(e.code, "XAmzContentSHA256Mismatch");
  EXPECT_EQ(e.message,
            "The provided 'x-amz-content-sha256' header does not match what was computed.");
  ASSERT_EQ(e.details.size(), 2u);
  EXPECT_EQ(e.details[1], (std::pair<std::string, std::string>("S3ComputedContentSHA256",
                                                               Sha256Hex("tampered"))));

  Request json = Signed(LambdaInvoke(), [] {
    SigningParams p = Params();
    p.add_content_sha256 = true;
    return p;
  }());
  json.body = "tampered";
  EXPECT_EQ(ErrorOf(json).kind, SignatureErrorKind::kContentSha256Mismatch);
}

TEST(SigV4Verify, RefusesATamperedPathOrQuery) {
  Request path = Signed(LambdaInvoke());
  path.target = "/2015-03-31/functions/other-fn/invocations?Qualifier=live";
  EXPECT_EQ(ErrorOf(path).kind, SignatureErrorKind::kSignatureMismatch);

  Request query = Signed(LambdaInvoke());
  query.target = "/2015-03-31/functions/my-fn%3Alive/invocations?Qualifier=1";
  EXPECT_EQ(ErrorOf(query).kind, SignatureErrorKind::kSignatureMismatch);

  Request added = Signed(LambdaInvoke());
  added.target += "&Extra=1";
  EXPECT_EQ(ErrorOf(added).kind, SignatureErrorKind::kSignatureMismatch);

  Request s3 = Signed(S3Put(), Params("s3"));
  s3.target = "/bucket/dir/my%20key.txt2";
  const SignatureError e = ErrorOf(s3);
  EXPECT_EQ(e.code, "SignatureDoesNotMatch");
  EXPECT_EQ(e.message,
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.");
  ASSERT_EQ(e.details.size(), 4u);
  EXPECT_EQ(e.details[0].first, "AWSAccessKeyId");
  EXPECT_EQ(e.details[3].first, "CanonicalRequest");
  EXPECT_TRUE(e.details[3].second.starts_with("PUT\n/bucket/dir/my%20key.txt2\n"));
}

TEST(SigV4Verify, RefusesASignatureMadeWithTheWrongSecret) {
  SigningParams p = Params();
  p.credentials.secret_access_key = "not-the-secret";
  EXPECT_EQ(ErrorOf(Signed(LambdaInvoke(), p)).kind, SignatureErrorKind::kSignatureMismatch);
}

TEST(SigV4Verify, RefusesAnUnknownAccessKey) {
  SigningParams p = Params();
  p.credentials.access_key_id = "AKIAUNKNOWN";
  const SignatureError e = ErrorOf(Signed(LambdaInvoke(), p));
  EXPECT_EQ(e.kind, SignatureErrorKind::kUnknownAccessKey);
  EXPECT_EQ(e.code, "UnrecognizedClientException");
  EXPECT_EQ(e.message, "The security token included in the request is invalid.");

  SigningParams s3 = Params("s3");
  s3.credentials.access_key_id = "AKIAUNKNOWN";
  const SignatureError s3e = ErrorOf(Signed(S3Put(), s3));
  EXPECT_EQ(s3e.code, "InvalidAccessKeyId");
  EXPECT_EQ(s3e.message, "The AWS Access Key Id you provided does not exist in our records.");
}

TEST(SigV4Verify, AcceptsHeaderSignaturesUpToFifteenMinutesEitherWay) {
  const Request r = Signed(LambdaInvoke());
  EXPECT_TRUE(VerifySignature(r, Keys(), kT0 + std::chrono::minutes(15)));
  EXPECT_TRUE(VerifySignature(r, Keys(), kT0 - std::chrono::minutes(15)));

  SignatureError late = ErrorOf(r, kT0 + std::chrono::minutes(15) + seconds(1));
  EXPECT_EQ(late.kind, SignatureErrorKind::kRequestTimeSkewed);
  EXPECT_EQ(late.code, "InvalidSignatureException");
  EXPECT_EQ(late.message,
            "Signature expired: 20260101T000000Z is now earlier than 20260101T000001Z "
            "(20260101T001501Z - 15 min.)");

  SignatureError early = ErrorOf(r, kT0 - std::chrono::minutes(15) - seconds(1));
  EXPECT_EQ(early.kind, SignatureErrorKind::kRequestTimeSkewed);
  EXPECT_EQ(early.message,
            "Signature not yet current: 20260101T000000Z is still later than 20251231T235959Z "
            "(20251231T234459Z + 15 min.)");
}

TEST(SigV4Verify, AnswersS3SkewWithRequestTimeTooSkewed) {
  const SignatureError e = ErrorOf(Signed(S3Put(), Params("s3")), kT0 + std::chrono::hours(1));
  EXPECT_EQ(e.kind, SignatureErrorKind::kRequestTimeSkewed);
  EXPECT_EQ(e.code, "RequestTimeTooSkewed");
  EXPECT_EQ(e.message,
            "The difference between the request time and the current time is too large.");
  EXPECT_EQ(e.details, (std::vector<std::pair<std::string, std::string>>{
                           {"RequestTime", "20260101T000000Z"},
                           {"ServerTime", "2026-01-01T01:00:00Z"},
                           {"MaxAllowedSkewMilliseconds", "900000"}}));
}

Request PresignedLambda(seconds expires = seconds(300), SigningParams p = Params()) {
  Request r;
  r.method = "GET";
  r.target = "/2015-03-31/functions?MaxItems=10";
  r.headers.Add("Host", "127.0.0.1:9001");
  r.target = PresignTarget(r, p, expires).value();
  return r;
}

TEST(SigV4Verify, AcceptsPresignedUrlsOfOtherServicesUntilTheyExpire) {
  const Request r = PresignedLambda();
  EXPECT_TRUE(r.target.starts_with("/2015-03-31/functions?MaxItems=10&X-Amz-Algorithm="));
  auto verified = VerifySignature(r, Keys(), kT0 + seconds(300));
  ASSERT_TRUE(verified) << verified.error().message;
  EXPECT_TRUE(verified->presigned);
  EXPECT_EQ(verified->payload, PayloadKind::kSha256);

  const SignatureError e = ErrorOf(r, kT0 + seconds(301));
  EXPECT_EQ(e.kind, SignatureErrorKind::kExpired);
  EXPECT_EQ(e.code, "InvalidSignatureException");
  EXPECT_EQ(e.message,
            "Signature expired: 20260101T000000Z is now earlier than 20260101T000001Z "
            "(20260101T000501Z - 5 min.)");

  Request tampered = r;
  tampered.target.replace(tampered.target.find("MaxItems=10"), 11, "MaxItems=99");
  EXPECT_EQ(ErrorOf(tampered).kind, SignatureErrorKind::kSignatureMismatch);
}

TEST(SigV4Verify, RefusesPresignedUrlsThatStartTooLateOrAskForMoreThanAWeek) {
  const SignatureError early = ErrorOf(PresignedLambda(), kT0 - std::chrono::minutes(16));
  EXPECT_EQ(early.kind, SignatureErrorKind::kNotYetValid);

  Request s3 = S3PresignExample();
  s3.target = *PresignTarget(s3, Params("s3"), seconds(60));
  EXPECT_EQ(ErrorOf(s3, kT0 - std::chrono::minutes(16)).message, "Request is not valid yet");

  auto with_expires = [&](std::string_view value) {
    Request r = s3;
    const size_t at = r.target.find("X-Amz-Expires=60");
    r.target.replace(at, 16, fmt::format("X-Amz-Expires={}", value));
    return ErrorOf(r);
  };
  const SignatureError week = with_expires("604801");
  EXPECT_EQ(week.code, "AuthorizationQueryParametersError");
  EXPECT_EQ(week.http_status, 400);
  EXPECT_EQ(week.message, "X-Amz-Expires must be less than a week (in seconds) that is 604800");
  EXPECT_EQ(with_expires("99999999999999999999999").message,
            "X-Amz-Expires must be less than a week (in seconds) that is 604800");
  EXPECT_EQ(with_expires("-1").message, "X-Amz-Expires must be non-negative");
  EXPECT_EQ(with_expires("0").message, "X-Amz-Expires must be at least 1 second");
  EXPECT_EQ(with_expires("soon").message, "X-Amz-Expires should be a number");

  EXPECT_FALSE(PresignTarget(S3PresignExample(), Params("s3"), seconds(604801)).has_value());
  EXPECT_FALSE(PresignTarget(S3PresignExample(), Params("s3"), seconds(0)).has_value());
  EXPECT_TRUE(PresignTarget(S3PresignExample(), Params("s3"), seconds(604800)).has_value());
}

TEST(SigV4Verify, RefusesPresignedUrlsMissingAParameter) {
  Request r = PresignedLambda();
  const size_t at = r.target.find("&X-Amz-SignedHeaders=");
  r.target.erase(at, r.target.find('&', at + 1) - at);
  const SignatureError e = ErrorOf(r);
  EXPECT_EQ(e.kind, SignatureErrorKind::kIncompleteSignature);
  EXPECT_EQ(e.message,
            "AWS query-string parameters must include 'X-Amz-SignedHeaders'. Re-examine the "
            "query-string parameters.");
}

TEST(SigV4Verify, CarriesASessionTokenInThePresignedQuery) {
  SigningParams p = Params();
  p.credentials.session_token = "token+with/slashes==";
  const Request r = PresignedLambda(seconds(60), p);
  EXPECT_NE(r.target.find("&X-Amz-Security-Token=token%2Bwith%2Fslashes%3D%3D&X-Amz-Signature="),
            std::string::npos);
  KeyStore keys;
  keys.Add({std::string(kKey), std::string(kSecret), "token+with/slashes=="});
  EXPECT_TRUE(VerifySignature(r, keys, kT0));
  EXPECT_EQ(ErrorOf(r).kind, SignatureErrorKind::kInvalidSessionToken);
}

TEST(SigV4Verify, RefusesASignatureThatDoesNotCoverHost) {
  Request r = Signed(LambdaInvoke());
  std::string auth(*r.headers.Get("Authorization"));
  auth.replace(auth.find("host;"), 5, "");
  r.headers.Set("Authorization", auth);
  const SignatureError e = ErrorOf(r);
  EXPECT_EQ(e.kind, SignatureErrorKind::kHostNotSigned);
  EXPECT_EQ(e.code, "InvalidSignatureException");
  EXPECT_EQ(e.message, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
}

TEST(SigV4Verify, JoinsDuplicateHeadersInOrderAndRefusesAnAddedOne) {
  Request r = LambdaInvoke();
  r.headers.Add("X-Custom", "first");
  r.headers.Add("X-Custom", "  second   value ");
  r = Signed(r);
  EXPECT_EQ(
      SigV4CanonicalRequest(r, "lambda", "x-custom", "").find("x-custom:first,second value\n"),
      std::string("POST\n/2015-03-31/functions/my-fn%253Alive/invocations\nQualifier=live\n")
          .size());
  EXPECT_TRUE(VerifySignature(r, Keys(), kT0));

  Request added = r;
  added.headers.Add("X-Custom", "third");
  EXPECT_EQ(ErrorOf(added).kind, SignatureErrorKind::kSignatureMismatch);

  Request host = r;
  host.headers.Add("Host", "evil.example");
  EXPECT_EQ(ErrorOf(host).kind, SignatureErrorKind::kSignatureMismatch);
}

TEST(SigV4Verify, RefusesAmzHeadersTheSignatureDoesNotCover) {
  Request r = Signed(LambdaInvoke());
  r.headers.Add("X-Amz-Log-Type", "Tail");
  const SignatureError e = ErrorOf(r);
  EXPECT_EQ(e.kind, SignatureErrorKind::kHeadersNotSigned);
  EXPECT_EQ(e.message,
            "There were headers present in the request which were not signed: x-amz-log-type");

  Request s3 = Signed(S3Put(), Params("s3"));
  s3.headers.Add("x-amz-acl", "public-read");
  const SignatureError s3e = ErrorOf(s3);
  EXPECT_EQ(s3e.code, "AccessDenied");
  EXPECT_EQ(s3e.details,
            (std::vector<std::pair<std::string, std::string>>{{"HeadersNotSigned", "x-amz-acl"}}));
}

TEST(SigV4Verify, AsksUnsignedRequestsForAuthentication) {
  const SignatureError e = ErrorOf(LambdaInvoke());
  EXPECT_EQ(e.kind, SignatureErrorKind::kMissingAuthentication);
  EXPECT_EQ(e.code, "MissingAuthenticationToken");
  EXPECT_EQ(e.message, "Missing Authentication Token");
  EXPECT_EQ(e.http_status, 403);

  VerifyOptions s3;
  s3.service = "s3";
  const SignatureError s3e = ErrorOf(S3Put(), kT0, s3);
  EXPECT_EQ(s3e.code, "AccessDenied");
  EXPECT_EQ(s3e.message, "Access Denied");
}

TEST(SigV4Verify, NamesWhatAnIncompleteAuthorizationHeaderLacks) {
  Request r = LambdaInvoke();
  r.headers.Set("Authorization",
                "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/lambda/aws4_request");
  const SignatureError e = ErrorOf(r);
  EXPECT_EQ(e.kind, SignatureErrorKind::kIncompleteSignature);
  EXPECT_EQ(e.code, "IncompleteSignature");
  EXPECT_EQ(e.message,
            "Authorization header requires 'Signature' parameter. Authorization header requires "
            "'SignedHeaders' parameter. Authorization header requires existence of either a "
            "'X-Amz-Date' or a 'Date' header. Authorization=AWS4-HMAC-SHA256 "
            "Credential=AKID/20260101/us-east-1/lambda/aws4_request");

  Request s3 = S3Put();
  s3.headers.Set("Authorization",
                 "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/s3/aws4_request");
  const SignatureError s3e = ErrorOf(s3);
  EXPECT_EQ(s3e.code, "AuthorizationHeaderMalformed");
  EXPECT_EQ(s3e.http_status, 400);
}

TEST(SigV4Verify, RefusesAMalformedCredentialOrDate) {
  Request r = Signed(LambdaInvoke());
  std::string auth(*r.headers.Get("Authorization"));
  auth.replace(auth.find("/us-east-1"), 10, "");
  Request credential = r;
  credential.headers.Set("Authorization", auth);
  const SignatureError e = ErrorOf(credential);
  EXPECT_EQ(e.kind, SignatureErrorKind::kIncompleteSignature);
  EXPECT_EQ(
      e.message,
      "Credential must have exactly 5 slash-delimited elements, e.g. "
      "keyid/date/region/service/term, got 'AKIANIMBUSEXAMPLE01/20260101/lambda/aws4_request'");

  Request date = r;
  date.headers.Set("X-Amz-Date", "2026-01-01T00:00:00Z");
  EXPECT_EQ(ErrorOf(date).message,
            "Date must be in ISO-8601 'basic format'. Got '2026-01-01T00:00:00Z'. See "
            "http://en.wikipedia.org/wiki/ISO_8601");
}

// Found by fuzz/sigv4_verify: year 0026 (or 9999) overflowed the nanosecond
// system_clock when the date was converted (signed overflow: undefined behaviour).
TEST(SigV4Verify, RefusesADateTheClockCannotHoldAsMalformed) {
  const Request r = Signed(LambdaInvoke());
  for (const char* when : {"00260101T000000Z", "16000101T000000Z", "99991231T235959Z"}) {
    Request date = r;
    date.headers.Set("X-Amz-Date", when);
    const SignatureError e = ErrorOf(date);
    EXPECT_EQ(e.kind, SignatureErrorKind::kIncompleteSignature) << when;
    EXPECT_EQ(e.message, std::string("Date must be in ISO-8601 'basic format'. Got '") + when +
                             "'. See http://en.wikipedia.org/wiki/ISO_8601");
  }
  Request http_date = r;
  http_date.headers.Remove("X-Amz-Date");
  http_date.headers.Set("Date", "Fri, 01 Jan 0026 00:00:00 GMT");
  EXPECT_EQ(ErrorOf(http_date).kind, SignatureErrorKind::kIncompleteSignature);
}

TEST(SigV4Verify, RequiresTheScopeToMatchTheDateRegionAndService) {
  // Signed on 20260101 but claiming 20260102 in X-Amz-Date.
  Request day = Signed(LambdaInvoke());
  day.headers.Set("X-Amz-Date", "20260102T000000Z");
  const SignatureError e = ErrorOf(day, At(2026, 1, 2));
  EXPECT_EQ(e.kind, SignatureErrorKind::kInvalidScope);
  EXPECT_EQ(e.message,
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
            "HTTP: '20260101' != '20260102', from '20260102T000000Z'.");

  SigningParams other_region = Params();
  other_region.region = "eu-west-1";
  const Request r = Signed(LambdaInvoke(), other_region);
  EXPECT_TRUE(VerifySignature(r, Keys(), kT0));
  VerifyOptions pinned;
  pinned.region = "us-east-1";
  EXPECT_EQ(ErrorOf(r, kT0, pinned).message, "Credential should be scoped to a valid region.");
  VerifyOptions service;
  service.service = "sqs";
  EXPECT_EQ(ErrorOf(r, kT0, service).message,
            "Credential should be scoped to correct service: 'sqs'.");

  SigningParams s3 = Params("s3");
  s3.region = "eu-west-1";
  const SignatureError s3e = ErrorOf(Signed(S3Put(), s3), kT0, pinned);
  EXPECT_EQ(s3e.code, "AuthorizationHeaderMalformed");
  EXPECT_EQ(s3e.message,
            "The authorization header is malformed; the region 'eu-west-1' is wrong; expecting "
            "'us-east-1'");
}

TEST(SigV4Verify, MatchesTheSessionTokenOfTheKey) {
  KeyStore keys;
  keys.Add({std::string(kKey), std::string(kSecret), "session-token"});
  SigningParams p = Params();
  p.credentials.session_token = "session-token";
  const Request r = Signed(LambdaInvoke(), p);
  EXPECT_TRUE(VerifySignature(r, keys, kT0));
  EXPECT_EQ(ErrorOf(Signed(LambdaInvoke()), kT0, {}, keys).kind,
            SignatureErrorKind::kInvalidSessionToken);
  p.credentials.session_token = "another-token";
  EXPECT_EQ(ErrorOf(Signed(LambdaInvoke(), p), kT0, {}, keys).kind,
            SignatureErrorKind::kInvalidSessionToken);
  // A token the key does not have.
  EXPECT_EQ(ErrorOf(r).kind, SignatureErrorKind::kInvalidSessionToken);
}

TEST(SigV4Verify, RequiresS3RequestsToSendAValidContentSha256) {
  SigningParams p = Params("s3");
  p.add_content_sha256 = false;
  const SignatureError missing = ErrorOf(Signed(S3Put(), p));
  EXPECT_EQ(missing.kind, SignatureErrorKind::kMissingContentSha256);
  EXPECT_EQ(missing.code, "InvalidRequest");
  EXPECT_EQ(missing.message, "Missing required header for this request: x-amz-content-sha256");

  p.add_content_sha256 = true;
  p.payload_hash = "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD";
  const SignatureError invalid = ErrorOf(Signed(S3Put(), p));
  EXPECT_EQ(invalid.kind, SignatureErrorKind::kInvalidContentSha256);
  EXPECT_EQ(invalid.code, "InvalidArgument");

  SigningParams lambda = Params();
  lambda.payload_hash = std::string(kStreamingSignedPayload);
  lambda.add_content_sha256 = true;
  EXPECT_EQ(ErrorOf(Signed(LambdaInvoke(), lambda)).kind,
            SignatureErrorKind::kInvalidContentSha256);
}

TEST(SigV4Verify, AcceptsTheDateHeaderInPlaceOfXAmzDate) {
  Request r;
  r.method = "GET";
  r.target = "/";
  r.headers.Add("Host", "example.amazonaws.com");
  r.headers.Add("Date", "Sun, 30 Aug 2015 12:36:00 GMT");
  const std::string creq = SigV4CanonicalRequest(r, "service", "date;host", kEmptyHash);
  const std::string sts =
      "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n" +
      Sha256Hex(creq);
  const std::string signature =
      HexEncode(HmacSha256(SigV4SigningKey(kSuiteSecret, "20150830", "us-east-1", "service"), sts));
  r.headers.Add("Authorization",
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request,"
                "SignedHeaders=date;host,Signature=" +
                    signature);
  KeyStore keys;
  keys.Add({std::string(kSuiteKey), std::string(kSuiteSecret), ""});
  auto verified = VerifySignature(r, keys, kSuiteTime);
  ASSERT_TRUE(verified) << verified.error().message;
  EXPECT_EQ(verified->amz_date, "20150830T123600Z");
}

TEST(SigV4Verify, RefusesOtherSchemesAndBothFormsAtOnce) {
  Request v2 = LambdaInvoke();
  v2.headers.Set("Authorization", "AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=");
  EXPECT_EQ(ErrorOf(v2).kind, SignatureErrorKind::kUnsupportedAlgorithm);

  Request v4a = LambdaInvoke();
  v4a.headers.Set("Authorization",
                  "AWS4-ECDSA-P256-SHA256 Credential=AKID/20260101/lambda/aws4_request, "
                  "SignedHeaders=host, Signature=abc");
  const SignatureError e = ErrorOf(v4a);
  EXPECT_EQ(e.kind, SignatureErrorKind::kUnsupportedAlgorithm);
  EXPECT_EQ(
      e.message,
      "Unsupported AWS 'algorithm': 'AWS4-ECDSA-P256-SHA256' (only AWS4-HMAC-SHA256 for now).");

  Request s3 = S3Put();
  s3.headers.Set("Authorization", "AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=");
  VerifyOptions options;
  options.service = "s3";
  const SignatureError s3e = ErrorOf(s3, kT0, options);
  EXPECT_EQ(s3e.code, "InvalidRequest");
  EXPECT_EQ(s3e.message,
            "The authorization mechanism you have provided is not supported. Please use "
            "AWS4-HMAC-SHA256.");

  Request both = PresignedLambda();
  both.headers.Set("Authorization",
                   std::string(*Signed(LambdaInvoke()).headers.Get("Authorization")));
  EXPECT_EQ(ErrorOf(both).kind, SignatureErrorKind::kConflictingAuthentication);
}

TEST(SigV4Verify, ConvertsErrorsToStatusesWithTheAwsCodeAsDetail) {
  const Status denied = ErrorOf(LambdaInvoke()).ToStatus();
  EXPECT_EQ(denied.code(), Code::kPermissionDenied);
  EXPECT_EQ(denied.detail(), "MissingAuthenticationToken");
  SigningParams p = Params("s3");
  p.add_content_sha256 = false;
  EXPECT_EQ(ErrorOf(Signed(S3Put(), p)).ToStatus().code(), Code::kInvalidArgument);
}

TEST(SigV4Sign, RefusesARequestWithoutHost) {
  Request r = LambdaInvoke();
  r.headers.Remove("Host");
  EXPECT_EQ(SignRequest(r, Params()).code(), Code::kInvalidArgument);
  EXPECT_FALSE(PresignTarget(r, Params(), seconds(60)).has_value());
}

TEST(SigV4Sign, ReplacesAnEarlierSignature) {
  Request r = Signed(LambdaInvoke());
  r = Signed(r, Params("lambda", kT0 + std::chrono::minutes(30)));
  EXPECT_EQ(r.headers.Get("X-Amz-Date").value_or(""), "20260101T003000Z");
  int authorizations = 0;
  for (const auto& [k, v] : r.headers.entries())
    authorizations += EqualsIgnoreCase(k, "Authorization");
  EXPECT_EQ(authorizations, 1);
  EXPECT_TRUE(VerifySignature(r, Keys(), kT0 + std::chrono::minutes(30)));
}

// ---------------------------------------------------------------------------
// aws-chunked.

// A request signed for a streaming upload of `mode`, and its verification.
std::pair<Request, VerifiedSignature> StreamingUpload(std::string_view mode) {
  Request r = S3Put();
  r.headers.Add("Content-Encoding", "aws-chunked");
  SigningParams p = Params("s3");
  p.payload_hash = std::string(mode);
  r = Signed(r, p);
  auto verified = VerifySignature(r, Keys(), kT0);
  NIMBUS_CHECK(verified.has_value()) << verified.error().message;
  return {r, *verified};
}

// The error decoding `raw` gives; a test failure (and an empty error) when it decodes.
SignatureError DecodeError(const VerifiedSignature& v, std::string_view raw) {
  auto result = DecodeSignedAwsChunked(v, raw);
  if (result.has_value()) {
    ADD_FAILURE() << "decoded: " << result->body;
    return {};
  }
  return result.error();
}

// The signed aws-chunked encoding of `chunks`, with `trailers` signed when `trailer`.
std::string SignedBody(const VerifiedSignature& v, const std::vector<std::string>& chunks,
                       const std::vector<std::pair<std::string, std::string>>& trailers = {},
                       bool trailer = false) {
  std::string body, previous = v.signature;
  const std::string scope = v.CredentialScopeString();
  std::vector<std::string> all = chunks;
  all.emplace_back();
  for (const std::string& data : all) {
    previous = SigV4ChunkSignature(v.signing_key, v.amz_date, scope, previous, data);
    body += fmt::format("{:x};chunk-signature={}\r\n", data.size(), previous);
    if (!data.empty()) body += data + "\r\n";
  }
  std::string canonical;
  for (const auto& [k, value] : trailers) {
    body += k + ":" + value + "\r\n";
    canonical += k + ":" + value + "\n";
  }
  if (trailer) {
    body += "x-amz-trailer-signature:" +
            SigV4TrailerSignature(v.signing_key, v.amz_date, scope, previous, canonical) + "\r\n";
  }
  return body + "\r\n";
}

TEST(SigV4Chunked, RefusesATamperedDroppedOrUnsignedChunk) {
  auto [r, v] = StreamingUpload(kStreamingSignedPayload);
  const std::string body = SignedBody(v, {std::string(9000, 'x'), "tail"});
  auto ok = DecodeSignedAwsChunked(v, body);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->body, std::string(9000, 'x') + "tail");

  std::string tampered = body;
  tampered[tampered.find("tail")] = 'T';
  const SignatureError e = DecodeError(v, tampered);
  EXPECT_EQ(e.kind, SignatureErrorKind::kSignatureMismatch);
  EXPECT_EQ(e.code, "SignatureDoesNotMatch");
  ASSERT_EQ(e.details.size(), 2u);
  EXPECT_EQ(e.details[0].first, "StringToSign");
  EXPECT_TRUE(
      e.details[0].second.starts_with("AWS4-HMAC-SHA256-PAYLOAD\n20260101T000000Z\n"
                                      "20260101/us-east-1/s3/aws4_request\n"));

  // The second chunk dropped: the final chunk's signature no longer follows.
  const std::string first = SignedBody(v, {std::string(9000, 'x')});
  const std::string second_and_final = body.substr(body.find("4;chunk-signature"));
  const std::string dropped = first.substr(0, first.find("0;chunk-signature")) +
                              second_and_final.substr(second_and_final.find("0;chunk-signature"));
  EXPECT_EQ(DecodeError(v, dropped).kind, SignatureErrorKind::kSignatureMismatch);

  EXPECT_EQ(DecodeError(v, "4\r\ntail\r\n0\r\n\r\n").kind, SignatureErrorKind::kSignatureMismatch);
}

TEST(SigV4Chunked, VerifiesTheTrailerSignature) {
  auto [r, v] = StreamingUpload(kStreamingSignedPayloadTrailer);
  EXPECT_EQ(v.payload, PayloadKind::kStreamingSignedTrailer);
  const std::vector<std::pair<std::string, std::string>> trailers = {
      {"x-amz-checksum-crc32", "sOO8/Q=="}};
  auto ok = DecodeSignedAwsChunked(v, SignedBody(v, {"hello"}, trailers, true));
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->body, "hello");
  EXPECT_EQ(ok->trailers, trailers);

  std::string tampered = SignedBody(v, {"hello"}, trailers, true);
  tampered.replace(tampered.find("sOO8/Q=="), 8, "AAAAAA==");
  EXPECT_EQ(DecodeError(v, tampered).kind, SignatureErrorKind::kSignatureMismatch);
  EXPECT_EQ(DecodeError(v, SignedBody(v, {"hello"}, trailers, false)).kind,
            SignatureErrorKind::kSignatureMismatch);
}

TEST(SigV4Chunked, DecodesUnsignedTrailerBodiesWithoutSignatures) {
  auto [r, v] = StreamingUpload(kStreamingUnsignedPayloadTrailer);
  EXPECT_EQ(v.payload, PayloadKind::kStreamingUnsignedTrailer);
  auto ok = DecodeSignedAwsChunked(
      v, "5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:  abc= \r\n\r\n");
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->body, "hello world");
  EXPECT_EQ(ok->trailers,
            (std::vector<std::pair<std::string, std::string>>{{"x-amz-checksum-crc32", "abc="}}));
}

TEST(SigV4Chunked, NamesWhatIsMalformed) {
  auto [r, v] = StreamingUpload(kStreamingUnsignedPayloadTrailer);
  auto message = [&v](std::string_view raw) {
    const SignatureError e = DecodeError(v, raw);
    EXPECT_EQ(e.kind, SignatureErrorKind::kMalformedBody);
    EXPECT_EQ(e.code, "InvalidRequest");
    EXPECT_EQ(e.http_status, 400);
    return e.message;
  };
  EXPECT_EQ(message("zz\r\nhello\r\n0\r\n\r\n"), "aws-chunked body: bad chunk size \"zz\"");
  EXPECT_EQ(message("10\r\nhello\r\n0\r\n\r\n"),
            "aws-chunked body: chunk 0 is shorter than its declared size 16");
  EXPECT_EQ(message("5\r\nhello\r\n"),
            "aws-chunked body: the body ends before its final zero-size chunk");
  EXPECT_EQ(message("5\r\nhello\r\n0"),
            "aws-chunked body: a chunk header is not terminated by CRLF");
  EXPECT_EQ(message("0\r\n\r\nextra"), "aws-chunked body: data after the end of the body");
  EXPECT_EQ(message("0\r\nno-colon\r\n\r\n"), "aws-chunked body: bad trailer \"no-colon\"");

  auto [r2, signed_only] = StreamingUpload(kStreamingSignedPayload);
  EXPECT_EQ(DecodeError(signed_only,
                        SignedBody(signed_only, {"hello"}, {{"x-amz-checksum-crc32", "abc="}}))
                .message,
            "aws-chunked body: trailers need x-amz-content-sha256 "
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER");
}

}  // namespace
}  // namespace nimbus::http
