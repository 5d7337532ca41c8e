// Encodings and digests used across components: base64, hex, SHA-256, UUIDs.
// Pure functions, thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace nimbus {

std::string Base64Encode(std::string_view data);
// Returns nullopt for input that is not valid (padded, standard-alphabet) base64.
std::optional<std::string> Base64Decode(std::string_view text);

std::string HexEncode(std::string_view data);

// ASCII letters lowercased; other bytes as they are (header names, enum values).
std::string AsciiLower(std::string_view s);

// Text for an XML element or attribute value: & < > " ' escaped, and CR as a
// character reference (an XML parser would turn a literal one into LF).
std::string XmlEscape(std::string_view s);

// Whether `s` is well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates,
// nothing above U+10FFFF), as a JSON parser requires of the text it reads.
bool IsValidUtf8(std::string_view s);

// `s` with each byte that is not part of well-formed UTF-8 (as IsValidUtf8 has
// it) replaced by U+FFFD: for JSON text that echoes what a caller sent (a path,
// a qualifier), which may be any bytes once percent-decoded.
std::string ToValidUtf8(std::string_view s);

enum class DigestAlgorithm { kMd5, kSha256 };

// Incremental digest for large inputs (objects streamed from files).
class Hasher {
 public:
  explicit Hasher(DigestAlgorithm algorithm);
  ~Hasher();
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;
  void Update(std::string_view data);
  std::string Finish();  // the raw digest: 16 bytes for MD5, 32 for SHA-256

 private:
  void* ctx_;
};

// Raw 32-byte SHA-256 digest.
std::string Sha256(std::string_view data);
// Lowercase hex MD5 (S3 ETags, SQS MD5OfMessageBody).
std::string Md5Hex(std::string_view data);

// A fast hash that never changes, for spreading keys over Scan segments and stream
// lanes (a stream mapping's lane checkpoints rely on it staying the same); not for
// anything adversarial. FNV-1a's steps with the offset basis 1469598103934665603
// (not FNV's published basis: kept as first written, since changing it would move
// keys between lanes).
uint64_t StableHash64(std::string_view data);

// Random (version 4) UUID, lowercase: "8476a536-e9f4-41e8-9739-2dfe598c3fcd".
// Unique, not secret: from a fast per-thread generator seeded by the CSPRNG.
std::string NewUuid();
// 32 random lowercase hex characters (log stream suffixes, environment ids,
// trace ids). Unique, not secret, like NewUuid().
std::string RandomHex32();

}  // namespace nimbus
