#include "cli/credentials.h"

#include <fmt/format.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace nimbus::cli {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

}  // namespace

fs::path DefaultDataDir() {
  if (std::string d = Env("NIMBUS_DATA_DIR"); !d.empty()) return d;
  if (::geteuid() == 0) return "/var/lib/nimbus";
  if (std::string x = Env("XDG_DATA_HOME"); !x.empty()) return fs::path(x) / "nimbus";
  if (std::string h = Env("HOME"); !h.empty()) return fs::path(h) / ".local/share/nimbus";
  std::error_code ec;
  return fs::current_path(ec) / "nimbus-data";
}

std::optional<http::AwsCredentials> AdminKeyFromFile(const fs::path& file) {
  std::ifstream in(file);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  boost::system::error_code ec;
  json::value v = json::parse(text.str(), ec);
  const json::value* keys =
      !ec && v.is_object() ? v.as_object().if_contains("AccessKeys") : nullptr;
  if (keys == nullptr || !keys->is_array()) return std::nullopt;
  for (const json::value& k : keys->as_array()) {
    const json::object* o = k.if_object();
    if (o == nullptr) continue;
    const json::value* id = o->if_contains("AccessKeyId");
    const json::value* secret = o->if_contains("SecretAccessKey");
    const json::value* policy = o->if_contains("Policy");
    if (id == nullptr || secret == nullptr || policy == nullptr || !id->is_string() ||
        !secret->is_string() || *policy != "admin") {
      continue;
    }
    return http::AwsCredentials{std::string(id->as_string()), std::string(secret->as_string()), ""};
  }
  return std::nullopt;
}

ClientCredentials FindClientCredentials() {
  ClientCredentials c;
  if (std::string id = Env("AWS_ACCESS_KEY_ID"); !id.empty()) {
    c.source = ClientCredentials::Source::kEnvironment;
    std::string secret = Env("AWS_SECRET_ACCESS_KEY");
    c.credentials = {std::move(id), secret.empty() ? "nimbus" : std::move(secret),
                     Env("AWS_SESSION_TOKEN")};
    return c;
  }
  c.key_file = DefaultDataDir() / "credentials.json";
  if (auto admin = AdminKeyFromFile(c.key_file)) {
    c.source = ClientCredentials::Source::kKeyFile;
    c.credentials = std::move(*admin);
    return c;
  }
  c.source = ClientCredentials::Source::kPlaceholder;
  c.credentials = {"nimbus", "nimbus", ""};
  return c;
}

bool IsAuthenticationError(std::string_view type) {
  for (std::string_view t :
       {"UnrecognizedClientException", "InvalidSignatureException", "IncompleteSignatureException",
        "MissingAuthenticationTokenException", "InvalidClientTokenId", "MissingAuthenticationToken",
        "SignatureDoesNotMatch", "InvalidAccessKeyId", "InvalidToken", "ExpiredTokenException"}) {
    if (type == t) return true;
  }
  return false;
}

std::string CredentialsHint(const ClientCredentials& c) {
  constexpr std::string_view kWhere =
      "keys come from the AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY environment variables, else "
      "the first admin "
      "key of <data-dir>/credentials.json (data-dir: NIMBUS_DATA_DIR or the server's default), "
      "which the server "
      "creates on its first start; `nimbus keys create` makes more";
  switch (c.source) {
    case ClientCredentials::Source::kEnvironment:
      return fmt::format(
          "hint: the server does not accept AWS_ACCESS_KEY_ID={} with its secret; {}",
          c.credentials.access_key_id, kWhere);
    case ClientCredentials::Source::kKeyFile:
      return fmt::format(
          "hint: the server does not accept the admin key {} from {} (is it serving another data "
          "directory?); {}",
          c.credentials.access_key_id, c.key_file.string(), kWhere);
    case ClientCredentials::Source::kPlaceholder:
      break;
  }
  return fmt::format(
      "hint: no credentials found (AWS_ACCESS_KEY_ID is not set and {} is not readable), so the "
      "request was signed with the placeholder \"nimbus\", which only a server in dev mode "
      "accepts; {}",
      c.key_file.string(), kWhere);
}

}  // namespace nimbus::cli
