#include "s3/payload.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <cstdint>

#include <boost/crc.hpp>
#include <fmt/format.h>

#include "base/encoding.h"

namespace nimbus::s3 {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

template <typename T>
std::string BigEndian(T v) {
  std::string out(sizeof(T), '\0');
  for (size_t i = 0; i < sizeof(T); ++i) {
    out[sizeof(T) - 1 - i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  return out;
}

std::string Digest(const EVP_MD* md, std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, md, nullptr);
  return std::string(reinterpret_cast<const char*>(digest), len);
}

}  // namespace

Result<ChunkedPayload> DecodeAwsChunked(std::string_view raw) {
  ChunkedPayload out;
  size_t pos = 0;
  auto line = [&]() -> std::optional<std::string_view> {
    size_t end = raw.find("\r\n", pos);
    if (end == std::string_view::npos) return std::nullopt;
    std::string_view l = raw.substr(pos, end - pos);
    pos = end + 2;
    return l;
  };
  while (true) {
    auto header = line();
    if (!header) return InvalidArgument("aws-chunked body: a chunk header is not terminated by CRLF");
    std::string_view size_text = header->substr(0, header->find(';'));
    size_text = Trim(size_text);
    if (size_text.empty() || size_text.size() > 16 ||
        !std::all_of(size_text.begin(), size_text.end(),
                     [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); })) {
      return InvalidArgument(fmt::format("aws-chunked body: bad chunk size \"{}\"", size_text));
    }
    uint64_t size = std::stoull(std::string(size_text), nullptr, 16);
    if (size == 0) break;
    // Compared without computing size + 2, which a 16-digit size wraps.
    if (raw.size() - pos < 2 || size > raw.size() - pos - 2 || raw.substr(pos + size, 2) != "\r\n") {
      return InvalidArgument("aws-chunked body: a chunk is shorter than its declared size");
    }
    out.body.append(raw.substr(pos, size));
    pos += size + 2;
  }
  // Trailers until an empty line (or the end of the body).
  while (pos < raw.size()) {
    auto l = line();
    if (!l) return InvalidArgument("aws-chunked body: a trailer is not terminated by CRLF");
    if (l->empty()) break;
    size_t colon = l->find(':');
    if (colon == std::string_view::npos) {
      return InvalidArgument(fmt::format("aws-chunked body: bad trailer \"{}\"", *l));
    }
    std::string name = AsciiLower(Trim(l->substr(0, colon)));
    if (name == "x-amz-trailer-signature") continue;
    out.trailers.emplace_back(std::move(name), std::string(Trim(l->substr(colon + 1))));
  }
  return out;
}

std::optional<std::string> FlexibleChecksum(std::string_view algorithm, std::string_view data) {
  std::string a = AsciiLower(algorithm);
  if (a == "crc32") {
    boost::crc_32_type crc;
    crc.process_bytes(data.data(), data.size());
    return Base64Encode(BigEndian<uint32_t>(crc.checksum()));
  }
  if (a == "crc32c") {
    boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true> crc;
    crc.process_bytes(data.data(), data.size());
    return Base64Encode(BigEndian<uint32_t>(crc.checksum()));
  }
  if (a == "crc64nvme") {
    boost::crc_optimal<64, 0xAD93D23594C93659ull, ~0ull, ~0ull, true, true> crc;
    crc.process_bytes(data.data(), data.size());
    return Base64Encode(BigEndian<uint64_t>(crc.checksum()));
  }
  if (a == "sha1") return Base64Encode(Digest(EVP_sha1(), data));
  if (a == "sha256") return Base64Encode(Digest(EVP_sha256(), data));
  return std::nullopt;
}

std::optional<std::string> ChecksumAlgorithmOfHeader(std::string_view header) {
  std::string h = AsciiLower(header);
  constexpr std::string_view kPrefix = "x-amz-checksum-";
  if (!h.starts_with(kPrefix)) return std::nullopt;
  std::string alg = h.substr(kPrefix.size());
  if (alg != "crc32" && alg != "crc32c" && alg != "crc64nvme" && alg != "sha1" && alg != "sha256") {
    return std::nullopt;
  }
  for (char& c : alg) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return alg;
}

}  // namespace nimbus::s3
