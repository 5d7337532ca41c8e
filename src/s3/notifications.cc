#include "s3/notifications.h"

#include <algorithm>
#include <array>
#include <cctype>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <pugixml.hpp>

#include "base/encoding.h"
#include "base/time_format.h"

namespace nimbus::s3 {
namespace {

namespace json = boost::json;

// The event types S3 accepts in a notification configuration.
constexpr std::array<std::string_view, 27> kEventTypes = {
    "s3:ObjectCreated:*", "s3:ObjectCreated:Put", "s3:ObjectCreated:Post",
    "s3:ObjectCreated:Copy", "s3:ObjectCreated:CompleteMultipartUpload",
    "s3:ObjectRemoved:*", "s3:ObjectRemoved:Delete", "s3:ObjectRemoved:DeleteMarkerCreated",
    "s3:ObjectRestore:*", "s3:ObjectRestore:Post", "s3:ObjectRestore:Completed",
    "s3:ObjectRestore:Delete", "s3:ReducedRedundancyLostObject", "s3:Replication:*",
    "s3:Replication:OperationFailedReplication", "s3:Replication:OperationNotTracked",
    "s3:Replication:OperationMissedThreshold", "s3:Replication:OperationReplicatedAfterThreshold",
    "s3:LifecycleExpiration:*", "s3:LifecycleExpiration:Delete",
    "s3:LifecycleExpiration:DeleteMarkerCreated", "s3:LifecycleTransition",
    "s3:IntelligentTiering", "s3:ObjectTagging:*", "s3:ObjectTagging:Put",
    "s3:ObjectTagging:Delete", "s3:ObjectAcl:Put"};

// "s3:ObjectCreated:*" matches "s3:ObjectCreated:Put"; otherwise equality.
bool EventMatches(std::string_view pattern, std::string_view event) {
  if (pattern.ends_with(":*")) return event.starts_with(pattern.substr(0, pattern.size() - 1));
  return pattern == event;
}

// Whether two patterns can match one event.
bool EventsOverlap(std::string_view a, std::string_view b) {
  return EventMatches(a, b) || EventMatches(b, a) ||
         (a.ends_with(":*") && b.ends_with(":*") && a == b);
}

std::string RuleValue(const NotificationTarget& t, std::string_view name) {
  for (const auto& r : t.rules) {
    if (r.name == name) return r.value;
  }
  return "";
}

// Two filters overlap when some key could pass both: their prefixes are
// prefixes of one another, and so (from the end) are their suffixes.
bool FiltersOverlap(const NotificationTarget& a, const NotificationTarget& b) {
  std::string pa = RuleValue(a, "prefix"), pb = RuleValue(b, "prefix");
  std::string sa = RuleValue(a, "suffix"), sb = RuleValue(b, "suffix");
  bool prefixes = pa.starts_with(pb) || pb.starts_with(pa);
  bool suffixes = sa.ends_with(sb) || sb.ends_with(sa);
  return prefixes && suffixes;
}

// The element names of the three destination kinds and of their ARN.
struct Kind {
  const char* element;
  const char* arn_element;
  std::vector<NotificationTarget> NotificationConfig::*list;
};
constexpr Kind kKinds[] = {
    {"CloudFunctionConfiguration", "CloudFunction", &NotificationConfig::functions},
    {"LambdaFunctionConfiguration", "CloudFunction", &NotificationConfig::functions},
    {"QueueConfiguration", "Queue", &NotificationConfig::queues},
    {"TopicConfiguration", "Topic", &NotificationConfig::topics},
};

// S3's form-style key encoding in event records: space as '+'.
std::string EventKey(std::string_view key) {
  std::string out;
  for (unsigned char c : key) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == '/' || c == '*') {
      out += static_cast<char>(c);
    } else if (c == ' ') {
      out += '+';
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

json::array RulesJson(const std::vector<FilterRule>& rules) {
  json::array a;
  for (const auto& r : rules) a.push_back(json::object{{"name", r.name}, {"value", r.value}});
  return a;
}

json::array TargetsJson(const std::vector<NotificationTarget>& targets) {
  json::array a;
  for (const auto& t : targets) {
    json::array events;
    for (const auto& e : t.events) events.push_back(json::string(e));
    a.push_back(json::object{{"id", t.id}, {"arn", t.arn}, {"events", events}, {"rules", RulesJson(t.rules)}});
  }
  return a;
}

std::vector<NotificationTarget> TargetsFromJson(const json::value* v) {
  std::vector<NotificationTarget> out;
  if (v == nullptr || !v->is_array()) return out;
  for (const auto& e : v->as_array()) {
    if (!e.is_object()) continue;
    const auto& o = e.as_object();
    NotificationTarget t;
    auto str = [&o](const char* k) -> std::string {
      const json::value* x = o.if_contains(k);
      return x && x->is_string() ? std::string(x->as_string()) : "";
    };
    t.id = str("id");
    t.arn = str("arn");
    if (const json::value* ev = o.if_contains("events"); ev && ev->is_array()) {
      for (const auto& x : ev->as_array()) {
        if (x.is_string()) t.events.emplace_back(x.as_string());
      }
    }
    if (const json::value* rs = o.if_contains("rules"); rs && rs->is_array()) {
      for (const auto& x : rs->as_array()) {
        if (!x.is_object()) continue;
        const json::value* n = x.as_object().if_contains("name");
        const json::value* val = x.as_object().if_contains("value");
        if (n && n->is_string() && val && val->is_string()) {
          t.rules.push_back({std::string(n->as_string()), std::string(val->as_string())});
        }
      }
    }
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace

Result<NotificationConfig> ParseNotificationXml(std::string_view xml, NotificationError& error) {
  auto fail = [&error](std::string code, std::string message, std::string name = "",
                       std::string value = "") -> Status {
    error = NotificationError{std::move(code), std::move(message), std::move(name), std::move(value)};
    return InvalidArgument(error.message);
  };
  auto malformed = [&fail] {
    return fail("MalformedXML",
                "The XML you provided was not well-formed or did not validate against our published "
                "schema");
  };
  pugi::xml_document doc;
  if (!doc.load_buffer(xml.data(), xml.size(), pugi::parse_default, pugi::encoding_utf8)) {
    return malformed();
  }
  pugi::xml_node root = doc.document_element();
  if (std::string_view(root.name()) != "NotificationConfiguration") return malformed();
  NotificationConfig config;
  int generated = 0;
  for (pugi::xml_node node : root.children()) {
    if (node.type() != pugi::node_element) continue;
    std::string_view name = node.name();
    if (name == "EventBridgeConfiguration") {
      config.eventbridge = true;
      continue;
    }
    const Kind* kind = nullptr;
    for (const Kind& k : kKinds) {
      if (name == k.element) kind = &k;
    }
    if (kind == nullptr) return malformed();
    NotificationTarget t;
    t.id = node.child_value("Id");
    t.arn = node.child_value(kind->arn_element);
    if (t.arn.empty()) return malformed();
    for (pugi::xml_node ev : node.children("Event")) {
      std::string e = ev.child_value();
      if (std::find(kEventTypes.begin(), kEventTypes.end(), e) == kEventTypes.end()) {
        return fail("InvalidArgument", "The event is not supported for notifications", "Event", e);
      }
      t.events.push_back(std::move(e));
    }
    if (t.events.empty()) return malformed();
    for (pugi::xml_node rule : node.child("Filter").child("S3Key").children("FilterRule")) {
      std::string rule_name = AsciiLower(rule.child_value("Name"));
      if (rule_name != "prefix" && rule_name != "suffix") {
        return fail("InvalidArgument", "filter rule name must be either prefix or suffix",
                    "FilterRule", rule.child_value("Name"));
      }
      if (!RuleValue(t, rule_name).empty() ||
          std::any_of(t.rules.begin(), t.rules.end(), [&](const FilterRule& r) { return r.name == rule_name; })) {
        return fail("InvalidArgument", "Cannot specify more than one " + rule_name + " rule in a filter.",
                    "FilterRule", rule_name);
      }
      t.rules.push_back({rule_name, rule.child_value("Value")});
    }
    if (t.id.empty()) t.id = fmt::format("{}-{}", RandomHex32().substr(0, 12), ++generated);
    (config.*(kind->list)).push_back(std::move(t));
  }
  // No two configurations may share an event type for keys both would match.
  std::vector<const NotificationTarget*> all;
  for (auto* list : {&config.functions, &config.queues, &config.topics}) {
    for (const auto& t : *list) all.push_back(&t);
  }
  // The configuration is stored as JSON, which holds only UTF-8: S3 refuses other
  // text as malformed (pugixml does not check it, and turns character references
  // to surrogates into ill-formed bytes).
  for (const NotificationTarget* t : all) {
    bool valid = IsValidUtf8(t->id) && IsValidUtf8(t->arn);
    for (const auto& r : t->rules) valid = valid && IsValidUtf8(r.value);
    if (!valid) return malformed();
  }
  for (size_t i = 0; i < all.size(); ++i) {
    for (size_t j = i + 1; j < all.size(); ++j) {
      if (!FiltersOverlap(*all[i], *all[j])) continue;
      for (const auto& a : all[i]->events) {
        for (const auto& b : all[j]->events) {
          if (EventsOverlap(a, b)) {
            return fail("InvalidArgument",
                        "Configurations overlap. Configurations on the same bucket cannot share a "
                        "common event type.",
                        "Event", b);
          }
        }
      }
    }
  }
  return config;
}

std::string NotificationXml(const NotificationConfig& config) {
  std::string xml = R"(<NotificationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">)";
  auto emit = [&xml](const std::vector<NotificationTarget>& list, const char* element, const char* arn) {
    for (const auto& t : list) {
      xml += fmt::format("<{0}><Id>{1}</Id><{2}>{3}</{2}>", element, XmlEscape(t.id), arn, XmlEscape(t.arn));
      for (const auto& e : t.events) xml += fmt::format("<Event>{}</Event>", XmlEscape(e));
      if (!t.rules.empty()) {
        xml += "<Filter><S3Key>";
        for (const auto& r : t.rules) {
          xml += fmt::format("<FilterRule><Name>{}</Name><Value>{}</Value></FilterRule>",
                             r.name == "prefix" ? "Prefix" : "Suffix", XmlEscape(r.value));
        }
        xml += "</S3Key></Filter>";
      }
      xml += fmt::format("</{}>", element);
    }
  };
  emit(config.topics, "TopicConfiguration", "Topic");
  emit(config.queues, "QueueConfiguration", "Queue");
  emit(config.functions, "CloudFunctionConfiguration", "CloudFunction");
  if (config.eventbridge) xml += "<EventBridgeConfiguration></EventBridgeConfiguration>";
  xml += "</NotificationConfiguration>";
  return xml;
}

std::string EncodeNotificationConfig(const NotificationConfig& config) {
  if (config.empty()) return "";
  json::object o{{"functions", TargetsJson(config.functions)},
                 {"queues", TargetsJson(config.queues)},
                 {"topics", TargetsJson(config.topics)},
                 {"eventbridge", config.eventbridge}};
  return json::serialize(o);
}

NotificationConfig DecodeNotificationConfig(std::string_view text) {
  NotificationConfig config;
  if (text.empty()) return config;
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return config;
  const auto& o = v.as_object();
  config.functions = TargetsFromJson(o.if_contains("functions"));
  config.queues = TargetsFromJson(o.if_contains("queues"));
  config.topics = TargetsFromJson(o.if_contains("topics"));
  if (const json::value* eb = o.if_contains("eventbridge"); eb && eb->is_bool()) {
    config.eventbridge = eb->as_bool();
  }
  return config;
}

bool Wants(const NotificationTarget& target, std::string_view event, std::string_view key) {
  bool any = false;
  for (const auto& e : target.events) any = any || EventMatches(e, event);
  if (!any) return false;
  for (const auto& r : target.rules) {
    if (r.name == "prefix" && !key.starts_with(r.value)) return false;
    if (r.name == "suffix" && !key.ends_with(r.value)) return false;
  }
  return true;
}

std::string S3EventDocument(const ObjectEvent& e) {
  json::object object{{"key", EventKey(e.key)}, {"sequencer", e.sequencer}};
  if (e.event_name.starts_with("ObjectCreated")) {
    object["size"] = e.size;
    object["eTag"] = e.etag;
  }
  json::object record{
      {"eventVersion", "2.1"},
      {"eventSource", "aws:s3"},
      {"awsRegion", e.region},
      {"eventTime", IsoUtcMillis(e.time)},
      {"eventName", e.event_name},
      {"userIdentity", json::object{{"principalId", "AWS:" + e.principal}}},
      {"requestParameters", json::object{{"sourceIPAddress", e.source_ip}}},
      {"responseElements", json::object{{"x-amz-request-id", e.request_id}, {"x-amz-id-2", e.request_id}}},
      {"s3", json::object{{"s3SchemaVersion", "1.0"},
                          {"configurationId", e.configuration_id},
                          {"bucket", json::object{{"name", e.bucket},
                                                  {"ownerIdentity", json::object{{"principalId", "nimbus"}}},
                                                  {"arn", "arn:aws:s3:::" + e.bucket}}},
                          {"object", std::move(object)}}},
  };
  json::array records;
  records.push_back(std::move(record));
  return json::serialize(json::object{{"Records", std::move(records)}});
}

}  // namespace nimbus::s3
