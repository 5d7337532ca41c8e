#include "http/sigv4_scope.h"

#include <string_view>
#include <vector>

namespace nimbus::http {

namespace {

// "AKID/20240101/us-east-1/lambda/aws4_request" (SigV4) or
// "AKID/20240101/s3/aws4_request" (SigV4a).
std::optional<CredentialScope> ParseScope(std::string_view credential) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t slash = credential.find('/', start);
    parts.push_back(credential.substr(start, slash == std::string_view::npos ? slash : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  if (parts.back() != "aws4_request") return std::nullopt;
  CredentialScope scope;
  if (parts.size() == 5) {
    scope.region = parts[2];
    scope.service = parts[3];
  } else if (parts.size() == 4) {
    scope.service = parts[2];
  } else {
    return std::nullopt;
  }
  scope.access_key_id = parts[0];
  scope.date = parts[1];
  if (scope.access_key_id.empty() || scope.service.empty()) return std::nullopt;
  return scope;
}

// The value of `name` in a query string, percent-decoded.
std::optional<std::string> QueryParameter(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    size_t eq = pair.find('=');
    if (pair.substr(0, eq) != name) continue;
    return PercentDecode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
  }
  return std::nullopt;
}

}  // namespace

std::optional<CredentialScope> ParseCredentialScope(const Request& request) {
  if (auto auth = request.headers.Get("Authorization")) {
    std::string_view v = *auth;
    if (!v.starts_with("AWS4-HMAC-SHA256 ") && !v.starts_with("AWS4-ECDSA-P256-SHA256 ")) {
      return std::nullopt;
    }
    size_t at = v.find("Credential=");
    if (at == std::string_view::npos) return std::nullopt;
    std::string_view credential = v.substr(at + 11);
    credential = credential.substr(0, credential.find_first_of(", "));
    return ParseScope(credential);
  }
  if (auto credential = QueryParameter(request.query(), "X-Amz-Credential")) {
    return ParseScope(*credential);
  }
  return std::nullopt;
}

}  // namespace nimbus::http
