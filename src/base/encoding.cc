#include "base/encoding.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>
#include <cstring>

#include "base/check.h"

namespace nimbus {

std::string Base64Encode(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(data.data()),
                          static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::optional<std::string> Base64Decode(std::string_view text) {
  static constexpr signed char kInvalid = -1;
  static const auto kTable = [] {
    std::array<signed char, 256> t{};
    t.fill(kInvalid);
    const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(alphabet[i])] = static_cast<signed char>(i);
    return t;
  }();
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    int pad = 0;
    uint32_t acc = 0;
    for (size_t j = 0; j < 4; ++j) {
      char c = text[i + j];
      if (c == '=') {
        // Padding only in the last quantum, only in its last two places.
        if (i + 4 != text.size() || j < 2) return std::nullopt;
        ++pad;
        acc <<= 6;
        continue;
      }
      if (pad > 0) return std::nullopt;
      signed char v = kTable[static_cast<unsigned char>(c)];
      if (v == kInvalid) return std::nullopt;
      acc = (acc << 6) | static_cast<uint32_t>(v);
    }
    out.push_back(static_cast<char>((acc >> 16) & 0xff));
    if (pad < 2) out.push_back(static_cast<char>((acc >> 8) & 0xff));
    if (pad < 1) out.push_back(static_cast<char>(acc & 0xff));
  }
  return out;
}

std::string HexEncode(std::string_view data) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  out.reserve(data.size() * 2);
  for (unsigned char c : data) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 0xf]);
  }
  return out;
}

namespace {

// The digests, fetched from OpenSSL's default provider once: EVP_sha256() and
// friends make every EVP_DigestInit_ex look the algorithm up again (OpenSSL 3's
// implicit fetch), which costs more than hashing a small message.
const EVP_MD* Digest(DigestAlgorithm algorithm) {
  static const EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  static const EVP_MD* const md5 = EVP_MD_fetch(nullptr, "MD5", nullptr);
  const EVP_MD* md = algorithm == DigestAlgorithm::kMd5 ? md5 : sha256;
  NIMBUS_CHECK(md != nullptr) << "OpenSSL has no " << (algorithm == DigestAlgorithm::kMd5 ? "MD5" : "SHA256");
  return md;
}

}  // namespace

Hasher::Hasher(DigestAlgorithm algorithm) : ctx_(EVP_MD_CTX_new()) {
  NIMBUS_CHECK(ctx_ != nullptr);
  const EVP_MD* md = Digest(algorithm);
  NIMBUS_CHECK(EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), md, nullptr) == 1);
}
Hasher::~Hasher() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }
void Hasher::Update(std::string_view data) {
  NIMBUS_CHECK(EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data.data(), data.size()) == 1);
}
std::string Hasher::Finish() {
  std::string out(EVP_MAX_MD_SIZE, '\0');
  unsigned int len = 0;
  NIMBUS_CHECK(EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_),
                                  reinterpret_cast<unsigned char*>(out.data()), &len) == 1);
  out.resize(len);
  return out;
}

std::string Sha256(std::string_view data) {
  Hasher h(DigestAlgorithm::kSha256);
  h.Update(data);
  return h.Finish();
}

uint64_t StableHash64(std::string_view data) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : data) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string Md5Hex(std::string_view data) {
  Hasher h(DigestAlgorithm::kMd5);
  h.Update(data);
  return HexEncode(h.Finish());
}

namespace {

// xoshiro256** (Blackman & Vigna), one generator per thread, seeded from
// OpenSSL's CSPRNG. Request, environment and trace ids need uniqueness, not
// secrecy, and RAND_bytes cost ~16,000 instructions per call on the warm
// invoke path (callgrind); this costs a few dozen. Secrets must not use it.
class FastRandom {
 public:
  FastRandom() {
    NIMBUS_CHECK(RAND_bytes(reinterpret_cast<unsigned char*>(s_), sizeof s_) == 1);
    if ((s_[0] | s_[1] | s_[2] | s_[3]) == 0) s_[0] = 1;  // the all-zero state is a fixed point
  }
  uint64_t Next() {
    const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return result;
  }

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

// 16 random bytes from this thread's generator.
void Random16(unsigned char* out) {
  thread_local FastRandom rng;
  uint64_t a = rng.Next(), b = rng.Next();
  std::memcpy(out, &a, 8);
  std::memcpy(out + 8, &b, 8);
}

}  // namespace

std::string NewUuid() {
  unsigned char b[16];
  Random16(b);
  b[6] = (b[6] & 0x0f) | 0x40;  // version 4
  b[8] = (b[8] & 0x3f) | 0x80;  // RFC 4122 variant
  std::string hex = HexEncode(std::string_view(reinterpret_cast<char*>(b), sizeof b));
  std::string out;
  out.reserve(36);
  out.append(hex, 0, 8).append(1, '-').append(hex, 8, 4).append(1, '-').append(hex, 12, 4);
  out.append(1, '-').append(hex, 16, 4).append(1, '-').append(hex, 20, 12);
  return out;
}

std::string RandomHex32() {
  unsigned char b[16];
  Random16(b);
  return HexEncode(std::string_view(reinterpret_cast<char*>(b), sizeof b));
}

std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
      ++i;
      continue;
    }
    // Lead byte: the sequence length and the range its second byte must be in
    // (Unicode's table of well-formed sequences; the narrower ranges exclude
    // overlong forms, surrogates and code points above U+10FFFF).
    size_t len;
    unsigned char lo = 0x80, hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) {
      len = 2;
    } else if (b >= 0xe0 && b <= 0xef) {
      len = 3;
      if (b == 0xe0) lo = 0xa0;
      if (b == 0xed) hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      len = 4;
      if (b == 0xf0) lo = 0x90;
      if (b == 0xf4) hi = 0x8f;
    } else {
      return false;
    }
    if (s.size() - i < len) return false;
    const auto second = static_cast<unsigned char>(s[i + 1]);
    if (second < lo || second > hi) return false;
    for (size_t k = 2; k < len; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      if (c < 0x80 || c > 0xbf) return false;
    }
    i += len;
  }
  return true;
}

std::string ToValidUtf8(std::string_view s) {
  if (IsValidUtf8(s)) return std::string(s);
  std::string out;
  out.reserve(s.size() + 8);
  for (size_t i = 0; i < s.size();) {
    const auto lead = static_cast<unsigned char>(s[i]);
    const size_t n = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
    if (lead < 0x80 || (s.size() - i >= n && IsValidUtf8(s.substr(i, n)))) {
      out.append(s.substr(i, n));
      i += n;
    } else {
      out += "\xef\xbf\xbd";
      ++i;
    }
  }
  return out;
}

std::string XmlEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      case '\r': out += "&#13;"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace nimbus
