#include "console/console.h"

#include <fmt/format.h>
#include <zlib.h>

#include <fstream>
#include <sstream>

#include "base/encoding.h"

namespace nimbus::console {
namespace {

constexpr std::string_view kPrefix = "/console/";

std::string ETagOf(std::string_view data) { return fmt::format("\"{:016x}\"", StableHash64(data)); }

std::string_view ContentTypeOf(std::string_view name) {
  auto ends = [&](std::string_view ext) { return name.ends_with(ext); };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".js")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".svg")) return "image/svg+xml";
  if (ends(".png")) return "image/png";
  if (ends(".json")) return "application/json";
  return "application/octet-stream";
}

// A plain file name of web/: letters, digits, '.', '-', '_', not starting with '.'.
bool IsPlainName(std::string_view name) {
  if (name.empty() || name.front() == '.') return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_') return false;
  }
  return true;
}

// `data` in gzip format (RFC 1952), or "" if zlib fails.
std::string Gzip(std::string_view data) {
  z_stream z{};
  // 15 window bits + 16: a gzip header and trailer instead of zlib's.
  if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK) return "";
  std::string out(deflateBound(&z, data.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return rc == Z_STREAM_END ? out : "";
}

bool AcceptsGzip(const http::Request& request) {
  return request.headers.Get("Accept-Encoding").value_or("").find("gzip") != std::string_view::npos;
}

http::Response Redirect(std::string location) {
  http::Response r;
  r.status = 302;
  r.headers.Set("Location", std::move(location));
  return r;
}

http::Response NotFound(std::string_view path) {
  http::Response r = http::Response::Text(404, fmt::format("{} is not a page of the console\n", path));
  return r;
}

}  // namespace

Console::Console(ConsoleOptions options) : options_(std::move(options)) {
  for (const EmbeddedFile& f : EmbeddedFiles()) {
    File file{f.data, ETagOf(f.data), ""};
    if (!ContentTypeOf(f.name).starts_with("image/png")) {
      file.gzipped = Gzip(f.data);
      if (file.gzipped.size() >= f.data.size()) file.gzipped.clear();
    }
    files_.emplace(std::string(f.name), std::move(file));
  }
}

bool Console::Matches(const http::Request& request) {
  if (request.method != "GET" && request.method != "HEAD") return false;
  std::string_view path = request.path();
  if (path == "/console" || path.starts_with(kPrefix)) return true;
  // A browser opening the server's address; the S3 and other APIs' requests
  // carry a signature or a target.
  return path == "/" && !request.headers.Get("Authorization") && !request.headers.Get("X-Amz-Target") &&
         request.headers.Get("Accept").value_or("").find("text/html") != std::string::npos;
}

http::Response Console::Handle(const http::Request& request) const {
  std::string_view path = request.path();
  if (path == "/" || path == "/console") return Redirect(std::string(kPrefix));
  std::string_view name = path.substr(kPrefix.size());
  if (name.empty()) name = "index.html";
  if (name != "vendor/chart.min.js" && serves_from_disk()) {
    if (!IsPlainName(name)) return NotFound(path);
    std::ifstream in(options_.dir / std::string(name), std::ios::binary);
    if (!in) return NotFound(path);
    std::ostringstream data;
    data << in.rdbuf();
    std::string bytes = std::move(data).str();
    return Serve(request, name, File{bytes, ETagOf(bytes), ""});
  }
  auto it = files_.find(name);
  if (it == files_.end()) return NotFound(path);
  return Serve(request, name, it->second);
}

http::Response Console::Serve(const http::Request& request, std::string_view name, const File& file) const {
  const bool gzip = !file.gzipped.empty() && AcceptsGzip(request);
  const std::string_view data = gzip ? std::string_view(file.gzipped) : file.data;
  // Each encoding is its own representation, with its own validator.
  const std::string etag = gzip ? file.etag.substr(0, file.etag.size() - 1) + "-gzip\"" : file.etag;
  http::Response r;
  r.headers.Set("ETag", etag);
  if (!file.gzipped.empty()) r.headers.Set("Vary", "Accept-Encoding");
  // Revalidated on every load: a new binary's console replaces the old at once.
  r.headers.Set("Cache-Control", "no-cache");
  r.headers.Set("X-Content-Type-Options", "nosniff");
  r.headers.Set("X-Frame-Options", "DENY");
  r.headers.Set("Referrer-Policy", "no-referrer");
  // Chart.js sizes its canvases through element styles.
  r.headers.Set("Content-Security-Policy",
                "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                "frame-ancestors 'none'");
  if (request.headers.Get("If-None-Match").value_or("") == etag) {
    r.status = 304;
    return r;
  }
  r.status = 200;
  r.headers.Set("Content-Type", std::string(ContentTypeOf(name)));
  if (gzip) r.headers.Set("Content-Encoding", "gzip");
  if (request.method == "HEAD") {
    r.head_content_length = data.size();
  } else {
    r.body.assign(data);
  }
  return r;
}

}  // namespace nimbus::console
