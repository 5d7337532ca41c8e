// Which credentials the `nimbus` client commands sign with (ApiClient), and
// where the server keeps its data by default (shared with `nimbus serve`).
//
// Lookup order:
//   1. AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN), as the
//      AWS CLI and SDKs read them;
//   2. the first admin key of <data-dir>/credentials.json (the server's key
//      store, created with an admin key on its first start), when this user can
//      read it: data-dir is NIMBUS_DATA_DIR, else the server's default
//      (DefaultDataDir) — so on the server's own machine and account the CLI
//      works without configuration;
//   3. the placeholder "nimbus"/"nimbus", which only a server in dev mode
//      (--auth=dev) accepts; an authentication error then carries a hint
//      saying where keys come from (CredentialsHint).
//
// Reads the process environment and the file system. Thread-compatible.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "http/sigv4.h"

namespace nimbus::cli {

// NIMBUS_DATA_DIR when set; else /var/lib/nimbus as root, $XDG_DATA_HOME/nimbus,
// ~/.local/share/nimbus, or ./nimbus-data without a home: `nimbus serve
// --data-dir`'s default.
std::filesystem::path DefaultDataDir();

// The first admin key ("Policy":"admin") in `file`, a key store written by the
// server: {"AccessKeys":[{"AccessKeyId","SecretAccessKey","Policy",...}]}.
// nullopt when the file cannot be read (absent, not this user's), is not such a
// list, or holds no admin key.
std::optional<http::AwsCredentials> AdminKeyFromFile(const std::filesystem::path& file);

struct ClientCredentials {
  enum class Source { kEnvironment, kKeyFile, kPlaceholder };
  http::AwsCredentials credentials;
  Source source = Source::kPlaceholder;
  // The credentials.json that was read (kKeyFile) or could not be (kPlaceholder).
  std::filesystem::path key_file;
};

// The credentials to sign with, in the order above.
ClientCredentials FindClientCredentials();

// Whether an AWS error type means the server did not accept the credentials
// (an unknown key, a wrong secret or token, no signature), as opposed to a
// refusal of what a known key asked for (AccessDenied).
bool IsAuthenticationError(std::string_view aws_error_type);

// What to tell the user when the server refused `c` as unknown: which
// credentials were used and where keys come from. One line, no trailing newline.
std::string CredentialsHint(const ClientCredentials& c);

}  // namespace nimbus::cli
