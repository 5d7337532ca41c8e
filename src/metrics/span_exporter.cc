#include "metrics/span_exporter.h"

#include <boost/json.hpp>
#include <fmt/format.h>

#include "base/encoding.h"
#include "base/log.h"

namespace nimbus::metrics {
namespace {

namespace json = boost::json;

bool IsHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
}

// The value of `key=` in a "k=v;k=v" header.
std::string_view Field(std::string_view header, std::string_view key) {
  size_t at = 0;
  while (at < header.size()) {
    size_t end = header.find(';', at);
    if (end == std::string_view::npos) end = header.size();
    std::string_view part = header.substr(at, end - at);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    if (part.size() > key.size() && part.starts_with(key) && part[key.size()] == '=') return part.substr(key.size() + 1);
    at = end + 1;
  }
  return {};
}

json::object StringAttribute(const char* key, std::string value) {
  return {{"key", key}, {"value", json::object{{"stringValue", std::move(value)}}}};
}

}  // namespace

std::optional<OtlpIds> OtlpIdsOf(const std::string& trace_header) {
  std::string_view root = Field(trace_header, "Root");
  // "1-" <8 hex> "-" <24 hex>
  if (root.size() != 35 || !root.starts_with("1-") || root[10] != '-' || !IsHex(root.substr(2, 8)) ||
      !IsHex(root.substr(11))) {
    return std::nullopt;
  }
  OtlpIds ids;
  ids.trace_id = AsciiLower(std::string(root.substr(2, 8)) + std::string(root.substr(11)));
  std::string_view parent = Field(trace_header, "Parent");
  if (parent.size() == 16 && IsHex(parent)) ids.parent_span_id = AsciiLower(parent);
  return ids;
}

std::string OtlpJson(const std::vector<Span>& spans, const std::string& region, const std::string& account_id,
                     const std::function<std::string(size_t)>& span_id) {
  json::array out;
  for (size_t i = 0; i < spans.size(); ++i) {
    const Span& s = spans[i];
    auto ids = OtlpIdsOf(s.trace_header);
    if (!ids) continue;
    json::array attributes{
        StringAttribute("faas.name", s.function),
        StringAttribute("faas.version", s.version),
        StringAttribute("faas.invocation_id", s.request_id),
        json::object{{"key", "faas.coldstart"}, {"value", json::object{{"boolValue", s.cold_start}}}},
        StringAttribute("cloud.provider", "aws"),
        StringAttribute("cloud.region", region),
        StringAttribute("cloud.account.id", account_id),
        StringAttribute("aws.xray.trace_header", s.trace_header),
    };
    json::object span{{"traceId", ids->trace_id},
                      {"spanId", span_id(i)},
                      {"name", s.function},
                      {"kind", 2},  // SPAN_KIND_SERVER
                      {"startTimeUnixNano", std::to_string(s.start_unix_ns)},
                      {"endTimeUnixNano", std::to_string(s.end_unix_ns)},
                      {"attributes", std::move(attributes)},
                      {"status", s.error.empty() ? json::object{{"code", 1}}
                                                 : json::object{{"code", 2}, {"message", s.error}}}};
    if (!ids->parent_span_id.empty()) span["parentSpanId"] = ids->parent_span_id;
    out.push_back(std::move(span));
  }
  json::object resource{{"attributes", json::array{StringAttribute("service.name", "nimbus"),
                                                   StringAttribute("cloud.provider", "aws")}}};
  return json::serialize(json::object{
      {"resourceSpans",
       json::array{json::object{{"resource", std::move(resource)},
                                {"scopeSpans", json::array{json::object{
                                                   {"scope", json::object{{"name", "nimbus.invoke"}}},
                                                   {"spans", std::move(out)}}}}}}}});
}

SpanExporter::SpanExporter(http::Endpoint collector, SpanExporterOptions options)
    : client_(std::move(collector)), options_(std::move(options)), thread_([this] { Run(); }) {}

SpanExporter::~SpanExporter() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void SpanExporter::Export(Span span) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (queue_.size() >= options_.max_queued) {
      ++dropped_;
      return;
    }
    queue_.push_back(std::move(span));
    if (queue_.size() < options_.max_batch) return;
  }
  cv_.notify_one();
}

void SpanExporter::Run() {
  std::unique_lock<std::mutex> l(mu_);
  while (true) {
    cv_.wait_for(l, options_.interval, [this] { return stopping_ || queue_.size() >= options_.max_batch; });
    while (!queue_.empty()) {
      std::vector<Span> batch;
      while (!queue_.empty() && batch.size() < options_.max_batch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      l.unlock();  // no I/O under the lock
      Send(std::move(batch));
      l.lock();
    }
    if (stopping_) return;
  }
}

void SpanExporter::Send(std::vector<Span> batch) {
  http::Request r;
  r.method = "POST";
  r.target = "/v1/traces";
  r.headers.Set("Content-Type", "application/json");
  r.body = OtlpJson(batch, options_.region, options_.account_id, [](size_t) { return RandomHex32().substr(0, 16); });
  http::SendOptions o;
  o.connect_timeout = std::chrono::milliseconds(2000);
  o.timeout = std::chrono::milliseconds(5000);
  auto response = client_.Send(r, o);
  if (response.has_value() && response->status / 100 == 2) {
    exported_ += batch.size();
    return;
  }
  dropped_ += batch.size();
  log::Warn("otlp: {} span(s) not exported to {}: {}", batch.size(), client_.endpoint().url,
            response.has_value() ? fmt::format("HTTP {}", response->status) : response.error().ToString());
}

}  // namespace nimbus::metrics
