#include "metrics/cbor.h"

#include <cstdint>
#include <limits>
#include <optional>
#include <vector>

#include <boost/json.hpp>
#include <cbor.h>

#include "base/encoding.h"

namespace nimbus::metrics {
namespace {

namespace json = boost::json;

constexpr size_t kMaxDepth = 64;

// Builds the JSON value from libcbor's streaming callbacks. Containers being
// filled are on `stack`; a finished value goes into its parent (or is the root).
class Builder {
 public:
  explicit Builder(size_t input_size) : input_size_(input_size) {}

  static const cbor_callbacks& Callbacks() {
    static const cbor_callbacks callbacks = [] {
      cbor_callbacks c = cbor_empty_callbacks;
      c.uint8 = [](void* b, uint8_t v) { Self(b).Unsigned(v); };
      c.uint16 = [](void* b, uint16_t v) { Self(b).Unsigned(v); };
      c.uint32 = [](void* b, uint32_t v) { Self(b).Unsigned(v); };
      c.uint64 = [](void* b, uint64_t v) { Self(b).Unsigned(v); };
      c.negint8 = [](void* b, uint8_t v) { Self(b).Negative(v); };
      c.negint16 = [](void* b, uint16_t v) { Self(b).Negative(v); };
      c.negint32 = [](void* b, uint32_t v) { Self(b).Negative(v); };
      c.negint64 = [](void* b, uint64_t v) { Self(b).Negative(v); };
      c.string = [](void* b, cbor_data d, size_t n) { Self(b).Chunk(Frame::kText, d, n); };
      c.byte_string = [](void* b, cbor_data d, size_t n) { Self(b).Chunk(Frame::kBytes, d, n); };
      c.string_start = [](void* b) { Self(b).Open(Frame::kText, std::nullopt); };
      c.byte_string_start = [](void* b) { Self(b).Open(Frame::kBytes, std::nullopt); };
      c.array_start = [](void* b, size_t n) { Self(b).Open(Frame::kArray, n); };
      c.indef_array_start = [](void* b) { Self(b).Open(Frame::kArray, std::nullopt); };
      c.map_start = [](void* b, size_t n) { Self(b).Open(Frame::kMap, n); };
      c.indef_map_start = [](void* b) { Self(b).Open(Frame::kMap, std::nullopt); };
      c.tag = [](void*, uint64_t) {};  // the tagged item stands for itself
      c.float2 = [](void* b, float v) { Self(b).Emit(static_cast<double>(v)); };
      c.float4 = [](void* b, float v) { Self(b).Emit(static_cast<double>(v)); };
      c.float8 = [](void* b, double v) { Self(b).Emit(v); };
      c.null = [](void* b) { Self(b).Emit(nullptr); };
      c.undefined = [](void* b) { Self(b).Emit(nullptr); };
      c.boolean = [](void* b, bool v) { Self(b).Emit(v); };
      c.indef_break = [](void* b) { Self(b).Break(); };
      return c;
    }();
    return callbacks;
  }

  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  bool done() const { return root_.has_value() && stack_.empty(); }
  json::value Take() { return std::move(*root_); }

 private:
  struct Frame {
    enum Kind { kArray, kMap, kText, kBytes } kind;
    std::optional<uint64_t> remaining;  // items still to come; nullopt: until a break
    json::value value;
    std::string text;                // kText / kBytes: the chunks so far
    std::optional<std::string> key;  // kMap: a key waiting for its value
  };

  static Builder& Self(void* b) { return *static_cast<Builder*>(b); }

  void Fail(std::string message) {
    if (error_.empty()) error_ = std::move(message);
  }

  void Unsigned(uint64_t v) {
    if (v <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      Emit(static_cast<int64_t>(v));
    } else {
      Emit(v);
    }
  }
  // CBOR's negative integer n stands for -1 - n.
  void Negative(uint64_t n) {
    if (n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return Fail("integer out of range");
    }
    Emit(-1 - static_cast<int64_t>(n));
  }

  void Open(Frame::Kind kind, std::optional<uint64_t> count) {
    if (failed()) return;
    if (stack_.size() >= kMaxDepth) return Fail("nested too deeply");
    // Every item takes at least one byte: a longer count is a lie.
    if (count && *count > input_size_) return Fail("a length longer than the input");
    if (count && *count == 0) {
      return Emit(kind == Frame::kArray ? json::value(json::array()) : json::value(json::object()));
    }
    Frame f{kind, std::nullopt, nullptr, {}, std::nullopt};
    if (kind == Frame::kArray) f.value = json::array();
    if (kind == Frame::kMap) f.value = json::object();
    if (count) f.remaining = kind == Frame::kMap ? 2 * *count : *count;
    stack_.push_back(std::move(f));
  }

  void Chunk(Frame::Kind kind, cbor_data data, size_t n) {
    if (failed()) return;
    std::string_view bytes(reinterpret_cast<const char*>(data), n);
    if (!stack_.empty() &&
        (stack_.back().kind == Frame::kText || stack_.back().kind == Frame::kBytes)) {
      // A chunk of an indefinite-length string: of the same major type.
      if (stack_.back().kind != kind) {
        return Fail("a chunk of the wrong type in an indefinite string");
      }
      stack_.back().text.append(bytes);
      return;
    }
    if (kind == Frame::kText) return Emit(json::string(bytes));
    Emit(json::string(Base64Encode(bytes)));
  }

  void Break() {
    if (failed()) return;
    if (stack_.empty() || stack_.back().remaining) {
      return Fail("a break outside an indefinite-length item");
    }
    Frame f = std::move(stack_.back());
    stack_.pop_back();
    switch (f.kind) {
      case Frame::kText:
        return Emit(json::string(f.text));
      case Frame::kBytes:
        return Emit(json::string(Base64Encode(f.text)));
      case Frame::kMap:
        if (f.key) return Fail("a map key without a value");
        [[fallthrough]];
      case Frame::kArray:
        return Emit(std::move(f.value));
    }
  }

  // A complete value: into the container being filled, or the root.
  void Emit(json::value v) {
    if (failed()) return;
    while (true) {
      if (stack_.empty()) {
        if (root_) return Fail("more than one item");
        root_ = std::move(v);
        return;
      }
      Frame& f = stack_.back();
      if (f.kind == Frame::kText || f.kind == Frame::kBytes) {
        return Fail("an item inside an indefinite string");
      }
      if (f.kind == Frame::kArray) {
        f.value.as_array().push_back(std::move(v));
      } else if (!f.key) {
        if (!v.is_string()) return Fail("a map key that is not text");
        f.key = std::string(v.as_string());
      } else {
        f.value.as_object()[*f.key] = std::move(v);
        f.key.reset();
      }
      if (!f.remaining || --*f.remaining > 0) return;
      // The definite container is full: it is the value to place next.
      v = std::move(f.value);
      stack_.pop_back();
    }
  }

  const size_t input_size_;
  std::vector<Frame> stack_;
  std::optional<json::value> root_;
  std::string error_;
};

class Encoder {
 public:
  explicit Encoder(const std::set<std::string, std::less<>>& timestamp_keys)
      : timestamp_keys_(timestamp_keys) {}

  void Value(const json::value& v) {
    switch (v.kind()) {
      case json::kind::null:
        return Put(cbor_encode_null(buf_, sizeof buf_));
      case json::kind::bool_:
        return Put(cbor_encode_bool(v.get_bool(), buf_, sizeof buf_));
      case json::kind::int64: {
        const int64_t n = v.get_int64();
        if (n >= 0) return Put(cbor_encode_uint(static_cast<uint64_t>(n), buf_, sizeof buf_));
        return Put(cbor_encode_negint(static_cast<uint64_t>(-1 - n), buf_, sizeof buf_));
      }
      case json::kind::uint64:
        return Put(cbor_encode_uint(v.get_uint64(), buf_, sizeof buf_));
      case json::kind::double_:
        return Put(cbor_encode_double(v.get_double(), buf_, sizeof buf_));
      case json::kind::string: {
        const json::string& s = v.get_string();
        Put(cbor_encode_string_start(s.size(), buf_, sizeof buf_));
        out_.append(s.data(), s.size());
        return;
      }
      case json::kind::array:
        Put(cbor_encode_array_start(v.get_array().size(), buf_, sizeof buf_));
        for (const auto& e : v.get_array()) Value(e);
        return;
      case json::kind::object:
        Put(cbor_encode_map_start(v.get_object().size(), buf_, sizeof buf_));
        for (const auto& [k, x] : v.get_object()) {
          Value(json::string(k));
          if (timestamp_keys_.contains(std::string_view(k))) {
            Timestamps(x);
          } else {
            Value(x);
          }
        }
        return;
    }
  }

  std::string Take() { return std::move(out_); }

 private:
  void Timestamps(const json::value& v) {
    if (v.is_number()) {
      Put(cbor_encode_tag(1, buf_, sizeof buf_));
      return Put(cbor_encode_double(v.to_number<double>(), buf_, sizeof buf_));
    }
    if (v.is_array()) {
      Put(cbor_encode_array_start(v.get_array().size(), buf_, sizeof buf_));
      for (const auto& e : v.get_array()) Timestamps(e);
      return;
    }
    Value(v);
  }

  void Put(size_t n) { out_.append(reinterpret_cast<const char*>(buf_), n); }

  const std::set<std::string, std::less<>>& timestamp_keys_;
  unsigned char buf_[9];  // the longest header or scalar: 1 + 8 bytes
  std::string out_;
};

}  // namespace

Result<json::value> CborToJson(std::string_view data) {
  Builder builder(data.size());
  const auto* bytes = reinterpret_cast<cbor_data>(data.data());
  size_t offset = 0;
  while (offset < data.size()) {
    if (builder.done()) return InvalidArgument("CBOR: bytes after the item");
    cbor_decoder_result r =
        cbor_stream_decode(bytes + offset, data.size() - offset, &Builder::Callbacks(), &builder);
    if (r.status == CBOR_DECODER_NEDATA) return InvalidArgument("CBOR: truncated input");
    if (r.status != CBOR_DECODER_FINISHED || r.read == 0) {
      return InvalidArgument("CBOR: malformed input");
    }
    if (builder.failed()) return InvalidArgument("CBOR: " + builder.error());
    offset += r.read;
  }
  if (!builder.done()) return InvalidArgument("CBOR: truncated input");
  return builder.Take();
}

std::string JsonToCbor(const json::value& value,
                       const std::set<std::string, std::less<>>& timestamp_keys) {
  Encoder e(timestamp_keys);
  e.Value(value);
  return e.Take();
}

}  // namespace nimbus::metrics
