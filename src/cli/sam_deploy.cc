#include "cli/sam_deploy.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <map>
#include <pugixml.hpp>
#include <set>

#include "base/encoding.h"
#include "cli/format.h"
#include "cli/package.h"
#include "cli/progress.h"
#include "cli/zip_builder.h"

namespace nimbus::cli {
namespace {

namespace json = boost::json;

// Uploads of packages up to Lambda's 50 MB (70 MB as base64) on a slow link.
constexpr std::chrono::milliseconds kUploadTimeout{600'000};
constexpr char kStackTag[] = "nimbus:stack";
constexpr char kLogicalIdTag[] = "nimbus:logical-id";
constexpr char kLayersPath[] = "/2018-10-31/layers/";
constexpr char kMappingsPath[] = "/2015-03-31/event-source-mappings";

std::string ApiDescription(const std::string& stack) { return "nimbus deploy stack " + stack; }

std::string Join(const std::vector<std::string>& items, std::string_view separator = ", ") {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : std::string(separator)) + i;
  return out;
}

json::array ToArray(const std::vector<std::string>& items) {
  json::array a;
  for (const auto& i : items) a.push_back(json::string(i));
  return a;
}

std::vector<std::string> StringsOf(const json::value* v) {
  std::vector<std::string> out;
  if (v == nullptr || !v->is_array()) return out;
  for (const auto& x : v->get_array()) {
    if (x.is_string()) out.emplace_back(x.get_string());
  }
  return out;
}

const json::object& ObjectOf(const json::object& o, std::string_view key) {
  static const json::object kEmpty;
  const json::value* v = o.if_contains(key);
  return v && v->is_object() ? v->get_object() : kEmpty;
}

std::map<std::string, std::string> StringMapOf(const json::object& o) {
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : o) {
    if (v.is_string()) out[std::string(k)] = std::string(v.get_string());
  }
  return out;
}

// JSON text compared by meaning: members in any order, numbers and their string
// forms alike ({"maxReceiveCount":5} and {"maxReceiveCount":"5"}), as SQS reads a
// RedrivePolicy.
bool SameJson(const std::string& a, const std::string& b) {
  if (a == b) return true;
  boost::system::error_code ea, eb;
  json::value va = json::parse(a, ea), vb = json::parse(b, eb);
  if (ea || eb) return false;
  auto flat = [](const json::value& v) {
    std::map<std::string, std::string> out;
    if (!v.is_object()) return out;
    for (const auto& [k, x] : v.get_object()) {
      out[std::string(k)] = x.is_string() ? std::string(x.get_string()) : json::serialize(x);
    }
    return out;
  };
  if (va.is_object() && vb.is_object()) return flat(va) == flat(vb);
  return json::serialize(va) == json::serialize(vb);
}

Status WithContext(const Status& st, const std::string& context) { return st.WithContext(context); }

template <typename T>
Result<T> WithContext(Result<T> r, const std::string& context) {
  if (r.has_value()) return r;
  return r.error().WithContext(context);
}

// One entry of a bucket's notification configuration.
struct NotificationEntry {
  std::string element;  // "CloudFunctionConfiguration", "QueueConfiguration", "TopicConfiguration"
  std::string id;
  std::string arn;
  std::vector<std::string> events;  // sorted
  std::string prefix, suffix;
  std::string function_id, event_id;  // ours: the template's names

  bool SameAs(const NotificationEntry& o) const {
    return arn == o.arn && events == o.events && prefix == o.prefix && suffix == o.suffix;
  }
};

std::vector<NotificationEntry> ParseNotifications(const std::string& xml) {
  std::vector<NotificationEntry> out;
  pugi::xml_document doc;
  if (!doc.load_buffer(xml.data(), xml.size())) return out;
  for (pugi::xml_node node : doc.document_element().children()) {
    if (node.type() != pugi::node_element) continue;
    NotificationEntry e;
    e.element = node.name();
    const char* arn_element = e.element == "QueueConfiguration"   ? "Queue"
                              : e.element == "TopicConfiguration" ? "Topic"
                                                                  : "CloudFunction";
    if (e.element == "LambdaFunctionConfiguration") e.element = "CloudFunctionConfiguration";
    e.id = node.child_value("Id");
    e.arn = node.child_value(arn_element);
    for (pugi::xml_node ev : node.children("Event")) e.events.emplace_back(ev.child_value());
    std::sort(e.events.begin(), e.events.end());
    for (pugi::xml_node rule : node.child("Filter").child("S3Key").children("FilterRule")) {
      std::string name = AsciiLower(rule.child_value("Name"));
      (name == "prefix" ? e.prefix : e.suffix) = rule.child_value("Value");
    }
    out.push_back(std::move(e));
  }
  return out;
}

std::string NotificationXml(const std::vector<NotificationEntry>& entries) {
  std::string xml =
      R"(<NotificationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">)";
  for (const auto& e : entries) {
    const char* arn_element = e.element == "QueueConfiguration"   ? "Queue"
                              : e.element == "TopicConfiguration" ? "Topic"
                                                                  : "CloudFunction";
    xml += fmt::format("<{0}><Id>{1}</Id><{2}>{3}</{2}>", e.element, XmlEscape(e.id), arn_element,
                       XmlEscape(e.arn));
    for (const auto& ev : e.events) xml += fmt::format("<Event>{}</Event>", XmlEscape(ev));
    if (!e.prefix.empty() || !e.suffix.empty()) {
      xml += "<Filter><S3Key>";
      if (!e.prefix.empty())
        xml += fmt::format("<FilterRule><Name>prefix</Name><Value>{}</Value></FilterRule>",
                           XmlEscape(e.prefix));
      if (!e.suffix.empty())
        xml += fmt::format("<FilterRule><Name>suffix</Name><Value>{}</Value></FilterRule>",
                           XmlEscape(e.suffix));
      xml += "</S3Key></Filter>";
    }
    xml += fmt::format("</{}>", e.element);
  }
  return xml + "</NotificationConfiguration>";
}

// The principal that invokes a function for an event, and the statement id a
// deploy gives its permission.
struct Principal {
  const char* service;
  const char* statement_id;
};
constexpr Principal kS3{"s3.amazonaws.com", "nimbus-deploy-s3"};
constexpr Principal kApiGateway{"apigateway.amazonaws.com", "nimbus-deploy-apigateway"};
constexpr Principal kEvents{"events.amazonaws.com", "nimbus-deploy-events"};

const Principal* PrincipalOf(const EventPlan& e) {
  if (std::holds_alternative<S3EventPlan>(e.source)) return &kS3;
  if (std::holds_alternative<HttpEventPlan>(e.source)) return &kApiGateway;
  if (std::holds_alternative<RuleEventPlan>(e.source)) return &kEvents;
  return nullptr;
}

// The queue or table an event source ARN names: "arn:aws:sqs:r:a:jobs" → "jobs",
// "arn:aws:dynamodb:r:a:table/orders/stream/2024-..." → "orders".
std::string SourceName(const std::string& arn) {
  if (size_t table = arn.find(":table/"); table != std::string::npos) {
    std::string rest = arn.substr(table + 7);
    return rest.substr(0, rest.find('/'));
  }
  return arn.substr(arn.rfind(':') + 1);
}

std::string EventKind(const EventPlan& e) {
  if (e.type == "HttpApi" || e.type == "Api") return e.type + " route";
  return e.type + " event";
}

// One Deploy() call.
class Deployment {
 public:
  Deployment(ApiClient& api, const ServerRegion& region,
             const std::function<void(const ChangeLine&)>& on_change, bool progress,
             const StackPlan& plan)
      : api_(api), region_(region), on_change_(on_change), progress_(progress), plan_(plan) {}

  Result<DeployResult> Run() {
    NIMBUS_RETURN_IF_ERROR(Package());
    NIMBUS_RETURN_IF_ERROR(Preflight());
    NIMBUS_RETURN_IF_ERROR(DeployLayers());
    NIMBUS_RETURN_IF_ERROR(DeployBuckets());
    NIMBUS_RETURN_IF_ERROR(DeployQueues());
    NIMBUS_RETURN_IF_ERROR(DeployTables());
    NIMBUS_RETURN_IF_ERROR(DeployFunctions());
    NIMBUS_RETURN_IF_ERROR(DeployPermissions());
    NIMBUS_RETURN_IF_ERROR(DeployNotifications());
    NIMBUS_RETURN_IF_ERROR(DeployMappings());
    NIMBUS_RETURN_IF_ERROR(DeployHttpApi());
    NIMBUS_RETURN_IF_ERROR(DeployRules());
    NIMBUS_RETURN_IF_ERROR(ReportStaleFunctions());
    return std::move(result_);
  }

 private:
  void Report(ChangeLine line) {
    progress_.Clear();
    if (on_change_) on_change_(line);
    result_.lines.push_back(std::move(line));
  }

  http::SendOptions Upload(const std::string& label) {
    http::SendOptions o;
    o.timeout = kUploadTimeout;
    o.on_upload_progress = [this, label](uint64_t sent, uint64_t total) {
      progress_.Show(fmt::format("uploading {}: {}% ({} of {})", label,
                                 total ? sent * 100 / total : 100, Mb(sent), Mb(total)));
    };
    return o;
  }

  const std::string& PackageOf(const FunctionPlan& f) {
    return packages_.at(f.inline_code.empty() ? f.code_path : "inline:" + f.logical_id);
  }

  Status PackagePath(const std::string& path, const std::string& label, const std::string& where) {
    if (packages_.contains(path)) return Status::Ok();
    auto zip = LoadPackage(path, label, progress_, 0, /*content_only=*/true);
    progress_.Clear();
    if (!zip.has_value()) return zip.error().WithContext(where);
    packages_[path] = std::move(zip).value();
    return Status::Ok();
  }

  Status Package() {
    for (const auto& l : plan_.layers) {
      NIMBUS_RETURN_IF_ERROR(PackagePath(
          l.content_path, l.name, fmt::format("Resources.{}.Properties.ContentUri", l.logical_id)));
    }
    for (const auto& f : plan_.functions) {
      if (!f.inline_code.empty()) {
        auto zip = ZipFiles({{f.inline_file, f.inline_code}});
        if (!zip.has_value())
          return zip.error().WithContext("Resources." + f.logical_id + ".Properties.InlineCode");
        packages_["inline:" + f.logical_id] = std::move(zip).value();
        continue;
      }
      NIMBUS_RETURN_IF_ERROR(PackagePath(
          f.code_path, f.name, fmt::format("Resources.{}.Properties.CodeUri", f.logical_id)));
    }
    return Status::Ok();
  }

  // Read-only checks that would otherwise fail half way.
  Status Preflight() {
    for (const auto& f : plan_.functions) {
      auto got = api_.Call("GET", FunctionPath(f.name), nullptr);
      if (!got.has_value() && got.error().code() == Code::kNotFound) continue;
      if (!got.has_value()) return got.error().WithContext("function " + f.name);
      const std::string owner = JsonString(ObjectOf(*got, "Tags"), kStackTag);
      if (!owner.empty() && owner != plan_.stack_name) {
        return InvalidArgument(
            fmt::format("Resources.{}: the function {} belongs to the stack {} (its {} tag); give "
                        "it another FunctionName",
                        f.logical_id, f.name, owner, kStackTag));
      }
      existing_functions_[f.logical_id] = std::move(got).value();
    }
    for (const auto& t : plan_.tables) {
      auto got = api_.Rpc("DynamoDB_20120810.DescribeTable", {{"TableName", t.name}}, "1.0");
      if (!got.has_value() && got.error().code() == Code::kNotFound) continue;
      if (!got.has_value()) return got.error().WithContext("table " + t.name);
      std::string hash, range;
      const json::object& table = ObjectOf(*got, "Table");
      if (const json::value* ks = table.if_contains("KeySchema"); ks && ks->is_array()) {
        for (const auto& k : ks->get_array()) {
          if (!k.is_object()) continue;
          (JsonString(k.get_object(), "KeyType") == "HASH" ? hash : range) =
              JsonString(k.get_object(), "AttributeName");
        }
      }
      if (hash != t.hash_key || range != t.range_key) {
        return InvalidArgument(
            fmt::format("Resources.{}: the table {} exists with the key ({}{}{}), the template's "
                        "is ({}{}{}); nimbus deploy does "
                        "not replace tables (delete it first)",
                        t.logical_id, t.name, hash, range.empty() ? "" : ", ", range, t.hash_key,
                        t.range_key.empty() ? "" : ", ", t.range_key));
      }
      existing_tables_[t.logical_id] = table;
    }
    return Status::Ok();
  }

  Status DeployLayers() {
    for (const auto& l : plan_.layers) {
      const std::string& zip = packages_.at(l.content_path);
      const std::string sha = CodeSha256(zip);
      const std::string path = kLayersPath + PercentEncode(l.name) + "/versions";
      const std::string context = "layer " + l.name;
      int64_t latest = 0;
      auto list = api_.Call("GET", path, nullptr);
      if (!list.has_value() && list.error().code() != Code::kNotFound)
        return list.error().WithContext(context);
      if (list.has_value()) {
        if (const json::value* vs = list->if_contains("LayerVersions"); vs && vs->is_array()) {
          for (const auto& v : vs->get_array()) {
            if (v.is_object()) latest = std::max(latest, JsonInt(v.get_object(), "Version"));
          }
        }
      }
      std::vector<std::string> changes;
      if (latest > 0) {
        NIMBUS_ASSIGN_OR_RETURN(
            json::object v,
            WithContext(api_.Call("GET", fmt::format("{}/{}", path, latest), nullptr), context));
        if (JsonString(ObjectOf(v, "Content"), "CodeSha256") != sha) changes.push_back("content");
        if (JsonString(v, "Description") != l.description) changes.push_back("Description");
        if (StringsOf(v.if_contains("CompatibleRuntimes")) != l.compatible_runtimes)
          changes.push_back("CompatibleRuntimes");
        if (StringsOf(v.if_contains("CompatibleArchitectures")) != l.compatible_architectures) {
          changes.push_back("CompatibleArchitectures");
        }
        if (JsonString(v, "LicenseInfo") != l.license_info) changes.push_back("LicenseInfo");
        if (changes.empty()) {
          layer_arns_[l.logical_id] = JsonString(v, "LayerVersionArn");
          Report({Change::kUnchanged, l.logical_id, "AWS::Serverless::LayerVersion",
                  fmt::format("{}:{}", l.name, latest), ""});
          continue;
        }
      }
      json::object body{{"Content", json::object{{"ZipFile", Base64Encode(zip)}}},
                        {"Description", l.description}};
      if (!l.compatible_runtimes.empty())
        body["CompatibleRuntimes"] = ToArray(l.compatible_runtimes);
      if (!l.compatible_architectures.empty())
        body["CompatibleArchitectures"] = ToArray(l.compatible_architectures);
      if (!l.license_info.empty()) body["LicenseInfo"] = l.license_info;
      auto published = api_.Call("POST", path, &body, Upload("layer " + l.name));
      progress_.Clear();
      if (!published.has_value()) return published.error().WithContext(context);
      layer_arns_[l.logical_id] = JsonString(*published, "LayerVersionArn");
      Report({latest == 0 ? Change::kCreated : Change::kUpdated, l.logical_id,
              "AWS::Serverless::LayerVersion",
              fmt::format("{}:{}", l.name, JsonInt(*published, "Version")),
              latest == 0 ? "" : "new version: " + Join(changes)});
    }
    return Status::Ok();
  }

  Status DeployBuckets() {
    for (const auto& b : plan_.buckets) {
      const std::string context = "bucket " + b.name;
      auto found = api_.S3("GET", "/" + b.name + "?location", "", region_.region);
      if (found.has_value()) {
        Report({Change::kUnchanged, b.logical_id, "AWS::S3::Bucket", b.name, ""});
        continue;
      }
      if (found.error().code() != Code::kNotFound) return found.error().WithContext(context);
      NIMBUS_RETURN_IF_ERROR(
          WithContext(api_.S3("PUT", "/" + b.name, "", region_.region).status(), context));
      Report({Change::kCreated, b.logical_id, "AWS::S3::Bucket", b.name, ""});
    }
    return Status::Ok();
  }

  Status DeployQueues() {
    for (const auto& q : plan_.queues) {
      const std::string context = "queue " + q.name;
      json::object attributes;
      for (const auto& [k, v] : q.attributes) attributes[k] = v;
      auto url = api_.Rpc("AmazonSQS.GetQueueUrl", {{"QueueName", q.name}}, "1.0");
      if (!url.has_value() && url.error().code() == Code::kNotFound) {
        json::object body{{"QueueName", q.name}};
        if (!attributes.empty()) body["Attributes"] = attributes;
        NIMBUS_RETURN_IF_ERROR(
            WithContext(api_.Rpc("AmazonSQS.CreateQueue", body, "1.0").status(), context));
        Report({Change::kCreated, q.logical_id, "AWS::SQS::Queue", q.name, ""});
        continue;
      }
      if (!url.has_value()) return url.error().WithContext(context);
      const std::string queue_url = JsonString(*url, "QueueUrl");
      NIMBUS_ASSIGN_OR_RETURN(
          json::object current,
          WithContext(
              api_.Rpc("AmazonSQS.GetQueueAttributes",
                       {{"QueueUrl", queue_url}, {"AttributeNames", json::array{"All"}}}, "1.0"),
              context));
      const auto now = StringMapOf(ObjectOf(current, "Attributes"));
      json::object changed;
      std::vector<std::string> names;
      for (const auto& [k, v] : q.attributes) {
        auto it = now.find(k);
        const std::string have = it == now.end() ? "" : it->second;
        const bool same =
            k == "RedrivePolicy" || k == "RedriveAllowPolicy" ? SameJson(v, have) : v == have;
        if (same) continue;
        if (k == "FifoQueue") {
          return InvalidArgument(fmt::format(
              "Resources.{}: the queue {} exists and FifoQueue cannot change (delete it "
              "first)",
              q.logical_id, q.name));
        }
        changed[k] = v;
        names.push_back(k);
      }
      if (names.empty()) {
        Report({Change::kUnchanged, q.logical_id, "AWS::SQS::Queue", q.name, ""});
        continue;
      }
      NIMBUS_RETURN_IF_ERROR(
          WithContext(api_.Rpc("AmazonSQS.SetQueueAttributes",
                               {{"QueueUrl", queue_url}, {"Attributes", changed}}, "1.0")
                          .status(),
                      context));
      Report({Change::kUpdated, q.logical_id, "AWS::SQS::Queue", q.name, Join(names)});
    }
    return Status::Ok();
  }

  static json::array KeySchemaJson(const std::string& hash, const std::string& range) {
    json::array a{json::object{{"AttributeName", hash}, {"KeyType", "HASH"}}};
    if (!range.empty()) a.push_back(json::object{{"AttributeName", range}, {"KeyType", "RANGE"}});
    return a;
  }

  static json::object IndexJson(const TableIndexPlan& i) {
    json::object projection{{"ProjectionType", i.projection}};
    if (!i.non_key_attributes.empty())
      projection["NonKeyAttributes"] = ToArray(i.non_key_attributes);
    json::object o{{"IndexName", i.name},
                   {"KeySchema", KeySchemaJson(i.hash_key, i.range_key)},
                   {"Projection", projection}};
    if (i.global && i.read_capacity > 0) {
      o["ProvisionedThroughput"] = json::object{{"ReadCapacityUnits", i.read_capacity},
                                                {"WriteCapacityUnits", i.write_capacity}};
    }
    return o;
  }

  static json::array AttributesJson(const TablePlan& t) {
    json::array a;
    for (const auto& [name, type] : t.attributes)
      a.push_back(json::object{{"AttributeName", name}, {"AttributeType", type}});
    return a;
  }

  Status DeployTables() {
    for (const auto& t : plan_.tables) {
      const std::string context = "table " + t.name;
      auto existing = existing_tables_.find(t.logical_id);
      if (existing == existing_tables_.end()) {
        json::object body{{"TableName", t.name},
                          {"AttributeDefinitions", AttributesJson(t)},
                          {"KeySchema", KeySchemaJson(t.hash_key, t.range_key)},
                          {"BillingMode", t.billing_mode}};
        if (t.billing_mode == "PROVISIONED") {
          body["ProvisionedThroughput"] = json::object{{"ReadCapacityUnits", t.read_capacity},
                                                       {"WriteCapacityUnits", t.write_capacity}};
        }
        if (!t.stream_view_type.empty()) {
          body["StreamSpecification"] =
              json::object{{"StreamEnabled", true}, {"StreamViewType", t.stream_view_type}};
        }
        json::array gsis, lsis;
        for (const auto& i : t.indexes) (i.global ? gsis : lsis).push_back(IndexJson(i));
        if (!gsis.empty()) body["GlobalSecondaryIndexes"] = gsis;
        if (!lsis.empty()) body["LocalSecondaryIndexes"] = lsis;
        NIMBUS_RETURN_IF_ERROR(
            WithContext(api_.Rpc("DynamoDB_20120810.CreateTable", body, "1.0").status(), context));
        Report({Change::kCreated, t.logical_id, "AWS::DynamoDB::Table", t.name, ""});
        continue;
      }
      const json::object& table = existing->second;
      std::vector<std::string> changes;
      auto update = [&](json::object body) -> Status {
        body["TableName"] = t.name;
        return WithContext(api_.Rpc("DynamoDB_20120810.UpdateTable", body, "1.0").status(),
                           context);
      };
      const json::object& stream = ObjectOf(table, "StreamSpecification");
      const json::value* enabled = stream.if_contains("StreamEnabled");
      const bool stream_on = enabled && enabled->is_bool() && enabled->get_bool();
      const std::string view = stream_on ? JsonString(stream, "StreamViewType") : "";
      if (view != t.stream_view_type) {
        if (stream_on)
          NIMBUS_RETURN_IF_ERROR(
              update({{"StreamSpecification", json::object{{"StreamEnabled", false}}}}));
        if (!t.stream_view_type.empty()) {
          NIMBUS_RETURN_IF_ERROR(update(
              {{"StreamSpecification",
                json::object{{"StreamEnabled", true}, {"StreamViewType", t.stream_view_type}}}}));
        }
        changes.push_back("StreamSpecification");
      }
      std::string mode = JsonString(ObjectOf(table, "BillingModeSummary"), "BillingMode");
      if (mode.empty()) mode = "PROVISIONED";
      const json::object& throughput = ObjectOf(table, "ProvisionedThroughput");
      const bool capacity_differs = t.billing_mode == "PROVISIONED" &&
                                    (JsonInt(throughput, "ReadCapacityUnits") != t.read_capacity ||
                                     JsonInt(throughput, "WriteCapacityUnits") != t.write_capacity);
      if (mode != t.billing_mode || capacity_differs) {
        json::object body{{"BillingMode", t.billing_mode}};
        if (t.billing_mode == "PROVISIONED") {
          body["ProvisionedThroughput"] = json::object{{"ReadCapacityUnits", t.read_capacity},
                                                       {"WriteCapacityUnits", t.write_capacity}};
        }
        NIMBUS_RETURN_IF_ERROR(update(std::move(body)));
        changes.push_back(mode != t.billing_mode ? "BillingMode" : "ProvisionedThroughput");
      }
      std::set<std::string> have;
      if (const json::value* g = table.if_contains("GlobalSecondaryIndexes"); g && g->is_array()) {
        for (const auto& i : g->get_array()) {
          if (i.is_object()) have.insert(JsonString(i.get_object(), "IndexName"));
        }
      }
      json::array index_updates;
      std::set<std::string> want;
      for (const auto& i : t.indexes) {
        if (!i.global) continue;
        want.insert(i.name);
        if (!have.contains(i.name)) index_updates.push_back(json::object{{"Create", IndexJson(i)}});
      }
      for (const auto& name : have) {
        if (!want.contains(name))
          index_updates.push_back(json::object{{"Delete", json::object{{"IndexName", name}}}});
      }
      if (!index_updates.empty()) {
        NIMBUS_RETURN_IF_ERROR(update({{"AttributeDefinitions", AttributesJson(t)},
                                       {"GlobalSecondaryIndexUpdates", index_updates}}));
        changes.push_back("GlobalSecondaryIndexes");
      }
      Report({changes.empty() ? Change::kUnchanged : Change::kUpdated, t.logical_id,
              "AWS::DynamoDB::Table", t.name, Join(changes)});
    }
    return Status::Ok();
  }

  Status DeployFunctions() {
    for (const auto& f : plan_.functions) {
      const std::string context = "function " + f.name;
      const std::string& zip = PackageOf(f);
      const std::string sha = CodeSha256(zip);
      std::vector<std::string> layers;
      for (const auto& l : f.layers)
        layers.push_back(l.arn.empty() ? layer_arns_.at(l.logical_id) : l.arn);
      json::object variables;
      for (const auto& [k, v] : f.environment) variables[k] = v;
      json::object config{
          {"Runtime", f.runtime},         {"Handler", f.handler},
          {"Description", f.description}, {"MemorySize", f.memory_mb},
          {"Timeout", f.timeout_s},       {"Environment", json::object{{"Variables", variables}}},
          {"Layers", ToArray(layers)}};
      std::map<std::string, std::string> tags = f.tags;
      tags[kStackTag] = plan_.stack_name;
      tags[kLogicalIdTag] = f.logical_id;
      json::object tags_json;
      for (const auto& [k, v] : tags) tags_json[k] = v;

      auto existing = existing_functions_.find(f.logical_id);
      if (existing == existing_functions_.end()) {
        json::object create = config;
        create["FunctionName"] = f.name;
        create["Role"] = kDefaultRole;
        create["Code"] = json::object{{"ZipFile", Base64Encode(zip)}};
        create["Tags"] = tags_json;
        if (!f.architecture.empty())
          create["Architectures"] = json::array{json::string(f.architecture)};
        auto created = api_.Call("POST", "/2015-03-31/functions", &create, Upload(f.name));
        progress_.Clear();
        if (!created.has_value()) return created.error().WithContext(context);
        NIMBUS_RETURN_IF_ERROR(WaitUntilSettled(api_, f.name));
        function_arns_[f.logical_id] = JsonString(*created, "FunctionArn");
        Report({Change::kCreated, f.logical_id, "AWS::Serverless::Function", f.name, ""});
        continue;
      }
      const json::object& now = ObjectOf(existing->second, "Configuration");
      function_arns_[f.logical_id] = JsonString(now, "FunctionArn");
      std::vector<std::string> changes;
      const std::vector<std::string> architectures = StringsOf(now.if_contains("Architectures"));
      const bool architecture_differs =
          !f.architecture.empty() && (architectures.empty() || architectures[0] != f.architecture);
      if (JsonString(now, "CodeSha256") != sha || architecture_differs) {
        json::object code{{"ZipFile", Base64Encode(zip)}};
        if (!f.architecture.empty())
          code["Architectures"] = json::array{json::string(f.architecture)};
        auto updated = api_.Call("PUT", FunctionPath(f.name) + "/code", &code, Upload(f.name));
        progress_.Clear();
        if (!updated.has_value()) return updated.error().WithContext(context);
        NIMBUS_RETURN_IF_ERROR(WaitUntilSettled(api_, f.name));
        if (JsonString(now, "CodeSha256") != sha) changes.push_back("code");
        if (architecture_differs) changes.push_back("Architectures");
      }
      std::vector<std::string> layers_now;
      if (const json::value* ls = now.if_contains("Layers"); ls && ls->is_array()) {
        for (const auto& l : ls->get_array()) {
          if (l.is_object()) layers_now.push_back(JsonString(l.get_object(), "Arn"));
        }
      }
      const size_t before = changes.size();
      if (JsonString(now, "Runtime") != f.runtime) changes.push_back("Runtime");
      if (JsonString(now, "Handler") != f.handler) changes.push_back("Handler");
      if (JsonString(now, "Description") != f.description) changes.push_back("Description");
      if (JsonInt(now, "MemorySize") != f.memory_mb) changes.push_back("MemorySize");
      if (JsonInt(now, "Timeout") != f.timeout_s) changes.push_back("Timeout");
      if (StringMapOf(ObjectOf(ObjectOf(now, "Environment"), "Variables")) != f.environment)
        changes.push_back("Environment");
      if (layers_now != layers) changes.push_back("Layers");
      if (changes.size() > before) {
        NIMBUS_RETURN_IF_ERROR(WithContext(
            api_.Call("PUT", FunctionPath(f.name) + "/configuration", &config).status(), context));
        NIMBUS_RETURN_IF_ERROR(WaitUntilSettled(api_, f.name));
      }
      const auto tags_now = StringMapOf(ObjectOf(existing->second, "Tags"));
      bool tags_differ = false;
      for (const auto& [k, v] : tags) {
        auto it = tags_now.find(k);
        tags_differ = tags_differ || it == tags_now.end() || it->second != v;
      }
      if (tags_differ) {
        json::object body{{"Tags", tags_json}};
        NIMBUS_RETURN_IF_ERROR(WithContext(
            api_.Call("POST", "/2017-03-31/tags/" + PercentEncode(function_arns_[f.logical_id]),
                      &body)
                .status(),
            context));
        changes.push_back("Tags");
      }
      Report({changes.empty() ? Change::kUnchanged : Change::kUpdated, f.logical_id,
              "AWS::Serverless::Function", f.name, Join(changes)});
    }
    return Status::Ok();
  }

  // Lets the services that deliver the functions' events invoke them.
  Status DeployPermissions() {
    for (const auto& f : plan_.functions) {
      std::set<const Principal*> needed;
      for (const auto& e : f.events) {
        if (const Principal* p = PrincipalOf(e)) needed.insert(p);
      }
      if (needed.empty()) continue;
      const std::string context = "function " + f.name + ": policy";
      std::set<std::string> sids;
      auto policy = api_.Call("GET", FunctionPath(f.name) + "/policy", nullptr);
      if (!policy.has_value() && policy.error().code() != Code::kNotFound)
        return policy.error().WithContext(context);
      if (policy.has_value()) {
        boost::system::error_code ec;
        json::value doc = json::parse(JsonString(*policy, "Policy"), ec);
        const json::value* statements =
            !ec && doc.is_object() ? doc.get_object().if_contains("Statement") : nullptr;
        if (statements && statements->is_array()) {
          for (const auto& s : statements->get_array()) {
            if (s.is_object()) sids.insert(JsonString(s.get_object(), "Sid"));
          }
        }
      }
      for (const Principal* p : needed) {
        if (sids.contains(p->statement_id)) continue;
        json::object body{{"StatementId", p->statement_id},
                          {"Action", "lambda:InvokeFunction"},
                          {"Principal", p->service}};
        NIMBUS_RETURN_IF_ERROR(WithContext(
            api_.Call("POST", FunctionPath(f.name) + "/policy", &body).status(), context));
        permissions_added_.insert({f.logical_id, p});
      }
    }
    return Status::Ok();
  }

  // `change` of an event, made kUpdated when a permission it needs was added now.
  Change WithPermission(Change change, const FunctionPlan& f, const EventPlan& e,
                        std::string& detail) {
    const Principal* p = PrincipalOf(e);
    if (change == Change::kUnchanged && p && permissions_added_.contains({f.logical_id, p})) {
      detail = "permission for " + std::string(p->service);
      return Change::kUpdated;
    }
    return change;
  }

  Status DeployNotifications() {
    for (const auto& b : plan_.buckets) {
      const std::string context = "bucket " + b.name + ": notifications";
      const std::string prefix = plan_.stack_name + ".";
      std::vector<NotificationEntry> want;
      std::vector<std::pair<const FunctionPlan*, const EventPlan*>> events;
      for (const auto& f : plan_.functions) {
        for (const auto& e : f.events) {
          const auto* s = std::get_if<S3EventPlan>(&e.source);
          if (s == nullptr || s->bucket_logical_id != b.logical_id) continue;
          NotificationEntry n;
          n.element = "CloudFunctionConfiguration";
          n.id = prefix + f.logical_id + "." + e.id;
          n.arn = function_arns_.at(f.logical_id);
          n.events = s->events;
          std::sort(n.events.begin(), n.events.end());
          n.prefix = s->prefix;
          n.suffix = s->suffix;
          n.function_id = f.logical_id;
          n.event_id = e.id;
          want.push_back(std::move(n));
          events.emplace_back(&f, &e);
        }
      }
      NIMBUS_ASSIGN_OR_RETURN(
          std::string xml,
          WithContext(api_.S3("GET", "/" + b.name + "?notification", "", region_.region), context));
      std::vector<NotificationEntry> kept, ours;
      for (auto& e : ParseNotifications(xml))
        (e.id.starts_with(prefix) ? ours : kept).push_back(std::move(e));
      if (want.empty() && ours.empty()) continue;
      std::vector<ChangeLine> lines;
      bool changed = false;
      for (size_t i = 0; i < want.size(); ++i) {
        const NotificationEntry& n = want[i];
        auto it =
            std::find_if(ours.begin(), ours.end(), [&](const auto& o) { return o.id == n.id; });
        Change c = it == ours.end() ? Change::kCreated
                   : it->SameAs(n)  ? Change::kUnchanged
                                    : Change::kUpdated;
        changed = changed || c != Change::kUnchanged;
        std::string detail;
        c = WithPermission(c, *events[i].first, *events[i].second, detail);
        lines.push_back(
            {c, n.function_id + "." + n.event_id, "S3 event",
             fmt::format("{} {} → {}", b.name, Join(n.events, ","), events[i].first->name),
             detail});
      }
      for (const auto& o : ours) {
        if (std::none_of(want.begin(), want.end(), [&](const auto& n) { return n.id == o.id; })) {
          changed = true;
          lines.push_back({Change::kDeleted, o.id.substr(prefix.size()), "S3 event",
                           b.name + " → " + o.arn, ""});
        }
      }
      if (changed) {
        std::vector<NotificationEntry> all = kept;
        all.insert(all.end(), want.begin(), want.end());
        NIMBUS_RETURN_IF_ERROR(WithContext(
            api_.S3("PUT", "/" + b.name + "?notification", NotificationXml(all), region_.region)
                .status(),
            context));
      }
      for (auto& l : lines) Report(std::move(l));
    }
    return Status::Ok();
  }

  // The ARN of the stream of a table of the template.
  Result<std::string> StreamOf(const FunctionPlan& f, const EventPlan& e,
                               const StreamEventPlan& s) {
    if (!s.stream_arn.empty()) return s.stream_arn;
    NIMBUS_ASSIGN_OR_RETURN(json::object d, WithContext(api_.Rpc("DynamoDB_20120810.DescribeTable",
                                                                 {{"TableName", s.table}}, "1.0"),
                                                        "table " + s.table));
    const json::object& table = ObjectOf(d, "Table");
    const json::value* enabled =
        ObjectOf(table, "StreamSpecification").if_contains("StreamEnabled");
    if (!enabled || !enabled->is_bool() || !enabled->get_bool()) {
      return InvalidArgument(
          fmt::format("Resources.{}.Properties.Events.{}: the table {} has no stream (give it a "
                      "StreamSpecification)",
                      f.logical_id, e.id, s.table));
    }
    return JsonString(table, "LatestStreamArn");
  }

  Status DeployMappings() {
    for (const auto& f : plan_.functions) {
      const bool any = std::any_of(f.events.begin(), f.events.end(), [](const EventPlan& e) {
        return std::holds_alternative<QueueEventPlan>(e.source) ||
               std::holds_alternative<StreamEventPlan>(e.source);
      });
      const std::string& function_arn = function_arns_.at(f.logical_id);
      const std::string context = "function " + f.name + ": event source mappings";
      NIMBUS_ASSIGN_OR_RETURN(json::object list,
                              WithContext(api_.Call("GET",
                                                    std::string(kMappingsPath) +
                                                        "?FunctionName=" + PercentEncode(f.name),
                                                    nullptr),
                                          context));
      std::vector<json::object> mappings;
      if (const json::value* ms = list.if_contains("EventSourceMappings"); ms && ms->is_array()) {
        for (const auto& m : ms->get_array()) {
          if (!m.is_object()) continue;
          // The server's FunctionName filter matches ARN prefixes: keep this function's own.
          const std::string arn = JsonString(m.get_object(), "FunctionArn");
          if (arn == function_arn || arn.starts_with(function_arn + ":"))
            mappings.push_back(m.get_object());
        }
      }
      if (!any && mappings.empty()) continue;
      std::set<std::string> used;
      for (const auto& e : f.events) {
        json::object want;
        std::string source;
        bool enabled = true;
        std::string starting_position;
        if (const auto* q = std::get_if<QueueEventPlan>(&e.source)) {
          source = q->queue_arn;
          enabled = q->enabled;
          want["BatchSize"] = q->batch_size;
          want["MaximumBatchingWindowInSeconds"] = q->batching_window_s;
          want["FunctionResponseTypes"] =
              q->report_item_failures ? json::array{"ReportBatchItemFailures"} : json::array{};
          if (q->maximum_concurrency)
            want["ScalingConfig"] = json::object{{"MaximumConcurrency", *q->maximum_concurrency}};
        } else if (const auto* s = std::get_if<StreamEventPlan>(&e.source)) {
          NIMBUS_ASSIGN_OR_RETURN(source, StreamOf(f, e, *s));
          enabled = s->enabled;
          starting_position = s->starting_position;
          want["BatchSize"] = s->batch_size;
          want["MaximumBatchingWindowInSeconds"] = s->batching_window_s;
          want["FunctionResponseTypes"] =
              s->report_item_failures ? json::array{"ReportBatchItemFailures"} : json::array{};
          if (s->maximum_retry_attempts) want["MaximumRetryAttempts"] = *s->maximum_retry_attempts;
          if (s->maximum_record_age_s) want["MaximumRecordAgeInSeconds"] = *s->maximum_record_age_s;
          if (s->bisect_on_error) want["BisectBatchOnFunctionError"] = *s->bisect_on_error;
          if (s->parallelization_factor) want["ParallelizationFactor"] = *s->parallelization_factor;
          if (!s->on_failure_arn.empty()) {
            want["DestinationConfig"] =
                json::object{{"OnFailure", json::object{{"Destination", s->on_failure_arn}}}};
          }
        } else {
          continue;
        }
        const std::string kind = EventKind(e);
        const std::string who = f.logical_id + "." + e.id;
        const std::string shown = fmt::format("{} → {}", SourceName(source), f.name);
        auto it = std::find_if(mappings.begin(), mappings.end(), [&](const json::object& m) {
          return JsonString(m, "EventSourceArn") == source;
        });
        if (it == mappings.end()) {
          json::object body = want;
          body["FunctionName"] = f.name;
          body["EventSourceArn"] = source;
          body["Enabled"] = enabled;
          if (!starting_position.empty()) body["StartingPosition"] = starting_position;
          NIMBUS_ASSIGN_OR_RETURN(json::object created,
                                  WithContext(api_.Call("POST", kMappingsPath, &body), context));
          used.insert(JsonString(created, "UUID"));
          Report({Change::kCreated, who, kind, shown, ""});
          continue;
        }
        const std::string uuid = JsonString(*it, "UUID");
        used.insert(uuid);
        std::vector<std::string> changes;
        json::object update;
        for (const auto& [k, v] : want) {
          const json::value* have = it->if_contains(k);
          if (have && json::serialize(*have) == json::serialize(v)) continue;
          update[k] = v;
          changes.emplace_back(k);
        }
        const std::string state = JsonString(*it, "State");
        const bool on = state != "Disabled" && state != "Disabling";
        if (on != enabled) {
          update["Enabled"] = enabled;
          changes.push_back("Enabled");
        }
        if (!changes.empty()) {
          NIMBUS_RETURN_IF_ERROR(WithContext(
              api_.Call("PUT", std::string(kMappingsPath) + "/" + PercentEncode(uuid), &update)
                  .status(),
              context));
        }
        Report({changes.empty() ? Change::kUnchanged : Change::kUpdated, who, kind, shown,
                Join(changes)});
      }
      for (const auto& m : mappings) {
        const std::string uuid = JsonString(m, "UUID");
        if (used.contains(uuid)) continue;
        Report({Change::kStale, f.logical_id, "event source mapping",
                fmt::format("{} → {}", JsonString(m, "EventSourceArn"), f.name),
                fmt::format("not in the template, left alone; to delete it: aws lambda "
                            "delete-event-source-mapping --uuid {}",
                            uuid)});
      }
    }
    return Status::Ok();
  }

  Status DeployHttpApi() {
    struct Route {
      const FunctionPlan* f;
      const EventPlan* e;
      const HttpEventPlan* h;
    };
    std::vector<Route> routes;
    for (const auto& f : plan_.functions) {
      for (const auto& e : f.events) {
        if (const auto* h = std::get_if<HttpEventPlan>(&e.source)) routes.push_back({&f, &e, h});
      }
    }
    const std::string& stack = plan_.stack_name;
    const std::string context = "the stack's HTTP API";
    NIMBUS_ASSIGN_OR_RETURN(json::object apis,
                            WithContext(api_.Call("GET", "/v2/apis", nullptr), context));
    std::optional<json::object> api;
    if (const json::value* items = apis.if_contains("items"); items && items->is_array()) {
      for (const auto& a : items->get_array()) {
        if (a.is_object() && JsonString(a.get_object(), "name") == stack &&
            JsonString(a.get_object(), "description") == ApiDescription(stack)) {
          api = a.get_object();
        }
      }
    }
    if (routes.empty()) {
      if (api) {
        const std::string id = JsonString(*api, "apiId");
        NIMBUS_RETURN_IF_ERROR(
            WithContext(api_.Call("DELETE", "/v2/apis/" + id, nullptr).status(), context));
        Report({Change::kDeleted, "ServerlessHttpApi", "HTTP API", id,
                "no HttpApi or Api event uses it"});
      }
      return Status::Ok();
    }
    Change api_change = Change::kUnchanged;
    if (!api) {
      json::object body{
          {"name", stack}, {"protocolType", "HTTP"}, {"description", ApiDescription(stack)}};
      NIMBUS_ASSIGN_OR_RETURN(api, WithContext(api_.Call("POST", "/v2/apis", &body), context));
      api_change = Change::kCreated;
    }
    const std::string id = JsonString(*api, "apiId");
    const std::string base = "/v2/apis/" + id;
    NIMBUS_ASSIGN_OR_RETURN(json::object stages,
                            WithContext(api_.Call("GET", base + "/stages", nullptr), context));
    bool has_default = false;
    if (const json::value* items = stages.if_contains("items"); items && items->is_array()) {
      for (const auto& s : items->get_array()) {
        has_default =
            has_default || (s.is_object() && JsonString(s.get_object(), "stageName") == "$default");
      }
    }
    if (!has_default) {
      json::object body{{"stageName", "$default"}, {"autoDeploy", true}};
      NIMBUS_RETURN_IF_ERROR(
          WithContext(api_.Call("POST", base + "/stages", &body).status(), context));
      if (api_change == Change::kUnchanged) api_change = Change::kUpdated;
    }
    result_.api_id = id;
    result_.api_endpoint = JsonString(*api, "apiEndpoint");
    Report({api_change, "ServerlessHttpApi", "HTTP API", id,
            api_change == Change::kUpdated ? "$default stage" : ""});

    NIMBUS_ASSIGN_OR_RETURN(
        json::object integrations_json,
        WithContext(api_.Call("GET", base + "/integrations", nullptr), context));
    NIMBUS_ASSIGN_OR_RETURN(json::object routes_json,
                            WithContext(api_.Call("GET", base + "/routes", nullptr), context));
    struct Integration {
      std::string id, uri, payload;
    };
    std::vector<Integration> integrations;
    if (const json::value* items = integrations_json.if_contains("items");
        items && items->is_array()) {
      for (const auto& i : items->get_array()) {
        if (!i.is_object()) continue;
        const auto& o = i.get_object();
        integrations.push_back({JsonString(o, "integrationId"), JsonString(o, "integrationUri"),
                                JsonString(o, "payloadFormatVersion")});
      }
    }
    std::map<std::string, std::pair<std::string, std::string>>
        existing;  // route key → (route id, target)
    if (const json::value* items = routes_json.if_contains("items"); items && items->is_array()) {
      for (const auto& r : items->get_array()) {
        if (!r.is_object()) continue;
        const auto& o = r.get_object();
        existing[JsonString(o, "routeKey")] = {JsonString(o, "routeId"), JsonString(o, "target")};
      }
    }
    auto integration_for = [&](const std::string& arn,
                               const std::string& payload) -> Result<std::string> {
      for (const auto& i : integrations) {
        if (i.uri == arn && i.payload == payload) return i.id;
      }
      json::object body{{"integrationType", "AWS_PROXY"},
                        {"integrationUri", arn},
                        {"payloadFormatVersion", payload}};
      NIMBUS_ASSIGN_OR_RETURN(
          json::object created,
          WithContext(api_.Call("POST", base + "/integrations", &body), context));
      integrations.push_back({JsonString(created, "integrationId"), arn, payload});
      return integrations.back().id;
    };
    std::set<std::string> targets_used;
    for (const Route& r : routes) {
      const std::string& arn = function_arns_.at(r.f->logical_id);
      const std::string& key = r.h->route_key;
      const std::string shown = fmt::format("{} → {}", key, r.f->name);
      auto now = existing.find(key);
      if (now != existing.end()) {
        const std::string& target = now->second.second;
        auto i = std::find_if(integrations.begin(), integrations.end(), [&](const Integration& x) {
          return "integrations/" + x.id == target;
        });
        if (i != integrations.end() && i->uri == arn && i->payload == r.h->payload_version) {
          targets_used.insert(target);
          std::string detail;
          Change c = WithPermission(Change::kUnchanged, *r.f, *r.e, detail);
          Report({c, r.f->logical_id + "." + r.e->id, EventKind(*r.e), shown, detail});
          existing.erase(now);
          continue;
        }
        NIMBUS_RETURN_IF_ERROR(WithContext(
            api_.Call("DELETE", base + "/routes/" + now->second.first, nullptr).status(), context));
      }
      NIMBUS_ASSIGN_OR_RETURN(std::string integration, integration_for(arn, r.h->payload_version));
      json::object body{{"routeKey", key}, {"target", "integrations/" + integration}};
      NIMBUS_RETURN_IF_ERROR(
          WithContext(api_.Call("POST", base + "/routes", &body).status(), context));
      targets_used.insert("integrations/" + integration);
      const bool replaced = now != existing.end();
      Report({replaced ? Change::kUpdated : Change::kCreated, r.f->logical_id + "." + r.e->id,
              EventKind(*r.e), shown, replaced ? "integration" : ""});
      if (replaced) existing.erase(now);
    }
    // Routes of the stack's API that the template no longer has.
    for (const auto& [key, route] : existing) {
      NIMBUS_RETURN_IF_ERROR(WithContext(
          api_.Call("DELETE", base + "/routes/" + route.first, nullptr).status(), context));
      Report({Change::kDeleted, "ServerlessHttpApi", "HTTP API route", key,
              "no event has this route"});
    }
    for (const auto& i : integrations) {
      if (targets_used.contains("integrations/" + i.id)) continue;
      NIMBUS_RETURN_IF_ERROR(WithContext(
          api_.Call("DELETE", base + "/integrations/" + i.id, nullptr).status(), context));
    }
    return Status::Ok();
  }

  Result<json::object> Events(std::string_view action, const json::object& body) {
    return api_.Rpc(std::string("AWSEvents.") + std::string(action), body, "1.1");
  }

  Status DeployRules() {
    std::set<std::string> wanted;
    for (const auto& f : plan_.functions) {
      for (const auto& e : f.events) {
        const auto* r = std::get_if<RuleEventPlan>(&e.source);
        if (r == nullptr) continue;
        wanted.insert(r->rule_name);
        const std::string context = "rule " + r->rule_name;
        const std::string& arn = function_arns_.at(f.logical_id);
        json::object rule{{"Name", r->rule_name}, {"State", r->enabled ? "ENABLED" : "DISABLED"}};
        if (!r->schedule.empty()) rule["ScheduleExpression"] = r->schedule;
        if (!r->pattern.empty()) rule["EventPattern"] = r->pattern;
        if (!r->description.empty()) rule["Description"] = r->description;
        json::object target{{"Id", r->target_id}, {"Arn", arn}};
        if (!r->input.empty()) target["Input"] = r->input;
        if (!r->input_path.empty()) target["InputPath"] = r->input_path;
        const std::string shown = fmt::format("{} → {}", r->rule_name, f.name);
        auto described = Events("DescribeRule", {{"Name", r->rule_name}});
        if (!described.has_value() && described.error().code() != Code::kNotFound) {
          return described.error().WithContext(context);
        }
        std::vector<std::string> changes;
        if (described.has_value()) {
          const json::object& d = *described;
          if (JsonString(d, "ScheduleExpression") != r->schedule) changes.push_back("Schedule");
          if (!SameJson(JsonString(d, "EventPattern"), r->pattern)) changes.push_back("Pattern");
          if (JsonString(d, "State") != (r->enabled ? "ENABLED" : "DISABLED"))
            changes.push_back("State");
          if (JsonString(d, "Description") != r->description) changes.push_back("Description");
        }
        if (!described.has_value() || !changes.empty()) {
          NIMBUS_RETURN_IF_ERROR(WithContext(Events("PutRule", rule).status(), context));
        }
        bool target_same = false;
        if (described.has_value()) {
          NIMBUS_ASSIGN_OR_RETURN(
              json::object targets,
              WithContext(Events("ListTargetsByRule", {{"Rule", r->rule_name}}), context));
          if (const json::value* ts = targets.if_contains("Targets"); ts && ts->is_array()) {
            for (const auto& t : ts->get_array()) {
              if (!t.is_object()) continue;
              const auto& o = t.get_object();
              target_same = target_same ||
                            (JsonString(o, "Id") == r->target_id && JsonString(o, "Arn") == arn &&
                             JsonString(o, "Input") == r->input &&
                             JsonString(o, "InputPath") == r->input_path);
            }
          }
        }
        if (!target_same) {
          NIMBUS_ASSIGN_OR_RETURN(
              json::object put,
              WithContext(
                  Events("PutTargets", {{"Rule", r->rule_name}, {"Targets", json::array{target}}}),
                  context));
          if (JsonInt(put, "FailedEntryCount") > 0) {
            return Internal(
                fmt::format("{}: PutTargets failed: {}", context, json::serialize(put)));
          }
          if (described.has_value()) changes.push_back("target");
        }
        Change c = !described.has_value() ? Change::kCreated
                   : changes.empty()      ? Change::kUnchanged
                                          : Change::kUpdated;
        std::string detail = Join(changes);
        c = WithPermission(c, f, e, detail);
        Report({c, f.logical_id + "." + e.id, EventKind(e), shown, detail});
      }
    }
    // Rules named for the stack that the template no longer has: deleted when
    // every target is a function of the stack (so a deploy made them).
    std::set<std::string> stack_functions;
    for (const auto& [id, arn] : function_arns_) stack_functions.insert(arn);
    const std::string prefix = plan_.stack_name + "-";
    NIMBUS_ASSIGN_OR_RETURN(json::object rules,
                            WithContext(Events("ListRules", {{"NamePrefix", prefix}}), "rules"));
    if (const json::value* rs = rules.if_contains("Rules"); rs && rs->is_array()) {
      for (const auto& r : rs->get_array()) {
        if (!r.is_object()) continue;
        const std::string name = JsonString(r.get_object(), "Name");
        if (wanted.contains(name)) continue;
        NIMBUS_ASSIGN_OR_RETURN(
            json::object targets,
            WithContext(Events("ListTargetsByRule", {{"Rule", name}}), "rule " + name));
        json::array ids;
        bool ours = true;
        if (const json::value* ts = targets.if_contains("Targets"); ts && ts->is_array()) {
          for (const auto& t : ts->get_array()) {
            if (!t.is_object()) continue;
            ids.push_back(json::string(JsonString(t.get_object(), "Id")));
            ours = ours && stack_functions.contains(JsonString(t.get_object(), "Arn"));
          }
        }
        if (!ours || ids.empty()) {
          Report({Change::kStale, name, "EventBridge rule", name,
                  "named for the stack but not in the template, left alone: it targets more than "
                  "the stack's functions"});
          continue;
        }
        NIMBUS_RETURN_IF_ERROR(WithContext(
            Events("RemoveTargets", {{"Rule", name}, {"Ids", ids}}).status(), "rule " + name));
        NIMBUS_RETURN_IF_ERROR(
            WithContext(Events("DeleteRule", {{"Name", name}}).status(), "rule " + name));
        Report(
            {Change::kDeleted, name, "EventBridge rule", name, "no event of the template has it"});
      }
    }
    return Status::Ok();
  }

  // Functions tagged for this stack that the template no longer has.
  Status ReportStaleFunctions() {
    std::set<std::string> names;
    for (const auto& f : plan_.functions) names.insert(f.name);
    std::string marker;
    do {
      std::string target = "/2015-03-31/functions?MaxItems=50";
      if (!marker.empty()) target += "&Marker=" + PercentEncode(marker);
      NIMBUS_ASSIGN_OR_RETURN(json::object page,
                              WithContext(api_.Call("GET", target, nullptr), "functions"));
      if (const json::value* fns = page.if_contains("Functions"); fns && fns->is_array()) {
        for (const auto& f : fns->get_array()) {
          if (!f.is_object()) continue;
          const std::string name = JsonString(f.get_object(), "FunctionName");
          if (names.contains(name)) continue;
          auto tags = api_.Call(
              "GET", "/2017-03-31/tags/" + PercentEncode(JsonString(f.get_object(), "FunctionArn")),
              nullptr);
          if (!tags.has_value()) continue;
          const auto t = StringMapOf(ObjectOf(*tags, "Tags"));
          auto stack = t.find(kStackTag);
          if (stack == t.end() || stack->second != plan_.stack_name) continue;
          auto id = t.find(kLogicalIdTag);
          Report({Change::kStale, id == t.end() ? "?" : id->second, "AWS::Serverless::Function",
                  name,
                  fmt::format(
                      "not in the template any more, left alone; to delete it: nimbus delete {}",
                      name)});
        }
      }
      marker = JsonString(page, "NextMarker");
    } while (!marker.empty());
    return Status::Ok();
  }

  ApiClient& api_;
  const ServerRegion& region_;
  const std::function<void(const ChangeLine&)>& on_change_;
  Progress progress_;
  const StackPlan& plan_;
  std::map<std::string, std::string> packages_;             // path (or "inline:<id>") → zip
  std::map<std::string, json::object> existing_functions_;  // logical id → GetFunction
  std::map<std::string, json::object> existing_tables_;     // logical id → DescribeTable's Table
  std::map<std::string, std::string> layer_arns_;           // logical id → LayerVersionArn
  std::map<std::string, std::string> function_arns_;        // logical id → FunctionArn
  std::set<std::pair<std::string, const Principal*>> permissions_added_;
  DeployResult result_;
};

std::string_view ChangeName(Change c) {
  switch (c) {
    case Change::kCreated:
      return "created";
    case Change::kUpdated:
      return "updated";
    case Change::kUnchanged:
      return "unchanged";
    case Change::kDeleted:
      return "deleted";
    case Change::kStale:
      return "stale";
  }
  return "?";
}

}  // namespace

int DeployResult::Count(Change change) const {
  return static_cast<int>(std::count_if(lines.begin(), lines.end(),
                                        [&](const ChangeLine& l) { return l.change == change; }));
}

std::string FormatChangeLine(const ChangeLine& line) {
  return fmt::format("{:<10} {:<24} {:<30} {}{}", ChangeName(line.change), line.logical_id,
                     line.kind, line.physical, line.detail.empty() ? "" : " (" + line.detail + ")");
}

std::string FormatSummary(const std::string& stack, const DeployResult& result) {
  const int created = result.Count(Change::kCreated), updated = result.Count(Change::kUpdated),
            deleted = result.Count(Change::kDeleted), stale = result.Count(Change::kStale),
            unchanged = result.Count(Change::kUnchanged);
  std::string out;
  if (created + updated + deleted == 0) {
    out = fmt::format("stack {}: no changes ({} unchanged)", stack, unchanged);
  } else {
    out = fmt::format("stack {}: {} created, {} updated, {} unchanged", stack, created, updated,
                      unchanged);
    if (deleted > 0) out += fmt::format(", {} deleted", deleted);
  }
  if (stale > 0) out += fmt::format("; {} stale, left alone", stale);
  return out;
}

Result<ServerRegion> DiscoverRegion(ApiClient& api) {
  ServerRegion out;
  auto probe = api.Call("GET", FunctionPath("nimbus-deploy-region-probe"), nullptr);
  if (!probe.has_value() && probe.error().code() != Code::kNotFound) return probe.error();
  const std::string text = probe.has_value()
                               ? JsonString(ObjectOf(*probe, "Configuration"), "FunctionArn")
                               : probe.error().message();
  // arn:aws:lambda:<region>:<account>:function:<name>
  const size_t at = text.find("arn:aws:lambda:");
  if (at == std::string::npos) return out;
  const std::string arn = text.substr(at + 15);
  const size_t colon = arn.find(':');
  const size_t next = colon == std::string::npos ? colon : arn.find(':', colon + 1);
  if (colon == std::string::npos || next == std::string::npos) return out;
  out.region = arn.substr(0, colon);
  out.account_id = arn.substr(colon + 1, next - colon - 1);
  return out;
}

Result<DeployResult> StackDeployer::Deploy(const StackPlan& plan) {
  Deployment d(api_, region_, on_change_, progress_, plan);
  return d.Run();
}

}  // namespace nimbus::cli
