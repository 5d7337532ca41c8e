#include "sqs/sqs_api.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <set>
#include <variant>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "base/encoding.h"
#include "base/log.h"
#include "http/sigv4_scope.h"
#include "http/trace_header.h"

namespace nimbus::sqs {
namespace {

namespace json = boost::json;

constexpr std::string_view kTargetPrefix = "AmazonSQS.";
constexpr std::string_view kXmlns = "http://queue.amazonaws.com/doc/2012-11-05/";
constexpr int kMaxBatch = 10;

int64_t NowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// An SQS error: the JSON protocol's type (com.amazonaws.sqs#<type>), the query
// protocol's code, and whether the sender is at fault.
struct ApiError {
  std::string type;
  std::string code;
  std::string message;
  int status = 400;
};

ApiError NonExistentQueue() {
  return {"QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue",
          "The specified queue does not exist."};
}
ApiError InvalidParameterValue(std::string message) {
  return {"InvalidParameterValue", "InvalidParameterValue", std::move(message)};
}
ApiError MissingParameter(std::string_view name) {
  return {"MissingParameter", "MissingParameter",
          fmt::format("The request must contain the parameter {}.", name)};
}
ApiError InvalidAttributeName(std::string_view name) {
  return {"InvalidAttributeName", "InvalidAttributeName", fmt::format("Unknown Attribute {}.", name)};
}
ApiError InvalidAttributeValue(std::string_view name, std::string_view why = "") {
  return {"InvalidAttributeValue", "InvalidAttributeValue",
          why.empty() ? fmt::format("Invalid value for the parameter {}.", name)
                      : fmt::format("Invalid value for the parameter {}. Reason: {}", name, why)};
}
ApiError Internal(const Status& st) {
  if (st.code() == Code::kResourceExhausted) {  // the disk filled under the write
    return {"ServiceUnavailable", "ServiceUnavailable", "No space left on device in the data directory: " + st.message(),
            503};
  }
  return {"InternalError", "InternalError", st.message(), 500};
}

// The request's parameters, whichever protocol carried them.
class Params {
 public:
  virtual ~Params() = default;
  // A scalar (numbers and booleans as their text).
  virtual std::optional<std::string> String(std::string_view name) const = 0;
  // A list of strings: JSON array / query "<member>.N".
  virtual std::vector<std::string> List(std::string_view name, std::string_view member) const = 0;
  // A string map: JSON object / query "<member>.N.<key>" and ".<value>".
  virtual std::map<std::string, std::string> Map(std::string_view name, std::string_view member,
                                                 std::string_view key = "Name",
                                                 std::string_view value = "Value") const = 0;
  // MessageAttributes: JSON {name: {DataType, StringValue, BinaryValue(base64)}} /
  // query "MessageAttribute.N.Name" and ".Value.DataType" etc. nullopt: a bad value.
  virtual std::optional<MessageAttributes> Attributes(std::string_view name,
                                                      std::string_view member) const = 0;
  // Batch entries: JSON array of objects / query "<member>.N.*".
  virtual std::vector<std::unique_ptr<Params>> Entries(std::string_view name,
                                                       std::string_view member) const = 0;
};

class JsonParams final : public Params {
 public:
  explicit JsonParams(json::object o) : o_(std::move(o)) {}

  std::optional<std::string> String(std::string_view name) const override {
    const json::value* v = o_.if_contains(name);
    if (v == nullptr || v->is_null()) return std::nullopt;
    if (v->is_string()) return std::string(v->as_string());
    if (v->is_int64()) return std::to_string(v->as_int64());
    if (v->is_uint64()) return std::to_string(v->as_uint64());
    if (v->is_bool()) return v->as_bool() ? "true" : "false";
    return json::serialize(*v);
  }
  std::vector<std::string> List(std::string_view name, std::string_view) const override {
    std::vector<std::string> out;
    const json::value* v = o_.if_contains(name);
    if (v == nullptr || !v->is_array()) return out;
    for (const auto& e : v->as_array()) {
      if (e.is_string()) out.emplace_back(e.as_string());
    }
    return out;
  }
  std::map<std::string, std::string> Map(std::string_view name, std::string_view, std::string_view,
                                         std::string_view) const override {
    std::map<std::string, std::string> out;
    const json::value* v = o_.if_contains(name);
    if (v == nullptr || !v->is_object()) return out;
    for (const auto& [k, x] : v->as_object()) {
      out[std::string(k)] = x.is_string() ? std::string(x.as_string()) : json::serialize(x);
    }
    return out;
  }
  std::optional<MessageAttributes> Attributes(std::string_view name, std::string_view) const override {
    MessageAttributes out;
    const json::value* v = o_.if_contains(name);
    if (v == nullptr || !v->is_object()) return out;
    for (const auto& [k, x] : v->as_object()) {
      if (!x.is_object()) return std::nullopt;
      const auto& a = x.as_object();
      MessageAttributeValue value;
      if (const auto* t = a.if_contains("DataType"); t && t->is_string()) value.data_type = t->as_string();
      if (const auto* s = a.if_contains("StringValue"); s && s->is_string()) value.string_value = s->as_string();
      if (const auto* b = a.if_contains("BinaryValue"); b && b->is_string()) {
        auto raw = Base64Decode(std::string(b->as_string()));
        if (!raw) return std::nullopt;
        value.binary_value = std::move(*raw);
      }
      out[std::string(k)] = std::move(value);
    }
    return out;
  }
  std::vector<std::unique_ptr<Params>> Entries(std::string_view name, std::string_view) const override {
    std::vector<std::unique_ptr<Params>> out;
    const json::value* v = o_.if_contains(name);
    if (v == nullptr || !v->is_array()) return out;
    for (const auto& e : v->as_array()) {
      out.push_back(std::make_unique<JsonParams>(e.is_object() ? e.as_object() : json::object{}));
    }
    return out;
  }

 private:
  json::object o_;
};

class QueryParams final : public Params {
 public:
  explicit QueryParams(std::map<std::string, std::string> p) : p_(std::move(p)) {}

  std::optional<std::string> String(std::string_view name) const override {
    auto it = p_.find(std::string(name));
    if (it == p_.end()) return std::nullopt;
    return it->second;
  }
  std::vector<std::string> List(std::string_view, std::string_view member) const override {
    std::vector<std::string> out;
    for (int i = 1;; ++i) {
      auto it = p_.find(fmt::format("{}.{}", member, i));
      if (it == p_.end()) break;
      out.push_back(it->second);
    }
    return out;
  }
  std::map<std::string, std::string> Map(std::string_view, std::string_view member, std::string_view key,
                                         std::string_view value) const override {
    std::map<std::string, std::string> out;
    for (int i = 1;; ++i) {
      auto k = p_.find(fmt::format("{}.{}.{}", member, i, key));
      if (k == p_.end()) break;
      auto v = p_.find(fmt::format("{}.{}.{}", member, i, value));
      out[k->second] = v == p_.end() ? "" : v->second;
    }
    return out;
  }
  std::optional<MessageAttributes> Attributes(std::string_view, std::string_view member) const override {
    MessageAttributes out;
    for (int i = 1;; ++i) {
      std::string base = fmt::format("{}.{}.", member, i);
      auto n = p_.find(base + "Name");
      if (n == p_.end()) break;
      MessageAttributeValue v;
      if (auto t = p_.find(base + "Value.DataType"); t != p_.end()) v.data_type = t->second;
      if (auto s = p_.find(base + "Value.StringValue"); s != p_.end()) v.string_value = s->second;
      if (auto b = p_.find(base + "Value.BinaryValue"); b != p_.end()) {
        auto raw = Base64Decode(b->second);
        if (!raw) return std::nullopt;
        v.binary_value = std::move(*raw);
      }
      out[n->second] = std::move(v);
    }
    return out;
  }
  std::vector<std::unique_ptr<Params>> Entries(std::string_view, std::string_view member) const override {
    std::vector<std::unique_ptr<Params>> out;
    for (int i = 1;; ++i) {
      std::string prefix = fmt::format("{}.{}.", member, i);
      std::map<std::string, std::string> entry;
      for (auto it = p_.lower_bound(prefix); it != p_.end() && it->first.starts_with(prefix); ++it) {
        entry[it->first.substr(prefix.size())] = it->second;
      }
      if (entry.empty()) break;
      out.push_back(std::make_unique<QueryParams>(std::move(entry)));
    }
    return out;
  }

 private:
  std::map<std::string, std::string> p_;
};

// One parsed request.
struct Call {
  bool json = true;
  std::string action;
  std::unique_ptr<Params> params;
  std::string host;
  std::string path_queue;  // query protocol: a request POSTed to the queue's URL
  std::string request_id = NewUuid();
  std::string trace_header;  // of the request (X-Amzn-Trace-Id / traceparent): a sent message's AWSTraceHeader
  size_t body_size = 0;      // of the request: what a send may add to the disk
};

// Query-protocol element names of lists and maps in results (flattened).
struct XmlShape {
  const char* field;
  const char* element;
  const char* key = nullptr;    // maps: the key's element
  const char* value = nullptr;  // maps: the value's element
};
constexpr XmlShape kXmlShapes[] = {
    {"QueueUrls", "QueueUrl"},
    {"Messages", "Message"},
    {"Failed", "BatchResultErrorEntry"},
    {"Attributes", "Attribute", "Name", "Value"},
    {"MessageAttributes", "MessageAttribute", "Name", "Value"},
    {"Tags", "Tag", "Key", "Value"},
};

void AppendXml(std::string& out, std::string_view name, const json::value& v, std::string_view action);

void AppendXmlFields(std::string& out, const json::object& o, std::string_view action) {
  for (const auto& [k, v] : o) AppendXml(out, k, v, action);
}

void AppendXml(std::string& out, std::string_view name, const json::value& v, std::string_view action) {
  const XmlShape* shape = nullptr;
  for (const auto& s : kXmlShapes) {
    if (name == s.field) shape = &s;
  }
  std::string element = shape != nullptr ? shape->element : std::string(name);
  if (name == "Successful") element = std::string(action) + "ResultEntry";
  if (v.is_array()) {
    for (const auto& e : v.as_array()) AppendXml(out, element, e, action);
    return;
  }
  if (v.is_object() && shape != nullptr && shape->key != nullptr) {
    for (const auto& [k, x] : v.as_object()) {
      out += fmt::format("<{0}><{1}>{2}</{1}>", element, shape->key, XmlEscape(k));
      AppendXml(out, shape->value, x, action);
      out += fmt::format("</{}>", element);
    }
    return;
  }
  out += fmt::format("<{}>", name);
  if (v.is_object()) {
    AppendXmlFields(out, v.as_object(), action);
  } else if (v.is_string()) {
    out += XmlEscape(v.as_string());
  } else if (v.is_bool()) {
    out += v.as_bool() ? "true" : "false";
  } else if (!v.is_null()) {
    out += json::serialize(v);
  }
  out += fmt::format("</{}>", name);
}

http::Response Reply(const Call& c, json::object result) {
  http::Response r;
  r.headers.Set("x-amzn-RequestId", c.request_id);
  if (c.json) {
    r.headers.Set("Content-Type", "application/x-amz-json-1.0");
    r.body = json::serialize(result);
    return r;
  }
  r.headers.Set("Content-Type", "text/xml");
  std::string& out = r.body;
  out = fmt::format(R"(<?xml version="1.0"?><{}Response xmlns="{}">)", c.action, kXmlns);
  if (!result.empty()) {
    out += fmt::format("<{}Result>", c.action);
    AppendXmlFields(out, result, c.action);
    out += fmt::format("</{}Result>", c.action);
  }
  out += fmt::format("<ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></{}Response>",
                     c.request_id, c.action);
  return r;
}

http::Response ErrorReply(const Call& c, const ApiError& e) {
  http::Response r;
  r.status = e.status;
  r.headers.Set("x-amzn-RequestId", c.request_id);
  const char* fault = e.status >= 500 ? "Receiver" : "Sender";
  if (c.json) {
    r.headers.Set("Content-Type", "application/x-amz-json-1.0");
    // The SDKs map the query protocol's code from this header (awsQueryCompatible).
    r.headers.Set("x-amzn-query-error", fmt::format("{};{}", e.code, fault));
    r.body = json::serialize(json::object{{"__type", "com.amazonaws.sqs#" + e.type}, {"message", e.message}});
    return r;
  }
  r.headers.Set("Content-Type", "text/xml");
  r.body = fmt::format(R"(<?xml version="1.0"?><ErrorResponse xmlns="{}"><Error><Type>{}</Type>)"
                       "<Code>{}</Code><Message>{}</Message><Detail/></Error><RequestId>{}</RequestId>"
                       "</ErrorResponse>",
                       kXmlns, fault, e.code, XmlEscape(e.message), c.request_id);
  return r;
}

// Whether `s` is UTF-8 of only the characters SQS allows in a message: #x9, #xA,
// #xD, #x20-#xD7FF, #xE000-#xFFFD, #x10000-#x10FFFF.
bool AllowedMessageText(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    uint32_t cp;
    int extra;
    if (c < 0x80) {
      cp = c;
      extra = 0;
    } else if ((c & 0xe0) == 0xc0) {
      cp = c & 0x1f;
      extra = 1;
    } else if ((c & 0xf0) == 0xe0) {
      cp = c & 0x0f;
      extra = 2;
    } else if ((c & 0xf8) == 0xf0) {
      cp = c & 0x07;
      extra = 3;
    } else {
      return false;
    }
    for (int k = 1; k <= extra; ++k) {
      if (i + k >= s.size()) return false;
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    // Overlong forms are not UTF-8.
    if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) || (extra == 3 && cp < 0x10000)) return false;
    bool ok = cp == 0x9 || cp == 0xa || cp == 0xd || (cp >= 0x20 && cp <= 0xd7ff) ||
              (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);
    if (!ok) return false;
    i += static_cast<size_t>(extra) + 1;
  }
  return true;
}

ApiError InvalidMessageContents() {
  return {"InvalidMessageContents", "InvalidMessageContents",
          "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | "
          "#xE000 to #xFFFD | #x10000 to #x10FFFF"};
}

bool ValidQueueName(std::string_view name, bool fifo) {
  std::string_view base = name;
  if (fifo) {
    if (!base.ends_with(".fifo")) return false;
    base.remove_suffix(5);
  }
  if (name.empty() || name.size() > 80 || base.empty()) return false;
  return std::all_of(base.begin(), base.end(), [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_';
  });
}

std::optional<int> ParseInt(const std::string& s) {
  if (s.empty() || s.size() > 10) return std::nullopt;
  size_t i = s[0] == '-' ? 1 : 0;
  if (i == s.size()) return std::nullopt;
  for (size_t j = i; j < s.size(); ++j) {
    if (!std::isdigit(static_cast<unsigned char>(s[j]))) return std::nullopt;
  }
  return std::atoi(s.c_str());
}

// The settable attributes and their ranges; nullopt on success, else the error.
std::optional<ApiError> ValidateAttributes(const std::map<std::string, std::string>& a, bool creating,
                                           bool fifo, std::string_view arn_prefix) {
  struct Range {
    const char* name;
    int lo, hi;
  };
  static constexpr Range kRanges[] = {
      {"DelaySeconds", 0, 900},
      {"MaximumMessageSize", 1024, 1048576},
      {"MessageRetentionPeriod", 60, 1209600},
      {"ReceiveMessageWaitTimeSeconds", 0, 20},
      {"VisibilityTimeout", 0, 43200},
      {"KmsDataKeyReusePeriodSeconds", 60, 86400},
  };
  for (const auto& [k, v] : a) {
    const Range* range = nullptr;
    for (const auto& r : kRanges) {
      if (k == r.name) range = &r;
    }
    if (range != nullptr) {
      auto n = ParseInt(v);
      if (!n || *n < range->lo || *n > range->hi) return InvalidAttributeValue(k);
      continue;
    }
    if (k == "FifoQueue") {
      if (!creating) return InvalidAttributeName(k);
      if (v != "true" && v != "false") return InvalidAttributeValue(k);
      continue;
    }
    if (k == "ContentBasedDeduplication" || k == "DeduplicationScope" || k == "FifoThroughputLimit") {
      if (!fifo) return InvalidAttributeName(k);
      continue;
    }
    if (k == "SqsManagedSseEnabled") {
      if (v != "true" && v != "false") return InvalidAttributeValue(k);
      continue;
    }
    if (k == "RedrivePolicy") {
      if (v.empty()) continue;
      boost::system::error_code ec;
      json::value p = json::parse(v, ec);
      const json::value* arn = !ec && p.is_object() ? p.as_object().if_contains("deadLetterTargetArn") : nullptr;
      const json::value* max = !ec && p.is_object() ? p.as_object().if_contains("maxReceiveCount") : nullptr;
      int count = 0;
      if (max != nullptr && max->is_int64()) count = static_cast<int>(max->as_int64());
      if (max != nullptr && max->is_string()) count = ParseInt(std::string(max->as_string())).value_or(0);
      if (arn == nullptr || !arn->is_string() || !std::string_view(arn->as_string()).starts_with(arn_prefix) ||
          count < 1 || count > 1000) {
        return InvalidAttributeValue(k, "Redrive policy is not a valid JSON map with "
                                        "deadLetterTargetArn and maxReceiveCount (1 to 1000).");
      }
      continue;
    }
    if (k == "Policy" || k == "RedriveAllowPolicy" || k == "KmsMasterKeyId") continue;
    return InvalidAttributeName(k);
  }
  return std::nullopt;
}

constexpr std::string_view kSystemAttributes[] = {
    "SenderId", "SentTimestamp", "ApproximateReceiveCount", "ApproximateFirstReceiveTimestamp",
    "SequenceNumber", "MessageDeduplicationId", "MessageGroupId", "AWSTraceHeader",
    "DeadLetterQueueSourceArn"};

class Executor {
 public:
  Executor(QueueStore& store, const SqsApiOptions& options, const Call& call)
      : store_(store), options_(options), c_(call), p_(*call.params) {}

  // The queue a message was sent to (for waking long polls), and whether a
  // ReceiveMessage found nothing and may wait (seconds).
  std::string sent_to;
  int wait_seconds = 0;

  http::Response Run() {
    const std::string& a = c_.action;
    if (a == "CreateQueue") return CreateQueue();
    if (a == "GetQueueUrl") return GetQueueUrl();
    if (a == "ListQueues") return ListQueues();
    if (a == "DeleteQueue") return WithQueue([&](const QueueInfo& q) { return Done(store_.DeleteQueue(q.name)); });
    if (a == "GetQueueAttributes") return WithQueue([&](const QueueInfo& q) { return GetQueueAttributes(q); });
    if (a == "SetQueueAttributes") return WithQueue([&](const QueueInfo& q) { return SetQueueAttributes(q); });
    if (a == "PurgeQueue") return WithQueue([&](const QueueInfo& q) { return Done(store_.Purge(q.name)); });
    if ((a == "SendMessage" || a == "SendMessageBatch") && options_.disk != nullptr) {
      if (Status room = options_.disk->CheckRoomFor(c_.body_size); !room.ok()) {
        return ErrorReply(c_, ApiError{"ServiceUnavailable", "ServiceUnavailable", room.message(), 503});
      }
    }
    if (a == "SendMessage") return WithQueue([&](const QueueInfo& q) { return SendMessage(q); });
    if (a == "SendMessageBatch") return WithQueue([&](const QueueInfo& q) { return SendMessageBatch(q); });
    if (a == "ReceiveMessage") return WithQueue([&](const QueueInfo& q) { return ReceiveMessage(q); });
    if (a == "DeleteMessage") return WithQueue([&](const QueueInfo& q) { return DeleteMessage(q); });
    if (a == "DeleteMessageBatch") return WithQueue([&](const QueueInfo& q) { return DeleteMessageBatch(q); });
    if (a == "ChangeMessageVisibility") {
      return WithQueue([&](const QueueInfo& q) { return ChangeMessageVisibility(q); });
    }
    if (a == "ChangeMessageVisibilityBatch") {
      return WithQueue([&](const QueueInfo& q) { return ChangeMessageVisibilityBatch(q); });
    }
    return ErrorReply(c_, {"UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation",
                           fmt::format("Nimbus does not implement the SQS action {} yet", a)});
  }

 private:
  std::string ArnPrefix() const {
    return fmt::format("arn:aws:sqs:{}:{}:", options_.region, options_.account_id);
  }
  std::string QueueUrl(const std::string& name) const {
    return fmt::format("http://{}/{}/{}", c_.host, options_.account_id, name);
  }
  http::Response Done(const Status& st) {
    if (st.code() == Code::kNotFound) return ErrorReply(c_, NonExistentQueue());
    if (!st.ok()) return ErrorReply(c_, Internal(st));
    return Reply(c_, {});
  }

  // The queue named by QueueUrl (or the URL the request was POSTed to).
  template <typename F>
  http::Response WithQueue(F f) {
    std::string url = p_.String("QueueUrl").value_or(c_.path_queue);
    if (url.empty()) return ErrorReply(c_, MissingParameter("QueueUrl"));
    std::string name = url.substr(url.rfind('/') + 1);
    auto q = store_.GetQueue(name);
    if (!q.has_value()) {
      return ErrorReply(c_, q.error().code() == Code::kNotFound ? NonExistentQueue() : Internal(q.error()));
    }
    return f(*q);
  }

  http::Response CreateQueue() {
    auto name = p_.String("QueueName");
    if (!name) return ErrorReply(c_, MissingParameter("QueueName"));
    auto attributes = p_.Map("Attributes", "Attribute");
    const bool fifo = attributes.count("FifoQueue") != 0 && attributes["FifoQueue"] == "true";
    if (!ValidQueueName(*name, fifo)) {
      return ErrorReply(c_, InvalidParameterValue(
                                fifo || name->ends_with(".fifo")
                                    ? "The name of a FIFO queue can only include alphanumeric characters, "
                                      "hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in "
                                      "length."
                                    : "Can only include alphanumeric characters, hyphens, or underscores. 1 "
                                      "to 80 in length"));
    }
    if (auto e = ValidateAttributes(attributes, true, fifo, ArnPrefix())) return ErrorReply(c_, *e);
    if (attributes.count("FifoQueue") != 0 && !fifo) attributes.erase("FifoQueue");
    std::map<std::string, std::string> all = DefaultQueueAttributes(fifo);
    for (auto& [k, v] : attributes) all[k] = v;
    auto q = store_.CreateQueue(*name, std::move(all));
    if (!q.has_value()) {
      if (q.error().code() == Code::kConflict) {
        return ErrorReply(c_, {"QueueNameExists", "QueueAlreadyExists",
                               fmt::format("A queue already exists with the same name and a different "
                                           "value for attribute(s) {}",
                                           q.error().message())});
      }
      return ErrorReply(c_, Internal(q.error()));
    }
    return Reply(c_, {{"QueueUrl", QueueUrl(q->name)}});
  }

  http::Response GetQueueUrl() {
    auto name = p_.String("QueueName");
    if (!name) return ErrorReply(c_, MissingParameter("QueueName"));
    auto q = store_.GetQueue(*name);
    if (!q.has_value()) return ErrorReply(c_, NonExistentQueue());
    return Reply(c_, {{"QueueUrl", QueueUrl(q->name)}});
  }

  http::Response ListQueues() {
    auto names = store_.ListQueues(p_.String("QueueNamePrefix").value_or(""));
    if (!names.has_value()) return ErrorReply(c_, Internal(names.error()));
    int max = 1000;
    if (auto m = p_.String("MaxResults")) {
      auto n = ParseInt(*m);
      if (!n || *n < 1 || *n > 1000) return ErrorReply(c_, InvalidParameterValue("MaxResults must be 1 to 1000"));
      max = *n;
    }
    size_t start = 0;
    if (auto token = p_.String("NextToken")) {
      auto after = Base64Decode(*token);
      if (!after) return ErrorReply(c_, InvalidParameterValue("Invalid NextToken"));
      start = static_cast<size_t>(std::upper_bound(names->begin(), names->end(), *after) - names->begin());
    }
    json::array urls;
    size_t i = start;
    for (; i < names->size() && static_cast<int>(urls.size()) < max; ++i) urls.push_back(json::string(QueueUrl((*names)[i])));
    json::object result;
    if (!urls.empty()) result["QueueUrls"] = std::move(urls);
    if (i < names->size() && p_.String("MaxResults")) result["NextToken"] = Base64Encode((*names)[i - 1]);
    return Reply(c_, std::move(result));
  }

  http::Response GetQueueAttributes(const QueueInfo& q) {
    std::vector<std::string> wanted = p_.List("AttributeNames", "AttributeName");
    const bool all = std::find(wanted.begin(), wanted.end(), "All") != wanted.end();
    std::map<std::string, std::string> values = q.attributes;
    auto counts = store_.Counts(q.name, NowMillis());
    if (!counts.has_value()) return ErrorReply(c_, Internal(counts.error()));
    values["QueueArn"] = ArnPrefix() + q.name;
    values["ApproximateNumberOfMessages"] = std::to_string(counts->visible);
    values["ApproximateNumberOfMessagesNotVisible"] = std::to_string(counts->in_flight);
    values["ApproximateNumberOfMessagesDelayed"] = std::to_string(counts->delayed);
    values["CreatedTimestamp"] = std::to_string(q.created_s);
    values["LastModifiedTimestamp"] = std::to_string(q.modified_s);
    json::object out;
    for (const auto& name : wanted) {
      if (name == "All") continue;
      auto it = values.find(name);
      if (it == values.end()) {
        static const std::set<std::string> kKnown = {
            "Policy", "RedrivePolicy", "RedriveAllowPolicy", "KmsMasterKeyId",
            "KmsDataKeyReusePeriodSeconds", "FifoQueue", "ContentBasedDeduplication",
            "DeduplicationScope", "FifoThroughputLimit"};
        if (kKnown.count(name) == 0) return ErrorReply(c_, InvalidAttributeName(name));
        continue;
      }
      out[it->first] = it->second;
    }
    if (all) {
      for (const auto& [k, v] : values) out[k] = v;
    }
    json::object result;
    if (!out.empty()) result["Attributes"] = std::move(out);
    return Reply(c_, std::move(result));
  }

  http::Response SetQueueAttributes(const QueueInfo& q) {
    auto changes = p_.Map("Attributes", "Attribute");
    if (auto e = ValidateAttributes(changes, false, q.fifo(), ArnPrefix())) return ErrorReply(c_, *e);
    return Done(store_.SetAttributes(q.name, changes));
  }

  // Validates one message to send; nullopt on success.
  std::optional<ApiError> BuildSend(const QueueInfo& q, const Params& p, SendRequest& out) {
    auto body = p.String("MessageBody");
    if (!body || body->empty()) return MissingParameter("MessageBody");
    if (!AllowedMessageText(*body)) return InvalidMessageContents();
    out.body = std::move(*body);
    auto attributes = p.Attributes("MessageAttributes", "MessageAttribute");
    if (!attributes) return InvalidParameterValue("A message attribute value is not valid base64.");
    if (attributes->size() > 10) {
      return InvalidParameterValue("Number of message attributes [" + std::to_string(attributes->size()) +
                                   "] exceeds the allowed maximum [10].");
    }
    size_t size = out.body.size();
    for (const auto& [name, v] : *attributes) {
      if (v.data_type.empty()) {
        return InvalidParameterValue(fmt::format("The message attribute '{}' must contain non-empty message "
                                                 "attribute type.",
                                                 name));
      }
      const bool binary = v.data_type.starts_with("Binary");
      if (!binary && !v.data_type.starts_with("String") && !v.data_type.starts_with("Number")) {
        return InvalidParameterValue(fmt::format("The type of message (user) attribute '{}' is invalid. You "
                                                 "must use only the following supported type prefixes: "
                                                 "Binary, Number, String.",
                                                 name));
      }
      if ((binary && v.binary_value.empty()) || (!binary && v.string_value.empty())) {
        return InvalidParameterValue(fmt::format("The message attribute '{}' must contain non-empty message "
                                                 "attribute value for message attribute type '{}'.",
                                                 name, v.data_type));
      }
      if (!binary && !AllowedMessageText(v.string_value)) return InvalidMessageContents();
      size += name.size() + v.data_type.size() + v.string_value.size() + v.binary_value.size();
    }
    out.attributes = std::move(*attributes);
    // System attributes: only AWSTraceHeader exists; without it, the sender's
    // trace header (as SQS takes it from an X-Ray-traced SendMessage).
    auto system = p.Attributes("MessageSystemAttributes", "MessageSystemAttribute");
    if (!system) return InvalidParameterValue("A message system attribute value is not valid.");
    out.trace_header = c_.trace_header;
    for (const auto& [name, v] : *system) {
      if (name != "AWSTraceHeader") {
        return InvalidParameterValue(fmt::format("Message system attribute name '{}' is invalid.", name));
      }
      if (v.data_type != "String" || v.string_value.empty()) {
        return InvalidParameterValue("Message system attribute 'AWSTraceHeader' must have data type String and a "
                                     "non-empty value.");
      }
      out.trace_header = v.string_value;
    }
    const int max_size = q.IntAttribute("MaximumMessageSize", 1048576);
    if (static_cast<int64_t>(size) > max_size) {
      return InvalidParameterValue(fmt::format("One or more parameters are invalid. Reason: Message must be "
                                               "shorter than {} bytes.",
                                               max_size));
    }
    if (auto d = p.String("DelaySeconds")) {
      auto n = ParseInt(*d);
      if (!n || *n < 0 || *n > 900) {
        return InvalidParameterValue(fmt::format("Value {} for parameter DelaySeconds is invalid. Reason: must "
                                                 "be between 0 and 900, if provided.",
                                                 *d));
      }
      if (q.fifo()) {
        return InvalidParameterValue("Value " + *d + " for parameter DelaySeconds is invalid. Reason: The "
                                     "request include parameter that is not valid for this queue type.");
      }
      out.delay_seconds = *n;
    }
    if (q.fifo()) {
      auto group = p.String("MessageGroupId");
      if (!group || group->empty()) return MissingParameter("MessageGroupId");
      out.group_id = std::move(*group);
      if (auto dedup = p.String("MessageDeduplicationId"); dedup && !dedup->empty()) {
        out.dedup_id = std::move(*dedup);
      } else if (q.attributes.count("ContentBasedDeduplication") &&
                 q.attributes.at("ContentBasedDeduplication") == "true") {
        out.dedup_id = HexEncode(Sha256(out.body));
      } else {
        return InvalidParameterValue("The queue should either have ContentBasedDeduplication enabled or "
                                     "MessageDeduplicationId provided explicitly");
      }
    } else if (p.String("MessageGroupId") || p.String("MessageDeduplicationId")) {
      // Standard queues accept MessageGroupId (fair queues) and ignore it.
      if (p.String("MessageDeduplicationId")) {
        return InvalidParameterValue("The request include parameter MessageDeduplicationId that is not "
                                     "valid for this queue type");
      }
    }
    return std::nullopt;
  }

  json::object SendResultJson(const SendResult& r) {
    json::object o{{"MessageId", r.id}, {"MD5OfMessageBody", r.md5_body}};
    if (!r.md5_attributes.empty()) o["MD5OfMessageAttributes"] = r.md5_attributes;
    if (!r.sequence_number.empty()) o["SequenceNumber"] = r.sequence_number;
    return o;
  }

  http::Response SendMessage(const QueueInfo& q) {
    SendRequest request;
    if (auto e = BuildSend(q, p_, request)) return ErrorReply(c_, *e);
    auto r = store_.Send(q.name, request, NowMillis());
    if (!r.has_value()) return Done(r.error());
    sent_to = q.name;
    return Reply(c_, SendResultJson(*r));
  }

  // Checks the batch's size and entry ids; nullopt on success.
  std::optional<ApiError> CheckBatch(const std::vector<std::unique_ptr<Params>>& entries) {
    if (entries.empty()) {
      return ApiError{"EmptyBatchRequest", "AWS.SimpleQueueService.EmptyBatchRequest",
                      "There should be at least one SendMessageBatchRequestEntry in the request."};
    }
    if (entries.size() > kMaxBatch) {
      return ApiError{"TooManyEntriesInBatchRequest", "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
                      fmt::format("Maximum number of entries per request are 10. You have sent {}.",
                                  entries.size())};
    }
    std::set<std::string> ids;
    for (const auto& e : entries) {
      std::string id = e->String("Id").value_or("");
      bool valid = !id.empty() && id.size() <= 80 && std::all_of(id.begin(), id.end(), [](char ch) {
        return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_';
      });
      if (!valid) {
        return ApiError{"InvalidBatchEntryId", "AWS.SimpleQueueService.InvalidBatchEntryId",
                        "A batch entry id can only contain alphanumeric characters, hyphens and underscores. "
                        "It can be at most 80 letters long."};
      }
      if (!ids.insert(id).second) {
        return ApiError{"BatchEntryIdsNotDistinct", "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
                        fmt::format("Id {} repeated.", id)};
      }
    }
    return std::nullopt;
  }

  static json::object Failure(const std::string& id, const ApiError& e) {
    return {{"Id", id}, {"SenderFault", e.status < 500}, {"Code", e.code}, {"Message", e.message}};
  }

  template <typename F>
  http::Response Batch(std::string_view member, F each) {
    auto entries = p_.Entries("Entries", member);
    if (auto e = CheckBatch(entries)) return ErrorReply(c_, *e);
    json::array ok, failed;
    for (const auto& entry : entries) {
      std::string id = *entry->String("Id");
      auto result = each(*entry);
      if (std::holds_alternative<ApiError>(result)) {
        failed.push_back(Failure(id, std::get<ApiError>(result)));
      } else {
        json::object o = std::get<json::object>(std::move(result));
        o["Id"] = id;
        ok.push_back(std::move(o));
      }
    }
    json::object out;
    out["Successful"] = std::move(ok);
    out["Failed"] = std::move(failed);
    return Reply(c_, std::move(out));
  }

  http::Response SendMessageBatch(const QueueInfo& q) {
    return Batch("SendMessageBatchRequestEntry", [&](const Params& e) -> std::variant<json::object, ApiError> {
      SendRequest request;
      if (auto error = BuildSend(q, e, request)) return *error;
      auto r = store_.Send(q.name, request, NowMillis());
      if (!r.has_value()) return Internal(r.error());
      sent_to = q.name;
      return SendResultJson(*r);
    });
  }

  http::Response ReceiveMessage(const QueueInfo& q) {
    int max = 1;
    if (auto m = p_.String("MaxNumberOfMessages")) {
      auto n = ParseInt(*m);
      if (!n || *n < 1 || *n > 10) {
        return ErrorReply(c_, InvalidParameterValue(fmt::format(
                                  "Value {} for parameter MaxNumberOfMessages is invalid. Reason: Must be "
                                  "between 1 and 10, if provided.",
                                  *m)));
      }
      max = *n;
    }
    std::optional<int> visibility;
    if (auto v = p_.String("VisibilityTimeout")) {
      auto n = ParseInt(*v);
      if (!n || *n < 0 || *n > 43200) {
        return ErrorReply(c_, InvalidParameterValue("Value " + *v + " for parameter VisibilityTimeout is invalid."));
      }
      visibility = *n;
    }
    int wait = q.IntAttribute("ReceiveMessageWaitTimeSeconds", 0);
    if (auto w = p_.String("WaitTimeSeconds")) {
      auto n = ParseInt(*w);
      if (!n || *n < 0 || *n > 20) {
        return ErrorReply(c_, InvalidParameterValue(fmt::format(
                                  "Value {} for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 "
                                  "and <= 20, if provided.",
                                  *w)));
      }
      wait = *n;
    }
    std::vector<std::string> system = p_.List("AttributeNames", "AttributeName");
    for (auto& s : p_.List("MessageSystemAttributeNames", "MessageSystemAttributeName")) system.push_back(s);
    for (const auto& s : system) {
      if (s != "All" && std::find(std::begin(kSystemAttributes), std::end(kSystemAttributes), s) ==
                            std::end(kSystemAttributes)) {
        return ErrorReply(c_, InvalidAttributeName(s));
      }
    }
    const std::vector<std::string> wanted_attributes = p_.List("MessageAttributeNames", "MessageAttributeName");
    auto messages = store_.Receive(q.name, max, visibility, NowMillis());
    if (!messages.has_value()) return Done(messages.error());
    if (messages->empty()) wait_seconds = wait;
    json::array out;
    for (const auto& m : *messages) out.push_back(MessageJson(q, m, system, wanted_attributes));
    json::object result;
    if (!out.empty()) result["Messages"] = std::move(out);
    return Reply(c_, std::move(result));
  }

  json::object MessageJson(const QueueInfo& q, const Message& m, const std::vector<std::string>& system,
                           const std::vector<std::string>& wanted) {
    json::object o{{"MessageId", m.id},
                   {"ReceiptHandle", m.receipt},
                   {"MD5OfBody", m.md5_body},
                   {"Body", m.body}};
    auto want = [&system](std::string_view name) {
      return std::find(system.begin(), system.end(), "All") != system.end() ||
             std::find(system.begin(), system.end(), name) != system.end();
    };
    json::object attrs;
    if (want("SenderId")) attrs["SenderId"] = options_.account_id;
    if (want("SentTimestamp")) attrs["SentTimestamp"] = std::to_string(m.sent_ms);
    if (want("ApproximateReceiveCount")) attrs["ApproximateReceiveCount"] = std::to_string(m.receive_count);
    if (want("ApproximateFirstReceiveTimestamp")) {
      attrs["ApproximateFirstReceiveTimestamp"] = std::to_string(m.first_receive_ms);
    }
    if (q.fifo()) {
      if (want("SequenceNumber")) attrs["SequenceNumber"] = m.sequence_number;
      if (want("MessageGroupId")) attrs["MessageGroupId"] = m.group_id;
      if (want("MessageDeduplicationId")) attrs["MessageDeduplicationId"] = m.dedup_id;
    }
    if (!m.dead_letter_source.empty() && want("DeadLetterQueueSourceArn")) {
      attrs["DeadLetterQueueSourceArn"] = m.dead_letter_source;
    }
    if (!m.trace_header.empty() && want("AWSTraceHeader")) attrs["AWSTraceHeader"] = m.trace_header;
    if (!attrs.empty()) o["Attributes"] = std::move(attrs);
    // Message attributes by name, "All", ".*" or a "prefix.*".
    json::object mattrs;
    MessageAttributes selected;
    for (const auto& [name, v] : m.attributes) {
      bool include = false;
      for (const auto& w : wanted) {
        if (w == "All" || w == ".*" || w == name ||
            (w.ends_with(".*") && name.starts_with(w.substr(0, w.size() - 1)))) {
          include = true;
        }
      }
      if (!include) continue;
      selected[name] = v;
      json::object value{{"DataType", v.data_type}};
      if (v.data_type.starts_with("Binary")) {
        value["BinaryValue"] = Base64Encode(v.binary_value);
      } else {
        value["StringValue"] = v.string_value;
      }
      mattrs[name] = std::move(value);
    }
    if (!mattrs.empty()) {
      o["MD5OfMessageAttributes"] = Md5OfMessageAttributes(selected);
      o["MessageAttributes"] = std::move(mattrs);
    }
    return o;
  }

  // A receipt handle as this server makes them (64 hex characters).
  static bool WellFormedReceipt(const std::string& r) {
    return r.size() == 64 && std::all_of(r.begin(), r.end(), [](char ch) {
             return std::isxdigit(static_cast<unsigned char>(ch));
           });
  }
  ApiError InvalidReceipt(const std::string& r) {
    return {"ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid",
            fmt::format("The input receipt handle \"{}\" is not a valid receipt handle.", r)};
  }

  std::variant<json::object, ApiError> DeleteOne(const QueueInfo& q, const Params& p) {
    auto receipt = p.String("ReceiptHandle");
    if (!receipt) return MissingParameter("ReceiptHandle");
    if (!WellFormedReceipt(*receipt)) return InvalidReceipt(*receipt);
    auto r = store_.Delete(q.name, *receipt);
    if (!r.has_value()) return Internal(r.error());
    return json::object{};
  }

  http::Response DeleteMessage(const QueueInfo& q) {
    auto r = DeleteOne(q, p_);
    if (std::holds_alternative<ApiError>(r)) return ErrorReply(c_, std::get<ApiError>(r));
    return Reply(c_, {});
  }

  // The valid entries are deleted in one transaction.
  http::Response DeleteMessageBatch(const QueueInfo& q) {
    auto entries = p_.Entries("Entries", "DeleteMessageBatchRequestEntry");
    if (auto e = CheckBatch(entries)) return ErrorReply(c_, *e);
    json::array ok, failed;
    std::vector<std::string> receipts, ids;
    for (const auto& entry : entries) {
      std::string id = *entry->String("Id");
      auto receipt = entry->String("ReceiptHandle");
      if (!receipt) {
        failed.push_back(Failure(id, MissingParameter("ReceiptHandle")));
      } else if (!WellFormedReceipt(*receipt)) {
        failed.push_back(Failure(id, InvalidReceipt(*receipt)));
      } else {
        receipts.push_back(std::move(*receipt));
        ids.push_back(std::move(id));
      }
    }
    if (!receipts.empty()) {
      auto r = store_.DeleteBatch(q.name, receipts);
      if (!r.has_value()) return Done(r.error());
    }
    for (const auto& id : ids) ok.push_back(json::object{{"Id", id}});
    json::object out;
    out["Successful"] = std::move(ok);
    out["Failed"] = std::move(failed);
    return Reply(c_, std::move(out));
  }

  std::variant<json::object, ApiError> ChangeOne(const QueueInfo& q, const Params& p) {
    auto receipt = p.String("ReceiptHandle");
    if (!receipt) return MissingParameter("ReceiptHandle");
    auto timeout = p.String("VisibilityTimeout");
    if (!timeout) return MissingParameter("VisibilityTimeout");
    auto n = ParseInt(*timeout);
    if (!n || *n < 0 || *n > 43200) {
      return InvalidParameterValue("Value " + *timeout + " for parameter VisibilityTimeout is invalid. "
                                   "Reason: Must be between 0 and 43200.");
    }
    if (!WellFormedReceipt(*receipt)) return InvalidReceipt(*receipt);
    Status st = store_.ChangeVisibility(q.name, *receipt, *n, NowMillis());
    if (st.code() == Code::kFailedPrecondition || st.code() == Code::kNotFound) {
      return ApiError{"MessageNotInflight", "AWS.SimpleQueueService.MessageNotInflight",
                      "Message does not exist or is not available for visibility timeout change."};
    }
    if (!st.ok()) return Internal(st);
    return json::object{};
  }

  http::Response ChangeMessageVisibility(const QueueInfo& q) {
    auto r = ChangeOne(q, p_);
    if (std::holds_alternative<ApiError>(r)) return ErrorReply(c_, std::get<ApiError>(r));
    return Reply(c_, {});
  }

  http::Response ChangeMessageVisibilityBatch(const QueueInfo& q) {
    return Batch("ChangeMessageVisibilityBatchRequestEntry", [&](const Params& e) { return ChangeOne(q, e); });
  }

  QueueStore& store_;
  const SqsApiOptions& options_;
  const Call& c_;
  const Params& p_;
};

// Parses either protocol; an error reply when the request is neither.
std::variant<Call, http::Response> Parse(const http::Request& r) {
  Call c;
  c.host = std::string(r.headers.Get("Host").value_or("localhost"));
  if (auto target = r.headers.Get("X-Amz-Target"); target && target->starts_with(kTargetPrefix)) {
    c.json = true;
    c.action = std::string(target->substr(kTargetPrefix.size()));
    boost::system::error_code ec;
    json::value v = r.body.empty() ? json::value(json::object{}) : json::parse(r.body, ec);
    if (ec || !v.is_object()) {
      c.params = std::make_unique<JsonParams>(json::object{});
      return ErrorReply(c, {"InvalidParameterValue", "InvalidParameterValue",
                            "The request body is not a JSON object"});
    }
    c.params = std::make_unique<JsonParams>(std::move(v.as_object()));
    return c;
  }
  c.json = false;
  std::map<std::string, std::string> params;
  for (auto& [k, v] : http::ParseQuery(r.query())) params[k] = v;
  // The form body (application/x-www-form-urlencoded): '+' is a space there.
  std::string form = r.body;
  std::replace(form.begin(), form.end(), '+', ' ');
  for (auto& [k, v] : http::ParseQuery(form)) params[k] = v;
  c.action = params.count("Action") != 0 ? params["Action"] : "";
  std::string_view path = r.path();
  if (std::count(path.begin(), path.end(), '/') >= 2 && path.size() > 1) c.path_queue = std::string(path);
  c.params = std::make_unique<QueryParams>(std::move(params));
  if (c.action.empty()) return ErrorReply(c, MissingParameter("Action"));
  return c;
}

}  // namespace

struct SqsApi::Waiter {
  http::Request request;
  http::Responder responder;
  std::string queue;
  std::chrono::steady_clock::time_point deadline;
  bool attempting = false;  // a retry is running on the pool
  bool woken = false;       // woken while attempting: retry once more
};

SqsApi::SqsApi(QueueStore& store, BlockingPool& pool, Reactor& reactor, SqsApiOptions options)
    : store_(store), pool_(pool), reactor_(reactor), options_(std::move(options)),
      token_(std::make_shared<SqsApi*>(this)) {}

SqsApi::~SqsApi() = default;

bool SqsApi::Matches(const http::Request& request) {
  if (auto scope = http::ParseCredentialScope(request)) return scope->service == "sqs";
  auto target = request.headers.Get("X-Amz-Target");
  return target && target->starts_with(kTargetPrefix);
}

http::Response SqsApi::HandleSync(const http::Request& request, int* wait_seconds, std::string* sent_to) {
  if (wait_seconds != nullptr) *wait_seconds = 0;
  if (sent_to != nullptr) sent_to->clear();
  auto parsed = Parse(request);
  if (std::holds_alternative<http::Response>(parsed)) return std::get<http::Response>(std::move(parsed));
  Call& c = std::get<Call>(parsed);
  c.trace_header = http::TraceHeaderOf(request.headers);
  c.body_size = request.body.size();
  Executor e(store_, options_, c);
  http::Response r = e.Run();
  if (wait_seconds != nullptr) *wait_seconds = e.wait_seconds;
  if (sent_to != nullptr) *sent_to = e.sent_to;
  return r;
}

void SqsApi::Handle(http::Request&& request, http::Responder responder) {
  auto waiter = std::make_shared<Waiter>();
  waiter->request = std::move(request);
  waiter->responder = std::move(responder);
  waiter->attempting = true;
  std::weak_ptr<SqsApi*> token = token_;
  pool_.Submit([this, waiter, token] {
    int wait = 0;
    std::string sent_to;
    auto response = std::make_shared<http::Response>(HandleSync(waiter->request, &wait, &sent_to));
    if (wait == 0) {
      waiter->responder.Respond(std::move(*response));
      if (sent_to.empty()) return;
      reactor_.Post([this, token, sent_to] {
        if (token.lock()) Wake(sent_to);
      });
      return;
    }
    // Found nothing and may wait: park on the reactor.
    waiter->deadline = std::chrono::steady_clock::now() + std::chrono::seconds(wait);
    reactor_.Post([this, token, waiter] {
      if (!token.lock()) return;
      waiter->attempting = false;
      Park(waiter);
    });
  });
}

void SqsApi::Park(std::shared_ptr<Waiter> waiter) {
  if (shut_down_) return;
  // The queue name from the request (either protocol); parsed again: it is cheap.
  if (waiter->queue.empty()) {
    auto parsed = Parse(waiter->request);
    if (std::holds_alternative<Call>(parsed)) {
      const Call& c = std::get<Call>(parsed);
      std::string url = c.params->String("QueueUrl").value_or(c.path_queue);
      waiter->queue = url.substr(url.rfind('/') + 1);
    }
  }
  waiters_.emplace(waiter->queue, std::move(waiter));
  if (!tick_) tick_ = reactor_.RunAfter(std::chrono::seconds(1), [this] { Tick(); });
}

void SqsApi::Wake(const std::string& queue) {
  if (options_.on_message_sent) options_.on_message_sent(queue);
  auto range = waiters_.equal_range(queue);
  std::vector<std::shared_ptr<Waiter>> woken;
  for (auto it = range.first; it != range.second; ++it) woken.push_back(it->second);
  for (auto& w : woken) Retry(w);
}

void SqsApi::Retry(const std::shared_ptr<Waiter>& waiter) {
  if (waiter->attempting) {
    waiter->woken = true;
    return;
  }
  waiter->attempting = true;
  waiter->woken = false;
  std::weak_ptr<SqsApi*> token = token_;
  pool_.Submit([this, waiter, token] {
    int wait = 0;
    auto response = std::make_shared<http::Response>(HandleSync(waiter->request, &wait));
    reactor_.Post([this, token, waiter, response, wait] {
      if (!token.lock()) return;
      waiter->attempting = false;
      const bool expired = std::chrono::steady_clock::now() >= waiter->deadline;
      if (wait == 0 || expired) {
        // Messages (or an error), or the wait is over: answer and forget it.
        for (auto it = waiters_.begin(); it != waiters_.end(); ++it) {
          if (it->second == waiter) {
            waiters_.erase(it);
            break;
          }
        }
        waiter->responder.Respond(std::move(*response));
        return;
      }
      if (waiter->woken) Retry(waiter);
    });
  });
}

void SqsApi::Tick() {
  tick_.reset();
  if (shut_down_ || waiters_.empty()) return;
  // Every parked poll tries again: messages whose delay or visibility timeout
  // ended are visible now, and polls whose wait is over are answered.
  std::vector<std::shared_ptr<Waiter>> all;
  for (auto& [queue, w] : waiters_) all.push_back(w);
  for (auto& w : all) Retry(w);
  tick_ = reactor_.RunAfter(std::chrono::seconds(1), [this] { Tick(); });
}

void SqsApi::Shutdown() {
  shut_down_ = true;
  tick_.reset();
  waiters_.clear();
}

}  // namespace nimbus::sqs
