#include "cli/sam_template.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <charconv>
#include <cmath>
#include <set>

#include "base/encoding.h"

namespace nimbus::cli {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

constexpr std::string_view kFunction = "AWS::Serverless::Function";
constexpr std::string_view kLayerVersion = "AWS::Serverless::LayerVersion";
constexpr std::string_view kBucket = "AWS::S3::Bucket";
constexpr std::string_view kQueue = "AWS::SQS::Queue";
constexpr std::string_view kTable = "AWS::DynamoDB::Table";
constexpr std::string_view kSimpleTable = "AWS::Serverless::SimpleTable";
// Accepted and not applied: Nimbus checks no IAM permissions, and deploy adds the
// resource policies its events need.
constexpr std::string_view kNotApplied[] = {"AWS::IAM::Role", "AWS::IAM::Policy",
                                            "AWS::IAM::ManagedPolicy", "AWS::Lambda::Permission"};
constexpr char kSupportedTypes[] =
    "AWS::Serverless::Function, AWS::Serverless::LayerVersion, AWS::S3::Bucket, AWS::SQS::Queue, "
    "AWS::DynamoDB::Table, AWS::Serverless::SimpleTable";
constexpr char kSupportedEvents[] = "S3, SQS, DynamoDB, HttpApi, Api, Schedule, EventBridgeRule";

// Values known only once deploy has created something: a layer version's ARN
// (Ref of a LayerVersion) and a table's stream ARN (GetAtt Table.StreamArn). The
// resolver leaves them as scalars with these tags (holding the logical id); the
// properties that can take them (Layers, a DynamoDB event's Stream) look for them,
// and anything else that meets one says why it cannot have it.
constexpr std::string_view kLayerTag = "!nimbus:layer-version";
constexpr std::string_view kStreamTag = "!nimbus:stream-of";

// Lambda's limits for names, MemorySize and Timeout.
constexpr size_t kMaxFunctionName = 64;
constexpr size_t kMaxLayerName = 140;
constexpr size_t kMaxBucketName = 63;
constexpr size_t kMaxQueueName = 80;
constexpr size_t kMaxTableName = 255;
constexpr size_t kMaxRuleName = 64;

Status Error(std::string_view path, std::string_view message) {
  return InvalidArgument(fmt::format("{}: {}", path, message));
}

bool IsDeferred(const YAML::Node& n) { return n.Tag() == kLayerTag || n.Tag() == kStreamTag; }

Status DeferredError(const YAML::Node& n, std::string_view path) {
  if (n.Tag() == kLayerTag) {
    return Error(path,
                 fmt::format("the ARN of layer version {} is known only once it is published; "
                             "use it in a function's Layers",
                             n.Scalar()));
  }
  return Error(path,
               fmt::format("{}.StreamArn is known only once the table exists; use it as a DynamoDB "
                           "event's Stream",
                           n.Scalar()));
}

YAML::Node StringNode(const std::string& s) {
  YAML::Node n(s);
  n.SetTag("!");
  return n;
}

YAML::Node Tagged(std::string_view tag, const std::string& s) {
  YAML::Node n(s);
  n.SetTag(std::string(tag));
  return n;
}

// A child of a map by key, without yaml-cpp's operator[] (which inserts on a
// non-const node and returns a zombie on a const one).
std::optional<YAML::Node> Child(const YAML::Node& map, std::string_view key) {
  if (!map.IsMap()) return std::nullopt;
  for (auto it = map.begin(); it != map.end(); ++it) {
    if (it->first.IsScalar() && it->first.Scalar() == key) return it->second;
  }
  return std::nullopt;
}

Result<std::string> AsString(const YAML::Node& n, std::string_view path) {
  if (IsDeferred(n)) return DeferredError(n, path);
  if (n.IsNull()) return std::string();
  if (!n.IsScalar()) return Error(path, "expected a string");
  return n.Scalar();
}

Result<int64_t> AsInt(const YAML::Node& n, std::string_view path) {
  NIMBUS_ASSIGN_OR_RETURN(std::string s, AsString(n, path));
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) {
    return Error(path, fmt::format("expected an integer, got '{}'", s));
  }
  return v;
}

Result<bool> AsBool(const YAML::Node& n, std::string_view path) {
  NIMBUS_ASSIGN_OR_RETURN(std::string s, AsString(n, path));
  std::string lower = AsciiLower(s);
  if (lower == "true") return true;
  if (lower == "false") return false;
  return Error(path, fmt::format("expected true or false, got '{}'", s));
}

// A list of strings; a single string is a list of one when `single` allows it.
Result<std::vector<std::string>> AsStringList(const YAML::Node& n, std::string_view path,
                                              bool single) {
  std::vector<std::string> out;
  if (n.IsScalar() && single) {
    NIMBUS_ASSIGN_OR_RETURN(std::string s, AsString(n, path));
    out.push_back(std::move(s));
    return out;
  }
  if (!n.IsSequence()) return Error(path, "expected a list");
  for (size_t i = 0; i < n.size(); ++i) {
    NIMBUS_ASSIGN_OR_RETURN(std::string s, AsString(n[i], fmt::format("{}[{}]", path, i)));
    out.push_back(std::move(s));
  }
  return out;
}

Result<std::map<std::string, std::string>> AsStringMap(const YAML::Node& n, std::string_view path) {
  std::map<std::string, std::string> out;
  if (n.IsNull()) return out;
  if (!n.IsMap()) return Error(path, "expected a map");
  for (auto it = n.begin(); it != n.end(); ++it) {
    std::string key = it->first.Scalar();
    NIMBUS_ASSIGN_OR_RETURN(out[key], AsString(it->second, fmt::format("{}.{}", path, key)));
  }
  return out;
}

// YAML's core schema: plain scalars that read as numbers, booleans or null are
// those; quoted ones and everything else are strings.
Result<json::value> ToJson(const YAML::Node& n, std::string_view path) {
  if (IsDeferred(n)) return DeferredError(n, path);
  if (n.IsNull()) return json::value(nullptr);
  if (n.IsSequence()) {
    json::array a;
    for (size_t i = 0; i < n.size(); ++i) {
      NIMBUS_ASSIGN_OR_RETURN(json::value v, ToJson(n[i], fmt::format("{}[{}]", path, i)));
      a.push_back(std::move(v));
    }
    return json::value(std::move(a));
  }
  if (n.IsMap()) {
    json::object o;
    for (auto it = n.begin(); it != n.end(); ++it) {
      std::string key = it->first.Scalar();
      NIMBUS_ASSIGN_OR_RETURN(json::value v, ToJson(it->second, fmt::format("{}.{}", path, key)));
      o[key] = std::move(v);
    }
    return json::value(std::move(o));
  }
  const std::string& s = n.Scalar();
  if (n.Tag() == "?") {
    int64_t i = 0;
    if (auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), i);
        ec == std::errc() && ptr == s.data() + s.size() && !s.empty()) {
      return json::value(i);
    }
    double d = 0;
    if (auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
        ec == std::errc() && ptr == s.data() + s.size() && !s.empty() && std::isfinite(d)) {
      return json::value(d);
    }
    if (s == "true" || s == "True" || s == "TRUE") return json::value(true);
    if (s == "false" || s == "False" || s == "FALSE") return json::value(false);
    if (s == "null" || s == "Null" || s == "NULL" || s == "~") return json::value(nullptr);
  }
  return json::value(s);
}

// JSON text of a value that may be given as JSON text or as YAML structure
// (an event pattern, a target's Input, a queue's RedrivePolicy).
Result<std::string> JsonText(const YAML::Node& n, std::string_view path) {
  if (n.IsScalar() && !IsDeferred(n)) return n.Scalar();
  NIMBUS_ASSIGN_OR_RETURN(json::value v, ToJson(n, path));
  return json::serialize(v);
}

// SAM's Globals: maps merge key by key (the function's value winning), lists are
// the global items followed by the function's, anything else is the function's.
bool IsIntrinsicMap(const YAML::Node& n) {
  if (!n.IsMap() || n.size() != 1 || !n.begin()->first.IsScalar()) return false;
  const std::string& key = n.begin()->first.Scalar();
  return key == "Ref" || key.starts_with("Fn::");
}

YAML::Node MergeGlobals(const YAML::Node& global, const YAML::Node& local) {
  if (global.IsMap() && local.IsMap() && !IsIntrinsicMap(global) && !IsIntrinsicMap(local)) {
    YAML::Node out(YAML::NodeType::Map);
    for (auto it = global.begin(); it != global.end(); ++it) {
      std::string key = it->first.Scalar();
      auto mine = Child(local, key);
      out[key] = mine ? MergeGlobals(it->second, *mine) : it->second;
    }
    for (auto it = local.begin(); it != local.end(); ++it) {
      std::string key = it->first.Scalar();
      if (!Child(global, key)) out[key] = it->second;
    }
    return out;
  }
  if (global.IsSequence() && local.IsSequence() && local.Tag() == "?" && global.Tag() == "?") {
    YAML::Node out(YAML::NodeType::Sequence);
    for (size_t i = 0; i < global.size(); ++i) out.push_back(global[i]);
    for (size_t i = 0; i < local.size(); ++i) out.push_back(local[i]);
    return out;
  }
  return local;
}

std::string ShortHash(std::string_view s) {
  return fmt::format("{:08x}", StableHash64(s) & 0xffffffffu);
}

// "<stack>-<LogicalId>" with the characters the resource's names allow (others
// become '-'), shortened with a hash of the whole to fit `max` with `suffix`.
std::string GeneratedName(std::string_view stack, std::string_view id, size_t max, bool lowercase,
                          std::string_view suffix = "") {
  std::string name = fmt::format("{}-{}", stack, id);
  for (char& c : name) {
    if (lowercase) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const bool ok =
        std::isalnum(static_cast<unsigned char>(c)) || c == '-' || (!lowercase && c == '_');
    if (!ok) c = '-';
  }
  if (name.size() + suffix.size() > max) {
    std::string hash = ShortHash(name);
    name = name.substr(0, max - suffix.size() - hash.size() - 1) + "-" + hash;
  }
  return name + std::string(suffix);
}

struct ResourceDecl {
  std::string type;
  YAML::Node properties;  // a map (empty when the resource has none)
};

class Template;

// The properties of one resource or event, read one key at a time: each value
// is resolved when read, and keys never read can be reported.
class Props {
 public:
  Props(Template& t, YAML::Node map, std::string path)
      : t_(t), map_(std::move(map)), path_(std::move(path)) {}

  const std::string& path() const { return path_; }
  std::string PathOf(std::string_view key) const { return fmt::format("{}.{}", path_, key); }

  // The resolved value, nullopt when absent (or AWS::NoValue).
  Result<std::optional<YAML::Node>> Get(std::string_view key);
  Result<std::optional<std::string>> String(std::string_view key);
  Result<std::optional<int64_t>> Int(std::string_view key, int64_t min, int64_t max);
  Result<std::optional<bool>> Bool(std::string_view key);
  Result<std::optional<std::vector<std::string>>> StringList(std::string_view key,
                                                             bool single = false);
  Result<std::optional<std::map<std::string, std::string>>> StringMap(std::string_view key);
  Result<std::string> Required(std::string_view key);
  // Counts `key` as read (a property that is accepted and has no effect).
  void MarkRead(std::string_view key) { read_.insert(std::string(key)); }

  // Warns about every key not read and not in `ignored`.
  void WarnUnread(std::initializer_list<std::string_view> ignored,
                  std::vector<std::string>& warnings) const;

 private:
  Template& t_;
  YAML::Node map_;
  std::string path_;
  std::set<std::string, std::less<>> read_;
};

class Template {
 public:
  Template(YAML::Node root, const PlanOptions& options)
      : root_(std::move(root)), options_(options) {}

  Status Load(std::vector<std::string>& warnings);
  Result<StackPlan> Plan();

  // Resolves every intrinsic function in `n`; nullopt for AWS::NoValue.
  Result<std::optional<YAML::Node>> Resolve(const YAML::Node& n, const std::string& path);

 private:
  Result<std::optional<YAML::Node>> Intrinsic(const std::string& fn, const YAML::Node& arg,
                                              bool short_form, const std::string& path);
  // The argument of an intrinsic: a short form's node is the tagged node itself,
  // whose tag must not be resolved again.
  Result<YAML::Node> Argument(const YAML::Node& arg, bool short_form, const std::string& path);
  Result<std::optional<YAML::Node>> Ref(const std::string& name, const std::string& path);
  Result<YAML::Node> GetAtt(const std::string& resource, const std::string& attribute,
                            const std::string& path);
  Result<YAML::Node> Sub(const std::string& text, const std::map<std::string, YAML::Node>& vars,
                         const std::string& path);
  // The physical name of a resource of the template.
  Result<std::string> NameOf(const std::string& logical_id);

  Status LoadParameters();
  Result<FunctionPlan> BuildFunction(const std::string& id, const ResourceDecl& decl,
                                     StackPlan& plan);
  Status BuildEvent(const std::string& function_id, const std::string& event_id,
                    const YAML::Node& event, FunctionPlan& f, StackPlan& plan);
  Result<LayerPlan> BuildLayer(const std::string& id, const ResourceDecl& decl, StackPlan& plan);
  Result<QueuePlan> BuildQueue(const std::string& id, const ResourceDecl& decl, StackPlan& plan);
  Result<TablePlan> BuildTable(const std::string& id, const ResourceDecl& decl, StackPlan& plan);
  Result<TablePlan> BuildSimpleTable(const std::string& id, const ResourceDecl& decl,
                                     StackPlan& plan);
  // A CodeUri or ContentUri at `path`: a local directory or .zip, made absolute.
  Result<std::string> LocalPackage(const YAML::Node& uri, const std::string& path) const {
    constexpr std::string_view kOnlyLocal = "only a local directory or .zip file is supported (not an S3 location)";
    if (!uri.IsScalar()) return Error(path, kOnlyLocal);
    NIMBUS_ASSIGN_OR_RETURN(std::string text, AsString(uri, path));
    if (text.starts_with("s3://")) return Error(path, kOnlyLocal);
    return AbsolutePath(text);
  }
  std::string AbsolutePath(const std::string& p) const {
    return (options_.template_dir / p).lexically_normal().string();
  }

  YAML::Node root_;
  const PlanOptions& options_;
  std::vector<std::string>* warnings_ = nullptr;
  std::vector<std::string> order_;  // logical ids, in the template's order
  std::map<std::string, ResourceDecl> resources_;
  std::map<std::string, YAML::Node> parameters_;
  YAML::Node mappings_;
  YAML::Node function_globals_;
  std::map<std::string, std::string> names_;
  std::set<std::string> naming_;               // names being computed (a cycle is an error)
  std::map<std::string, std::string> routes_;  // route key → "Function.Event"
  std::map<std::string, std::string> rules_;   // rule name → "Function.Event"
};

Result<std::optional<YAML::Node>> Props::Get(std::string_view key) {
  read_.insert(std::string(key));
  auto child = Child(map_, key);
  if (!child) return std::optional<YAML::Node>();
  return t_.Resolve(*child, PathOf(key));
}

Result<std::optional<std::string>> Props::String(std::string_view key) {
  NIMBUS_ASSIGN_OR_RETURN(auto v, Get(key));
  if (!v) return std::optional<std::string>();
  NIMBUS_ASSIGN_OR_RETURN(std::string s, AsString(*v, PathOf(key)));
  return std::optional<std::string>(std::move(s));
}

Result<std::optional<int64_t>> Props::Int(std::string_view key, int64_t min, int64_t max) {
  NIMBUS_ASSIGN_OR_RETURN(auto v, Get(key));
  if (!v) return std::optional<int64_t>();
  NIMBUS_ASSIGN_OR_RETURN(int64_t i, AsInt(*v, PathOf(key)));
  if (i < min || i > max)
    return Error(PathOf(key), fmt::format("{} is not between {} and {}", i, min, max));
  return std::optional<int64_t>(i);
}

Result<std::optional<bool>> Props::Bool(std::string_view key) {
  NIMBUS_ASSIGN_OR_RETURN(auto v, Get(key));
  if (!v) return std::optional<bool>();
  NIMBUS_ASSIGN_OR_RETURN(bool b, AsBool(*v, PathOf(key)));
  return std::optional<bool>(b);
}

Result<std::optional<std::vector<std::string>>> Props::StringList(std::string_view key,
                                                                  bool single) {
  NIMBUS_ASSIGN_OR_RETURN(auto v, Get(key));
  if (!v) return std::optional<std::vector<std::string>>();
  NIMBUS_ASSIGN_OR_RETURN(auto list, AsStringList(*v, PathOf(key), single));
  return std::optional<std::vector<std::string>>(std::move(list));
}

Result<std::optional<std::map<std::string, std::string>>> Props::StringMap(std::string_view key) {
  NIMBUS_ASSIGN_OR_RETURN(auto v, Get(key));
  if (!v) return std::optional<std::map<std::string, std::string>>();
  NIMBUS_ASSIGN_OR_RETURN(auto m, AsStringMap(*v, PathOf(key)));
  return std::optional<std::map<std::string, std::string>>(std::move(m));
}

Result<std::string> Props::Required(std::string_view key) {
  NIMBUS_ASSIGN_OR_RETURN(auto v, String(key));
  if (!v || v->empty()) return Error(PathOf(key), "is required");
  return std::move(*v);
}

void Props::WarnUnread(std::initializer_list<std::string_view> ignored,
                       std::vector<std::string>& warnings) const {
  if (!map_.IsMap()) return;
  for (auto it = map_.begin(); it != map_.end(); ++it) {
    const std::string key = it->first.Scalar();
    if (read_.contains(key) || std::find(ignored.begin(), ignored.end(), key) != ignored.end())
      continue;
    warnings.push_back(
        fmt::format("{} is not supported by nimbus deploy and was ignored", PathOf(key)));
  }
}

Status Template::Load(std::vector<std::string>& warnings) {
  warnings_ = &warnings;
  if (!root_.IsMap())
    return InvalidArgument("the template is not a map of sections (Resources, ...)");
  for (auto it = root_.begin(); it != root_.end(); ++it) {
    const std::string key = it->first.Scalar();
    static const std::set<std::string> kKnown = {"AWSTemplateFormatVersion",
                                                 "Transform",
                                                 "Description",
                                                 "Metadata",
                                                 "Parameters",
                                                 "Mappings",
                                                 "Conditions",
                                                 "Globals",
                                                 "Resources",
                                                 "Outputs"};
    if (!kKnown.contains(key))
      warnings.push_back(fmt::format("the template section {} was ignored", key));
  }
  if (auto transform = Child(root_, "Transform")) {
    std::vector<std::string> names;
    if (transform->IsScalar()) names.push_back(transform->Scalar());
    if (transform->IsSequence()) {
      for (const auto& t : *transform) names.push_back(t.IsScalar() ? t.Scalar() : "?");
    }
    for (const auto& n : names) {
      if (!n.starts_with("AWS::Serverless")) {
        return Error("Transform",
                     fmt::format("{} is not supported (only AWS::Serverless-2016-10-31)", n));
      }
    }
  }
  if (auto conditions = Child(root_, "Conditions");
      conditions && conditions->IsMap() && conditions->size() > 0) {
    return Error("Conditions", "conditions are not supported by nimbus deploy");
  }
  mappings_ = Child(root_, "Mappings").value_or(YAML::Node(YAML::NodeType::Map));
  if (auto globals = Child(root_, "Globals")) {
    if (!globals->IsMap()) return Error("Globals", "expected a map");
    for (auto it = globals->begin(); it != globals->end(); ++it) {
      const std::string key = it->first.Scalar();
      if (key == "Function") {
        if (!it->second.IsMap()) return Error("Globals.Function", "expected a map");
        function_globals_ = it->second;
      } else {
        warnings.push_back(
            fmt::format("Globals.{} is not supported by nimbus deploy and was ignored", key));
      }
    }
  }
  auto resources = Child(root_, "Resources");
  if (!resources || !resources->IsMap() || resources->size() == 0) {
    return Error("Resources", "the template has no resources");
  }
  for (auto it = resources->begin(); it != resources->end(); ++it) {
    const std::string id = it->first.Scalar();
    const std::string path = "Resources." + id;
    const YAML::Node r = it->second;  // a copy: `it->` is a proxy that dies here
    if (!r.IsMap()) return Error(path, "expected a map with Type and Properties");
    auto type = Child(r, "Type");
    if (!type || !type->IsScalar()) return Error(path, "Type is required");
    const std::string t = type->Scalar();
    const bool applied = t == kFunction || t == kLayerVersion || t == kBucket || t == kQueue ||
                         t == kTable || t == kSimpleTable;
    const bool not_applied =
        std::find(std::begin(kNotApplied), std::end(kNotApplied), t) != std::end(kNotApplied);
    if (!applied && !not_applied) {
      return Error(
          path, fmt::format("resource type {} is not supported by nimbus deploy (supported: {})", t,
                            kSupportedTypes));
    }
    if (Child(r, "Condition"))
      return Error(path + ".Condition", "conditions are not supported by nimbus deploy");
    if (not_applied) {
      warnings.push_back(
          fmt::format("{} ({}) is not applied: Nimbus checks no IAM permissions", path, t));
    }
    YAML::Node properties = Child(r, "Properties").value_or(YAML::Node(YAML::NodeType::Map));
    if (properties.IsNull()) properties = YAML::Node(YAML::NodeType::Map);
    if (!properties.IsMap()) return Error(path + ".Properties", "expected a map");
    if (t == kFunction && function_globals_.IsMap())
      properties = MergeGlobals(function_globals_, properties);
    resources_[id] = ResourceDecl{t, properties};
    order_.push_back(id);
  }
  return LoadParameters();
}

Status Template::LoadParameters() {
  auto params = Child(root_, "Parameters");
  std::set<std::string> declared;
  if (params && params->IsMap()) {
    for (auto it = params->begin(); it != params->end(); ++it) {
      const std::string name = it->first.Scalar();
      const std::string path = "Parameters." + name;
      declared.insert(name);
      const YAML::Node p = it->second;  // a copy: `it->` is a proxy that dies here
      if (!p.IsMap()) return Error(path, "expected a map with Type");
      std::string type = "String";
      if (auto t = Child(p, "Type"); t && t->IsScalar()) type = t->Scalar();
      std::optional<std::string> value;
      if (auto d = Child(p, "Default")) {
        if (d->IsSequence()) {
          std::string joined;
          for (size_t i = 0; i < d->size(); ++i) joined += (i ? "," : "") + (*d)[i].Scalar();
          value = joined;
        } else if (d->IsScalar()) {
          value = d->Scalar();
        }
      }
      if (auto o = options_.parameter_overrides.find(name); o != options_.parameter_overrides.end())
        value = o->second;
      if (!value) {
        return Error(
            path, fmt::format("has no Default; give it with --parameter-overrides {}=VALUE", name));
      }
      if (auto allowed = Child(p, "AllowedValues"); allowed && allowed->IsSequence()) {
        bool ok = false;
        std::string list;
        for (const auto& a : *allowed) {
          ok = ok || (a.IsScalar() && a.Scalar() == *value);
          list += (list.empty() ? "" : ", ") + (a.IsScalar() ? a.Scalar() : std::string("?"));
        }
        if (!ok)
          return Error(path,
                       fmt::format("'{}' is not one of the AllowedValues ({})", *value, list));
      }
      if (type == "CommaDelimitedList" || type.starts_with("List<")) {
        YAML::Node list(YAML::NodeType::Sequence);
        size_t start = 0;
        while (true) {
          size_t comma = value->find(',', start);
          std::string item =
              value->substr(start, comma == std::string::npos ? std::string::npos : comma - start);
          item.erase(0, item.find_first_not_of(' '));
          item.erase(item.find_last_not_of(' ') + 1);
          list.push_back(StringNode(item));
          if (comma == std::string::npos) break;
          start = comma + 1;
        }
        parameters_[name] = list;
      } else if (type == "Number") {
        double d = 0;
        auto [ptr, ec] = std::from_chars(value->data(), value->data() + value->size(), d);
        if (value->empty() || ec != std::errc() || ptr != value->data() + value->size()) {
          return Error(path, fmt::format("'{}' is not a number", *value));
        }
        parameters_[name] = Tagged("?", *value);
      } else {
        parameters_[name] = StringNode(*value);
      }
    }
  }
  for (const auto& [name, value] : options_.parameter_overrides) {
    if (!declared.contains(name)) {
      return InvalidArgument(
          fmt::format("--parameter-overrides: {} is not a parameter of the template", name));
    }
  }
  return Status::Ok();
}

Result<std::optional<YAML::Node>> Template::Resolve(const YAML::Node& n, const std::string& path) {
  const std::string& tag = n.Tag();
  if (IsDeferred(n)) return std::optional<YAML::Node>(n);
  // Short forms: !Ref, !GetAtt, !Sub, ... ("!" alone marks a quoted scalar;
  // "tag:yaml.org,2002:..." are YAML's own).
  if (tag.size() > 1 && tag[0] == '!') {
    std::string fn = tag.substr(1);
    if (fn != "Ref" && fn != "Condition") fn = "Fn::" + fn;
    return Intrinsic(fn, n, true, path);
  }
  if (n.IsMap()) {
    if (n.size() == 1 && n.begin()->first.IsScalar()) {
      const std::string key = n.begin()->first.Scalar();
      if (key == "Ref" || key.starts_with("Fn::"))
        return Intrinsic(key, n.begin()->second, false, path);
    }
    YAML::Node out(YAML::NodeType::Map);
    for (auto it = n.begin(); it != n.end(); ++it) {
      if (!it->first.IsScalar()) return Error(path, "map keys must be strings");
      const std::string key = it->first.Scalar();
      NIMBUS_ASSIGN_OR_RETURN(auto v, Resolve(it->second, path + "." + key));
      if (v) out[key] = *v;
    }
    return std::optional<YAML::Node>(out);
  }
  if (n.IsSequence()) {
    YAML::Node out(YAML::NodeType::Sequence);
    for (size_t i = 0; i < n.size(); ++i) {
      NIMBUS_ASSIGN_OR_RETURN(auto v, Resolve(n[i], fmt::format("{}[{}]", path, i)));
      if (v) out.push_back(*v);
    }
    return std::optional<YAML::Node>(out);
  }
  return std::optional<YAML::Node>(n);
}

Result<YAML::Node> Template::Argument(const YAML::Node& arg, bool short_form,
                                      const std::string& path) {
  if (!short_form) {
    NIMBUS_ASSIGN_OR_RETURN(auto v, Resolve(arg, path));
    if (!v) return Error(path, "AWS::NoValue cannot be an argument of an intrinsic function");
    return *v;
  }
  if (arg.IsScalar()) return StringNode(arg.Scalar());
  if (arg.IsSequence()) {
    YAML::Node out(YAML::NodeType::Sequence);
    for (size_t i = 0; i < arg.size(); ++i) {
      NIMBUS_ASSIGN_OR_RETURN(auto v, Resolve(arg[i], fmt::format("{}[{}]", path, i)));
      if (v) out.push_back(*v);
    }
    return out;
  }
  if (arg.IsMap()) {
    YAML::Node out(YAML::NodeType::Map);
    for (auto it = arg.begin(); it != arg.end(); ++it) {
      const std::string key = it->first.Scalar();
      NIMBUS_ASSIGN_OR_RETURN(auto v, Resolve(it->second, path + "." + key));
      if (v) out[key] = *v;
    }
    return out;
  }
  return StringNode("");
}

Result<std::optional<YAML::Node>> Template::Intrinsic(const std::string& fn, const YAML::Node& arg,
                                                      bool short_form, const std::string& path) {
  const std::string where = path + " (" + fn + ")";
  if (fn == "Ref") {
    if (!arg.IsScalar()) return Error(where, "expected the name of a parameter or resource");
    return Ref(arg.Scalar(), where);
  }
  if (fn == "Fn::GetAtt") {
    std::string resource, attribute;
    if (arg.IsScalar()) {
      const std::string& s = arg.Scalar();
      size_t dot = s.find('.');
      if (dot == std::string::npos)
        return Error(where, fmt::format("expected Resource.Attribute, got '{}'", s));
      resource = s.substr(0, dot);
      attribute = s.substr(dot + 1);
    } else if (arg.IsSequence() && arg.size() == 2 && arg[0].IsScalar()) {
      resource = arg[0].Scalar();
      NIMBUS_ASSIGN_OR_RETURN(YAML::Node a, Argument(arg[1], false, where));
      NIMBUS_ASSIGN_OR_RETURN(attribute, AsString(a, where));
    } else {
      return Error(where, "expected [Resource, Attribute] or Resource.Attribute");
    }
    NIMBUS_ASSIGN_OR_RETURN(YAML::Node v, GetAtt(resource, attribute, where));
    return std::optional<YAML::Node>(v);
  }
  if (fn == "Fn::Sub") {
    std::map<std::string, YAML::Node> vars;
    std::string text;
    if (arg.IsScalar()) {
      text = arg.Scalar();
    } else if (arg.IsSequence() && arg.size() == 2 && arg[0].IsScalar()) {
      text = arg[0].Scalar();
      NIMBUS_ASSIGN_OR_RETURN(YAML::Node m, Argument(arg[1], false, where));
      if (!m.IsMap()) return Error(where, "the second element must be a map of variables");
      for (auto it = m.begin(); it != m.end(); ++it) vars[it->first.Scalar()] = it->second;
    } else {
      return Error(where, "expected a string or [string, {variables}]");
    }
    NIMBUS_ASSIGN_OR_RETURN(YAML::Node v, Sub(text, vars, where));
    return std::optional<YAML::Node>(v);
  }
  if (fn == "Fn::Join") {
    NIMBUS_ASSIGN_OR_RETURN(YAML::Node a, Argument(arg, short_form, where));
    if (!a.IsSequence() || a.size() != 2 || !a[1].IsSequence())
      return Error(where, "expected [delimiter, [values]]");
    NIMBUS_ASSIGN_OR_RETURN(std::string delimiter, AsString(a[0], where));
    std::string out;
    for (size_t i = 0; i < a[1].size(); ++i) {
      NIMBUS_ASSIGN_OR_RETURN(std::string s, AsString(a[1][i], where));
      out += (i ? delimiter : "") + s;
    }
    return std::optional<YAML::Node>(StringNode(out));
  }
  if (fn == "Fn::Select") {
    NIMBUS_ASSIGN_OR_RETURN(YAML::Node a, Argument(arg, short_form, where));
    if (!a.IsSequence() || a.size() != 2 || !a[1].IsSequence())
      return Error(where, "expected [index, [values]]");
    NIMBUS_ASSIGN_OR_RETURN(int64_t index, AsInt(a[0], where));
    if (index < 0 || index >= static_cast<int64_t>(a[1].size())) {
      return Error(where, fmt::format("index {} is out of the list's range", index));
    }
    return std::optional<YAML::Node>(a[1][static_cast<size_t>(index)]);
  }
  if (fn == "Fn::Split") {
    NIMBUS_ASSIGN_OR_RETURN(YAML::Node a, Argument(arg, short_form, where));
    if (!a.IsSequence() || a.size() != 2) return Error(where, "expected [delimiter, string]");
    NIMBUS_ASSIGN_OR_RETURN(std::string delimiter, AsString(a[0], where));
    NIMBUS_ASSIGN_OR_RETURN(std::string source, AsString(a[1], where));
    if (delimiter.empty()) return Error(where, "the delimiter is empty");
    YAML::Node out(YAML::NodeType::Sequence);
    size_t start = 0;
    while (true) {
      size_t at = source.find(delimiter, start);
      out.push_back(StringNode(
          source.substr(start, at == std::string::npos ? std::string::npos : at - start)));
      if (at == std::string::npos) break;
      start = at + delimiter.size();
    }
    return std::optional<YAML::Node>(out);
  }
  if (fn == "Fn::FindInMap") {
    NIMBUS_ASSIGN_OR_RETURN(YAML::Node a, Argument(arg, short_form, where));
    if (!a.IsSequence() || a.size() != 3)
      return Error(where, "expected [MapName, TopLevelKey, SecondLevelKey]");
    std::string keys[3];
    for (size_t i = 0; i < 3; ++i) {
      NIMBUS_ASSIGN_OR_RETURN(keys[i], AsString(a[i], where));
    }
    auto map = Child(mappings_, keys[0]);
    if (!map) return Error(where, fmt::format("no mapping {}", keys[0]));
    auto top = Child(*map, keys[1]);
    if (!top) return Error(where, fmt::format("mapping {} has no key {}", keys[0], keys[1]));
    auto value = Child(*top, keys[2]);
    if (!value)
      return Error(where, fmt::format("mapping {}.{} has no key {}", keys[0], keys[1], keys[2]));
    return Resolve(*value, where);
  }
  if (fn == "Fn::Base64") {
    NIMBUS_ASSIGN_OR_RETURN(YAML::Node a, Argument(arg, short_form, where));
    NIMBUS_ASSIGN_OR_RETURN(std::string s, AsString(a, where));
    return std::optional<YAML::Node>(StringNode(Base64Encode(s)));
  }
  if (fn == "Fn::If" || fn == "Fn::Equals" || fn == "Fn::Not" || fn == "Fn::And" ||
      fn == "Fn::Or" || fn == "Condition") {
    return Error(where, "conditions are not supported by nimbus deploy");
  }
  return Error(where, fmt::format("{} is not supported by nimbus deploy", fn));
}

Result<std::optional<YAML::Node>> Template::Ref(const std::string& name, const std::string& path) {
  if (name == "AWS::NoValue") return std::optional<YAML::Node>();
  if (name == "AWS::Region") return std::optional<YAML::Node>(StringNode(options_.region));
  if (name == "AWS::AccountId") return std::optional<YAML::Node>(StringNode(options_.account_id));
  if (name == "AWS::StackName") return std::optional<YAML::Node>(StringNode(options_.stack_name));
  if (name == "AWS::StackId") {
    return std::optional<YAML::Node>(
        StringNode(fmt::format("arn:aws:cloudformation:{}:{}:stack/{}/nimbus", options_.region,
                               options_.account_id, options_.stack_name)));
  }
  if (name == "AWS::Partition") return std::optional<YAML::Node>(StringNode("aws"));
  if (name == "AWS::URLSuffix") return std::optional<YAML::Node>(StringNode("amazonaws.com"));
  if (auto p = parameters_.find(name); p != parameters_.end())
    return std::optional<YAML::Node>(p->second);
  auto r = resources_.find(name);
  if (r == resources_.end()) {
    return Error(
        path,
        fmt::format("{} is not a parameter, pseudo parameter or resource of the template", name));
  }
  if (r->second.type == kLayerVersion) return std::optional<YAML::Node>(Tagged(kLayerTag, name));
  NIMBUS_ASSIGN_OR_RETURN(std::string physical, NameOf(name));
  if (r->second.type == kQueue) {
    return std::optional<YAML::Node>(
        StringNode(fmt::format("{}/{}/{}", options_.endpoint, options_.account_id, physical)));
  }
  return std::optional<YAML::Node>(StringNode(physical));
}

Result<YAML::Node> Template::GetAtt(const std::string& resource, const std::string& attribute,
                                    const std::string& path) {
  auto r = resources_.find(resource);
  if (r == resources_.end())
    return Error(path, fmt::format("{} is not a resource of the template", resource));
  const std::string& type = r->second.type;
  auto none = [&] {
    return Error(path, fmt::format("{} ({}) has no attribute {} that nimbus deploy knows", resource,
                                   type, attribute));
  };
  if (type == kLayerVersion) return none();
  NIMBUS_ASSIGN_OR_RETURN(std::string name, NameOf(resource));
  const std::string& region = options_.region;
  const std::string& account = options_.account_id;
  if (type == kFunction && attribute == "Arn") {
    return StringNode(fmt::format("arn:aws:lambda:{}:{}:function:{}", region, account, name));
  }
  if (type == kBucket) {
    if (attribute == "Arn") return StringNode("arn:aws:s3:::" + name);
    if (attribute == "DomainName") return StringNode(name + ".s3.amazonaws.com");
    if (attribute == "RegionalDomainName")
      return StringNode(fmt::format("{}.s3.{}.amazonaws.com", name, region));
  }
  if (type == kQueue) {
    if (attribute == "Arn")
      return StringNode(fmt::format("arn:aws:sqs:{}:{}:{}", region, account, name));
    if (attribute == "QueueName") return StringNode(name);
    if (attribute == "QueueUrl")
      return StringNode(fmt::format("{}/{}/{}", options_.endpoint, account, name));
  }
  if (type == kTable || type == kSimpleTable) {
    if (attribute == "Arn")
      return StringNode(fmt::format("arn:aws:dynamodb:{}:{}:table/{}", region, account, name));
    if (attribute == "StreamArn" && type == kTable) return Tagged(kStreamTag, resource);
  }
  if (type == "AWS::IAM::Role" && attribute == "Arn") {
    return StringNode(fmt::format("arn:aws:iam::{}:role/{}", account, name));
  }
  return none();
}

Result<YAML::Node> Template::Sub(const std::string& text,
                                 const std::map<std::string, YAML::Node>& vars,
                                 const std::string& path) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    size_t open = text.find("${", i);
    if (open == std::string::npos) {
      out += text.substr(i);
      break;
    }
    out += text.substr(i, open - i);
    size_t close = text.find('}', open);
    if (close == std::string::npos)
      return Error(path, fmt::format("unterminated ${{ in '{}'", text));
    std::string name = text.substr(open + 2, close - open - 2);
    i = close + 1;
    if (name.starts_with("!")) {
      out += "${" + name.substr(1) + "}";
      continue;
    }
    YAML::Node value;
    if (auto v = vars.find(name); v != vars.end()) {
      value = v->second;
    } else if (size_t dot = name.find('.');
               dot != std::string::npos && !name.starts_with("AWS::")) {
      NIMBUS_ASSIGN_OR_RETURN(value, GetAtt(name.substr(0, dot), name.substr(dot + 1), path));
    } else {
      NIMBUS_ASSIGN_OR_RETURN(auto r, Ref(name, path));
      if (!r) return Error(path, "AWS::NoValue cannot be substituted");
      value = *r;
    }
    if (!value.IsScalar()) return Error(path, fmt::format("${{{}}} is not a string", name));
    NIMBUS_ASSIGN_OR_RETURN(std::string s, AsString(value, path));
    out += s;
  }
  return StringNode(out);
}

Result<std::string> Template::NameOf(const std::string& id) {
  if (auto n = names_.find(id); n != names_.end()) return n->second;
  auto r = resources_.find(id);
  NIMBUS_CHECK(r != resources_.end()) << "NameOf an unknown resource " << id;
  if (naming_.contains(id)) return Error("Resources." + id, "its name depends on itself");
  naming_.insert(id);
  const std::string& type = r->second.type;
  const std::string& stack = options_.stack_name;
  Props p(*this, r->second.properties, "Resources." + id + ".Properties");
  auto given = [&](std::string_view key) -> Result<std::string> {
    NIMBUS_ASSIGN_OR_RETURN(auto v, p.String(key));
    return v.value_or("");
  };
  std::string name;
  if (type == kFunction) {
    NIMBUS_ASSIGN_OR_RETURN(name, given("FunctionName"));
    if (name.empty()) name = GeneratedName(stack, id, kMaxFunctionName, false);
  } else if (type == kLayerVersion) {
    NIMBUS_ASSIGN_OR_RETURN(name, given("LayerName"));
    if (name.empty()) name = GeneratedName(stack, id, kMaxLayerName, false);
  } else if (type == kBucket) {
    NIMBUS_ASSIGN_OR_RETURN(name, given("BucketName"));
    if (name.empty()) name = GeneratedName(stack, id, kMaxBucketName, true);
  } else if (type == kQueue) {
    NIMBUS_ASSIGN_OR_RETURN(name, given("QueueName"));
    NIMBUS_ASSIGN_OR_RETURN(auto fifo, p.Bool("FifoQueue"));
    if (name.empty())
      name = GeneratedName(stack, id, kMaxQueueName, false, fifo.value_or(false) ? ".fifo" : "");
  } else if (type == kTable || type == kSimpleTable) {
    NIMBUS_ASSIGN_OR_RETURN(name, given("TableName"));
    if (name.empty()) name = GeneratedName(stack, id, kMaxTableName, false);
  } else {
    name = GeneratedName(stack, id, kMaxFunctionName, false);
  }
  naming_.erase(id);
  names_[id] = name;
  return name;
}

Result<LayerPlan> Template::BuildLayer(const std::string& id, const ResourceDecl& decl,
                                       StackPlan& plan) {
  Props p(*this, decl.properties, "Resources." + id + ".Properties");
  LayerPlan l;
  l.logical_id = id;
  NIMBUS_ASSIGN_OR_RETURN(l.name, NameOf(id));
  NIMBUS_ASSIGN_OR_RETURN(auto content, p.Get("ContentUri"));
  if (!content) return Error(p.PathOf("ContentUri"), "is required");
  NIMBUS_ASSIGN_OR_RETURN(l.content_path, LocalPackage(*content, p.PathOf("ContentUri")));
  NIMBUS_ASSIGN_OR_RETURN(auto description, p.String("Description"));
  l.description = description.value_or("");
  NIMBUS_ASSIGN_OR_RETURN(auto runtimes, p.StringList("CompatibleRuntimes"));
  l.compatible_runtimes = runtimes.value_or(std::vector<std::string>{});
  NIMBUS_ASSIGN_OR_RETURN(auto architectures, p.StringList("CompatibleArchitectures"));
  l.compatible_architectures = architectures.value_or(std::vector<std::string>{});
  NIMBUS_ASSIGN_OR_RETURN(auto license, p.String("LicenseInfo"));
  l.license_info = license.value_or("");
  p.WarnUnread({"LayerName", "RetentionPolicy"}, plan.warnings);
  return l;
}

Result<QueuePlan> Template::BuildQueue(const std::string& id, const ResourceDecl& decl,
                                       StackPlan& plan) {
  Props p(*this, decl.properties, "Resources." + id + ".Properties");
  QueuePlan q;
  q.logical_id = id;
  NIMBUS_ASSIGN_OR_RETURN(q.name, NameOf(id));
  // SQS's limits for each attribute.
  struct IntAttribute {
    const char* name;
    int64_t min, max;
  };
  for (const IntAttribute& a :
       {IntAttribute{"DelaySeconds", 0, 900}, IntAttribute{"MaximumMessageSize", 1024, 262144},
        IntAttribute{"MessageRetentionPeriod", 60, 1209600},
        IntAttribute{"ReceiveMessageWaitTimeSeconds", 0, 20},
        IntAttribute{"VisibilityTimeout", 0, 43200}}) {
    NIMBUS_ASSIGN_OR_RETURN(auto v, p.Int(a.name, a.min, a.max));
    if (v) q.attributes[a.name] = std::to_string(*v);
  }
  for (const char* b : {"FifoQueue", "ContentBasedDeduplication"}) {
    NIMBUS_ASSIGN_OR_RETURN(auto v, p.Bool(b));
    if (v && (*v || std::string_view(b) != "FifoQueue")) q.attributes[b] = *v ? "true" : "false";
  }
  for (const char* s : {"DeduplicationScope", "FifoThroughputLimit"}) {
    NIMBUS_ASSIGN_OR_RETURN(auto v, p.String(s));
    if (v) q.attributes[s] = *v;
  }
  for (const char* j : {"RedrivePolicy", "RedriveAllowPolicy"}) {
    NIMBUS_ASSIGN_OR_RETURN(auto v, p.Get(j));
    if (v) {
      NIMBUS_ASSIGN_OR_RETURN(q.attributes[j], JsonText(*v, p.PathOf(j)));
    }
  }
  p.WarnUnread({"QueueName", "Tags"}, plan.warnings);
  return q;
}

Result<TablePlan> Template::BuildTable(const std::string& id, const ResourceDecl& decl,
                                       StackPlan& plan) {
  Props p(*this, decl.properties, "Resources." + id + ".Properties");
  TablePlan t;
  t.logical_id = id;
  NIMBUS_ASSIGN_OR_RETURN(t.name, NameOf(id));
  NIMBUS_ASSIGN_OR_RETURN(auto attributes, p.Get("AttributeDefinitions"));
  if (!attributes || !attributes->IsSequence() || attributes->size() == 0) {
    return Error(p.PathOf("AttributeDefinitions"),
                 "is required (a list of AttributeName and AttributeType)");
  }
  for (size_t i = 0; i < attributes->size(); ++i) {
    Props a(*this, (*attributes)[i], fmt::format("{}[{}]", p.PathOf("AttributeDefinitions"), i));
    NIMBUS_ASSIGN_OR_RETURN(std::string name, a.Required("AttributeName"));
    NIMBUS_ASSIGN_OR_RETURN(std::string type, a.Required("AttributeType"));
    if (type != "S" && type != "N" && type != "B") {
      return Error(a.PathOf("AttributeType"), fmt::format("'{}' is not S, N or B", type));
    }
    t.attributes.emplace_back(name, type);
  }
  auto defined = [&](const std::string& name) {
    return std::any_of(t.attributes.begin(), t.attributes.end(),
                       [&](const auto& a) { return a.first == name; });
  };
  // A KeySchema: HASH first, then an optional RANGE, each defined in AttributeDefinitions.
  auto key_schema = [&](const YAML::Node& node, const std::string& path, std::string& hash,
                        std::string& range) -> Status {
    if (!node.IsSequence() || node.size() == 0 || node.size() > 2) {
      return Error(path, "expected a HASH key and an optional RANGE key");
    }
    for (size_t i = 0; i < node.size(); ++i) {
      Props k(*this, node[i], fmt::format("{}[{}]", path, i));
      NIMBUS_ASSIGN_OR_RETURN(std::string name, k.Required("AttributeName"));
      NIMBUS_ASSIGN_OR_RETURN(std::string type, k.Required("KeyType"));
      if (type != (i == 0 ? "HASH" : "RANGE")) {
        return Error(k.PathOf("KeyType"),
                     fmt::format("expected {}, got {}", i == 0 ? "HASH" : "RANGE", type));
      }
      if (!defined(name))
        return Error(k.PathOf("AttributeName"),
                     fmt::format("{} is not in AttributeDefinitions", name));
      (i == 0 ? hash : range) = name;
    }
    return Status::Ok();
  };
  NIMBUS_ASSIGN_OR_RETURN(auto schema, p.Get("KeySchema"));
  if (!schema) return Error(p.PathOf("KeySchema"), "is required");
  NIMBUS_RETURN_IF_ERROR(key_schema(*schema, p.PathOf("KeySchema"), t.hash_key, t.range_key));
  NIMBUS_ASSIGN_OR_RETURN(auto billing, p.String("BillingMode"));
  NIMBUS_ASSIGN_OR_RETURN(auto throughput, p.Get("ProvisionedThroughput"));
  auto capacity = [&](const YAML::Node& node, const std::string& path, int64_t& read,
                      int64_t& write) -> Status {
    Props c(*this, node, path);
    NIMBUS_ASSIGN_OR_RETURN(auto r, c.Int("ReadCapacityUnits", 1, 40000));
    NIMBUS_ASSIGN_OR_RETURN(auto w, c.Int("WriteCapacityUnits", 1, 40000));
    if (!r || !w) return Error(path, "ReadCapacityUnits and WriteCapacityUnits are required");
    read = *r;
    write = *w;
    return Status::Ok();
  };
  // CloudFormation's default is PROVISIONED, which needs ProvisionedThroughput;
  // without one the table is on demand.
  t.billing_mode = billing.value_or(throughput ? "PROVISIONED" : "PAY_PER_REQUEST");
  if (t.billing_mode != "PROVISIONED" && t.billing_mode != "PAY_PER_REQUEST") {
    return Error(p.PathOf("BillingMode"),
                 fmt::format("'{}' is not PROVISIONED or PAY_PER_REQUEST", t.billing_mode));
  }
  if (t.billing_mode == "PROVISIONED") {
    if (!throughput)
      return Error(p.PathOf("ProvisionedThroughput"), "is required with BillingMode PROVISIONED");
    NIMBUS_RETURN_IF_ERROR(capacity(*throughput, p.PathOf("ProvisionedThroughput"), t.read_capacity,
                                    t.write_capacity));
  }
  NIMBUS_ASSIGN_OR_RETURN(auto stream, p.Get("StreamSpecification"));
  if (stream) {
    Props s(*this, *stream, p.PathOf("StreamSpecification"));
    NIMBUS_ASSIGN_OR_RETURN(t.stream_view_type, s.Required("StreamViewType"));
    static const std::set<std::string> kViews = {"KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE",
                                                 "NEW_AND_OLD_IMAGES"};
    if (!kViews.contains(t.stream_view_type)) {
      return Error(s.PathOf("StreamViewType"),
                   fmt::format("'{}' is not KEYS_ONLY, NEW_IMAGE, OLD_IMAGE or NEW_AND_OLD_IMAGES",
                               t.stream_view_type));
    }
  }
  for (const char* kind : {"GlobalSecondaryIndexes", "LocalSecondaryIndexes"}) {
    NIMBUS_ASSIGN_OR_RETURN(auto list, p.Get(kind));
    if (!list) continue;
    if (!list->IsSequence()) return Error(p.PathOf(kind), "expected a list");
    for (size_t i = 0; i < list->size(); ++i) {
      const std::string path = fmt::format("{}[{}]", p.PathOf(kind), i);
      Props x(*this, (*list)[i], path);
      TableIndexPlan idx;
      idx.global = kind[0] == 'G';
      NIMBUS_ASSIGN_OR_RETURN(idx.name, x.Required("IndexName"));
      NIMBUS_ASSIGN_OR_RETURN(auto ks, x.Get("KeySchema"));
      if (!ks) return Error(x.PathOf("KeySchema"), "is required");
      NIMBUS_RETURN_IF_ERROR(key_schema(*ks, x.PathOf("KeySchema"), idx.hash_key, idx.range_key));
      NIMBUS_ASSIGN_OR_RETURN(auto projection, x.Get("Projection"));
      if (projection) {
        Props pr(*this, *projection, x.PathOf("Projection"));
        NIMBUS_ASSIGN_OR_RETURN(auto type, pr.String("ProjectionType"));
        idx.projection = type.value_or("ALL");
        NIMBUS_ASSIGN_OR_RETURN(auto non_key, pr.StringList("NonKeyAttributes"));
        idx.non_key_attributes = non_key.value_or(std::vector<std::string>{});
      }
      NIMBUS_ASSIGN_OR_RETURN(auto tp, x.Get("ProvisionedThroughput"));
      if (tp && idx.global) {
        NIMBUS_RETURN_IF_ERROR(capacity(*tp, x.PathOf("ProvisionedThroughput"), idx.read_capacity,
                                        idx.write_capacity));
      }
      if (idx.global && t.billing_mode == "PROVISIONED" && idx.read_capacity == 0) {
        return Error(x.PathOf("ProvisionedThroughput"),
                     "is required for the indexes of a PROVISIONED table");
      }
      t.indexes.push_back(std::move(idx));
    }
  }
  p.WarnUnread({"TableName", "Tags", "SSESpecification", "PointInTimeRecoverySpecification",
                "DeletionProtectionEnabled", "TableClass", "ContributorInsightsSpecification"},
               plan.warnings);
  return t;
}

Result<TablePlan> Template::BuildSimpleTable(const std::string& id, const ResourceDecl& decl,
                                             StackPlan& plan) {
  Props p(*this, decl.properties, "Resources." + id + ".Properties");
  TablePlan t;
  t.logical_id = id;
  NIMBUS_ASSIGN_OR_RETURN(t.name, NameOf(id));
  std::string key = "id", type = "String";
  NIMBUS_ASSIGN_OR_RETURN(auto primary, p.Get("PrimaryKey"));
  if (primary) {
    Props k(*this, *primary, p.PathOf("PrimaryKey"));
    NIMBUS_ASSIGN_OR_RETURN(auto name, k.String("Name"));
    NIMBUS_ASSIGN_OR_RETURN(auto t2, k.String("Type"));
    key = name.value_or(key);
    type = t2.value_or(type);
  }
  const std::string short_type = type == "String"   ? "S"
                                 : type == "Number" ? "N"
                                 : type == "Binary" ? "B"
                                                    : "";
  if (short_type.empty())
    return Error(p.PathOf("PrimaryKey.Type"),
                 fmt::format("'{}' is not String, Number or Binary", type));
  t.attributes.emplace_back(key, short_type);
  t.hash_key = key;
  NIMBUS_ASSIGN_OR_RETURN(auto throughput, p.Get("ProvisionedThroughput"));
  if (throughput) {
    Props c(*this, *throughput, p.PathOf("ProvisionedThroughput"));
    NIMBUS_ASSIGN_OR_RETURN(auto r, c.Int("ReadCapacityUnits", 1, 40000));
    NIMBUS_ASSIGN_OR_RETURN(auto w, c.Int("WriteCapacityUnits", 1, 40000));
    if (!r || !w) return Error(c.path(), "ReadCapacityUnits and WriteCapacityUnits are required");
    t.billing_mode = "PROVISIONED";
    t.read_capacity = *r;
    t.write_capacity = *w;
  }
  p.WarnUnread({"TableName", "Tags", "SSESpecification"}, plan.warnings);
  return t;
}

Result<FunctionPlan> Template::BuildFunction(const std::string& id, const ResourceDecl& decl,
                                             StackPlan& plan) {
  Props p(*this, decl.properties, "Resources." + id + ".Properties");
  FunctionPlan f;
  f.logical_id = id;
  NIMBUS_ASSIGN_OR_RETURN(f.name, NameOf(id));
  NIMBUS_ASSIGN_OR_RETURN(auto package_type, p.String("PackageType"));
  if (package_type && *package_type != "Zip") {
    return Error(p.PathOf("PackageType"), "only Zip packages are supported by nimbus deploy");
  }
  NIMBUS_ASSIGN_OR_RETURN(f.runtime, p.Required("Runtime"));
  NIMBUS_ASSIGN_OR_RETURN(f.handler, p.Required("Handler"));
  NIMBUS_ASSIGN_OR_RETURN(auto code, p.Get("CodeUri"));
  NIMBUS_ASSIGN_OR_RETURN(auto inline_code, p.String("InlineCode"));
  if (code && inline_code) return Error(p.path(), "CodeUri and InlineCode cannot both be given");
  if (code) {
    NIMBUS_ASSIGN_OR_RETURN(f.code_path, LocalPackage(*code, p.PathOf("CodeUri")));
  } else if (inline_code) {
    f.inline_code = *inline_code;
    if (f.runtime.starts_with("python")) {
      f.inline_file = "index.py";
    } else if (f.runtime.starts_with("nodejs")) {
      f.inline_file = "index.js";
    } else {
      return Error(p.PathOf("InlineCode"), "is supported for python and nodejs runtimes only");
    }
  } else {
    return Error(p.path(), "CodeUri (a directory or .zip file) or InlineCode is required");
  }
  NIMBUS_ASSIGN_OR_RETURN(auto description, p.String("Description"));
  f.description = description.value_or("");
  NIMBUS_ASSIGN_OR_RETURN(auto memory, p.Int("MemorySize", 128, 10240));
  f.memory_mb = static_cast<int>(memory.value_or(f.memory_mb));
  NIMBUS_ASSIGN_OR_RETURN(auto timeout, p.Int("Timeout", 1, 900));
  f.timeout_s = static_cast<int>(timeout.value_or(f.timeout_s));
  NIMBUS_ASSIGN_OR_RETURN(auto environment, p.Get("Environment"));
  if (environment) {
    Props e(*this, *environment, p.PathOf("Environment"));
    NIMBUS_ASSIGN_OR_RETURN(auto vars, e.StringMap("Variables"));
    f.environment = vars.value_or(std::map<std::string, std::string>{});
    e.WarnUnread({}, plan.warnings);
  }
  NIMBUS_ASSIGN_OR_RETURN(auto layers, p.Get("Layers"));
  if (layers) {
    if (!layers->IsSequence()) return Error(p.PathOf("Layers"), "expected a list");
    for (size_t i = 0; i < layers->size(); ++i) {
      const YAML::Node& l = (*layers)[i];
      const std::string path = fmt::format("{}[{}]", p.PathOf("Layers"), i);
      if (l.Tag() == kLayerTag) {
        f.layers.push_back({l.Scalar(), ""});
        continue;
      }
      NIMBUS_ASSIGN_OR_RETURN(std::string arn, AsString(l, path));
      if (!arn.starts_with("arn:aws:lambda:"))
        return Error(path, fmt::format("'{}' is not a layer version ARN", arn));
      f.layers.push_back({"", arn});
    }
  }
  NIMBUS_ASSIGN_OR_RETURN(auto architectures, p.StringList("Architectures"));
  if (architectures) {
    if (architectures->size() != 1 ||
        ((*architectures)[0] != "x86_64" && (*architectures)[0] != "arm64")) {
      return Error(p.PathOf("Architectures"), "expected one of x86_64 or arm64");
    }
    f.architecture = (*architectures)[0];
  }
  NIMBUS_ASSIGN_OR_RETURN(auto tags, p.StringMap("Tags"));
  f.tags = tags.value_or(std::map<std::string, std::string>{});
  NIMBUS_ASSIGN_OR_RETURN(auto events, p.Get("Events"));
  if (events) {
    if (!events->IsMap()) return Error(p.PathOf("Events"), "expected a map of events");
    for (auto it = events->begin(); it != events->end(); ++it) {
      NIMBUS_RETURN_IF_ERROR(BuildEvent(id, it->first.Scalar(), it->second, f, plan));
    }
  }
  // IAM is not checked by Nimbus: the role and policies are accepted and not applied.
  p.WarnUnread({"FunctionName", "Policies", "Role", "PermissionsBoundary", "RolePath",
                "AssumeRolePolicyDocument"},
               plan.warnings);
  return f;
}

Status Template::BuildEvent(const std::string& function_id, const std::string& event_id,
                            const YAML::Node& event, FunctionPlan& f, StackPlan& plan) {
  const std::string path = fmt::format("Resources.{}.Properties.Events.{}", function_id, event_id);
  if (!event.IsMap()) return Error(path, "expected a map with Type and Properties");
  Props e(*this, event, path);
  NIMBUS_ASSIGN_OR_RETURN(std::string type, e.Required("Type"));
  NIMBUS_ASSIGN_OR_RETURN(auto properties, e.Get("Properties"));
  YAML::Node props_node =
      properties && properties->IsMap() ? *properties : YAML::Node(YAML::NodeType::Map);
  Props p(*this, props_node, path + ".Properties");
  EventPlan out;
  out.id = event_id;
  out.type = type;
  const std::string who = function_id + "." + event_id;
  auto function_response_types = [&](bool& report) -> Status {
    NIMBUS_ASSIGN_OR_RETURN(auto types, p.StringList("FunctionResponseTypes"));
    for (const auto& t : types.value_or(std::vector<std::string>{})) {
      if (t != "ReportBatchItemFailures") {
        return Error(p.PathOf("FunctionResponseTypes"),
                     fmt::format("'{}' is not ReportBatchItemFailures", t));
      }
      report = true;
    }
    return Status::Ok();
  };
  if (type == "S3") {
    S3EventPlan s;
    NIMBUS_ASSIGN_OR_RETURN(s.bucket, p.Required("Bucket"));
    for (const auto& id : order_) {
      if (resources_[id].type != kBucket) continue;
      NIMBUS_ASSIGN_OR_RETURN(std::string name, NameOf(id));
      if (name == s.bucket) s.bucket_logical_id = id;
    }
    if (s.bucket_logical_id.empty()) {
      return Error(p.PathOf("Bucket"), "must reference an AWS::S3::Bucket of the template (!Ref)");
    }
    NIMBUS_ASSIGN_OR_RETURN(auto events, p.StringList("Events", true));
    if (!events || events->empty()) return Error(p.PathOf("Events"), "is required");
    s.events = *events;
    NIMBUS_ASSIGN_OR_RETURN(auto filter, p.Get("Filter"));
    if (filter) {
      Props fp(*this, *filter, p.PathOf("Filter"));
      NIMBUS_ASSIGN_OR_RETURN(auto key, fp.Get("S3Key"));
      if (key) {
        Props kp(*this, *key, fp.PathOf("S3Key"));
        NIMBUS_ASSIGN_OR_RETURN(auto rules, kp.Get("Rules"));
        if (rules && rules->IsSequence()) {
          for (size_t i = 0; i < rules->size(); ++i) {
            Props r(*this, (*rules)[i], fmt::format("{}[{}]", kp.PathOf("Rules"), i));
            NIMBUS_ASSIGN_OR_RETURN(std::string name, r.Required("Name"));
            NIMBUS_ASSIGN_OR_RETURN(auto value, r.String("Value"));
            std::string lower = AsciiLower(name);
            if (lower != "prefix" && lower != "suffix") {
              return Error(r.PathOf("Name"), fmt::format("'{}' is not prefix or suffix", name));
            }
            (lower == "prefix" ? s.prefix : s.suffix) = value.value_or("");
          }
        }
      }
    }
    out.source = std::move(s);
  } else if (type == "SQS") {
    QueueEventPlan q;
    NIMBUS_ASSIGN_OR_RETURN(q.queue_arn, p.Required("Queue"));
    if (!q.queue_arn.starts_with("arn:aws:sqs:")) {
      return Error(p.PathOf("Queue"),
                   fmt::format("'{}' is not a queue ARN (use !GetAtt Queue.Arn)", q.queue_arn));
    }
    NIMBUS_ASSIGN_OR_RETURN(auto batch, p.Int("BatchSize", 1, 10000));
    q.batch_size = static_cast<int>(batch.value_or(q.batch_size));
    NIMBUS_ASSIGN_OR_RETURN(auto window, p.Int("MaximumBatchingWindowInSeconds", 0, 300));
    q.batching_window_s = static_cast<int>(window.value_or(0));
    NIMBUS_ASSIGN_OR_RETURN(auto enabled, p.Bool("Enabled"));
    q.enabled = enabled.value_or(true);
    NIMBUS_RETURN_IF_ERROR(function_response_types(q.report_item_failures));
    NIMBUS_ASSIGN_OR_RETURN(auto scaling, p.Get("ScalingConfig"));
    if (scaling) {
      Props sc(*this, *scaling, p.PathOf("ScalingConfig"));
      NIMBUS_ASSIGN_OR_RETURN(auto max, sc.Int("MaximumConcurrency", 2, 1000));
      if (max) q.maximum_concurrency = static_cast<int>(*max);
    }
    out.source = std::move(q);
  } else if (type == "DynamoDB") {
    StreamEventPlan s;
    NIMBUS_ASSIGN_OR_RETURN(auto stream, p.Get("Stream"));
    if (!stream) return Error(p.PathOf("Stream"), "is required");
    if (stream->Tag() == kStreamTag) {
      s.table_logical_id = stream->Scalar();
      NIMBUS_ASSIGN_OR_RETURN(s.table, NameOf(s.table_logical_id));
    } else {
      NIMBUS_ASSIGN_OR_RETURN(s.stream_arn, AsString(*stream, p.PathOf("Stream")));
      if (!s.stream_arn.starts_with("arn:aws:dynamodb:")) {
        return Error(p.PathOf("Stream"), "expected a stream ARN (use !GetAtt Table.StreamArn)");
      }
    }
    NIMBUS_ASSIGN_OR_RETURN(s.starting_position, p.Required("StartingPosition"));
    if (s.starting_position != "TRIM_HORIZON" && s.starting_position != "LATEST") {
      return Error(p.PathOf("StartingPosition"),
                   fmt::format("'{}' is not TRIM_HORIZON or LATEST", s.starting_position));
    }
    NIMBUS_ASSIGN_OR_RETURN(auto batch, p.Int("BatchSize", 1, 10000));
    s.batch_size = static_cast<int>(batch.value_or(s.batch_size));
    NIMBUS_ASSIGN_OR_RETURN(auto window, p.Int("MaximumBatchingWindowInSeconds", 0, 300));
    s.batching_window_s = static_cast<int>(window.value_or(0));
    NIMBUS_ASSIGN_OR_RETURN(auto enabled, p.Bool("Enabled"));
    s.enabled = enabled.value_or(true);
    NIMBUS_RETURN_IF_ERROR(function_response_types(s.report_item_failures));
    NIMBUS_ASSIGN_OR_RETURN(auto retries, p.Int("MaximumRetryAttempts", -1, 10000));
    if (retries) s.maximum_retry_attempts = static_cast<int>(*retries);
    NIMBUS_ASSIGN_OR_RETURN(auto age, p.Int("MaximumRecordAgeInSeconds", -1, 604800));
    if (age) s.maximum_record_age_s = static_cast<int>(*age);
    NIMBUS_ASSIGN_OR_RETURN(s.bisect_on_error, p.Bool("BisectBatchOnFunctionError"));
    NIMBUS_ASSIGN_OR_RETURN(auto parallel, p.Int("ParallelizationFactor", 1, 10));
    if (parallel) s.parallelization_factor = static_cast<int>(*parallel);
    NIMBUS_ASSIGN_OR_RETURN(auto destination, p.Get("DestinationConfig"));
    if (destination) {
      Props d(*this, *destination, p.PathOf("DestinationConfig"));
      NIMBUS_ASSIGN_OR_RETURN(auto on_failure, d.Get("OnFailure"));
      if (on_failure) {
        Props o(*this, *on_failure, d.PathOf("OnFailure"));
        NIMBUS_ASSIGN_OR_RETURN(s.on_failure_arn, o.Required("Destination"));
        o.WarnUnread({"Type"}, plan.warnings);
      }
    }
    out.source = std::move(s);
  } else if (type == "HttpApi" || type == "Api") {
    HttpEventPlan h;
    const bool rest = type == "Api";
    NIMBUS_ASSIGN_OR_RETURN(auto api_id, p.Get(rest ? "RestApiId" : "ApiId"));
    if (api_id) {
      return Error(
          p.PathOf(rest ? "RestApiId" : "ApiId"),
          "explicit API resources are not supported: every HttpApi and Api event is a route of the "
          "stack's own HTTP API");
    }
    NIMBUS_ASSIGN_OR_RETURN(auto route_path, p.String("Path"));
    NIMBUS_ASSIGN_OR_RETURN(auto method, p.String("Method"));
    if (rest && (!route_path || !method)) return Error(p.path(), "Path and Method are required");
    if (route_path.has_value() != method.has_value())
      return Error(p.path(), "give both Path and Method, or neither");
    if (!route_path) {
      h.route_key = "$default";
    } else {
      if (!route_path->starts_with("/")) return Error(p.PathOf("Path"), "must start with /");
      std::string m = method->empty() ? "ANY" : *method;
      std::transform(m.begin(), m.end(), m.begin(),
                     [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
      h.route_key = m + " " + *route_path;
    }
    NIMBUS_ASSIGN_OR_RETURN(auto payload, p.String("PayloadFormatVersion"));
    h.payload_version = payload.value_or(rest ? "1.0" : "2.0");
    if (h.payload_version != "1.0" && h.payload_version != "2.0") {
      return Error(p.PathOf("PayloadFormatVersion"), "must be 1.0 or 2.0");
    }
    if (auto [it, fresh] = routes_.emplace(h.route_key, who); !fresh) {
      return Error(path,
                   fmt::format("the route {} is also the route of {}", h.route_key, it->second));
    }
    p.MarkRead("TimeoutInMillis");
    out.source = std::move(h);
  } else if (type == "Schedule" || type == "EventBridgeRule" || type == "CloudWatchEvent") {
    RuleEventPlan r;
    const bool schedule = type == "Schedule";
    if (schedule) {
      NIMBUS_ASSIGN_OR_RETURN(r.schedule, p.Required("Schedule"));
      NIMBUS_ASSIGN_OR_RETURN(auto enabled, p.Bool("Enabled"));
      if (enabled) r.enabled = *enabled;
      NIMBUS_ASSIGN_OR_RETURN(auto description, p.String("Description"));
      r.description = description.value_or("");
    } else {
      NIMBUS_ASSIGN_OR_RETURN(auto pattern, p.Get("Pattern"));
      if (!pattern) return Error(p.PathOf("Pattern"), "is required");
      NIMBUS_ASSIGN_OR_RETURN(r.pattern, JsonText(*pattern, p.PathOf("Pattern")));
      NIMBUS_ASSIGN_OR_RETURN(auto bus, p.String("EventBusName"));
      if (bus && *bus != "default")
        return Error(p.PathOf("EventBusName"), "only the default event bus is served");
      NIMBUS_ASSIGN_OR_RETURN(auto input_path, p.String("InputPath"));
      r.input_path = input_path.value_or("");
      NIMBUS_ASSIGN_OR_RETURN(auto target, p.Get("Target"));
      if (target) {
        Props tp(*this, *target, p.PathOf("Target"));
        NIMBUS_ASSIGN_OR_RETURN(auto target_id, tp.String("Id"));
        r.target_id = target_id.value_or("");
      }
    }
    NIMBUS_ASSIGN_OR_RETURN(auto state, p.String("State"));
    if (state) {
      if (*state != "ENABLED" && *state != "DISABLED")
        return Error(p.PathOf("State"), "must be ENABLED or DISABLED");
      r.enabled = *state == "ENABLED";
    }
    NIMBUS_ASSIGN_OR_RETURN(auto input, p.Get("Input"));
    if (input) {
      NIMBUS_ASSIGN_OR_RETURN(r.input, JsonText(*input, p.PathOf("Input")));
    }
    NIMBUS_ASSIGN_OR_RETURN(auto name, p.String(schedule ? "Name" : "RuleName"));
    if (name && !name->empty()) {
      r.rule_name = *name;
      r.generated_name = false;
    } else {
      r.rule_name =
          GeneratedName(options_.stack_name, function_id + "-" + event_id, kMaxRuleName, false);
    }
    if (r.target_id.empty()) r.target_id = function_id.substr(0, 64);
    if (auto [it, fresh] = rules_.emplace(r.rule_name, who); !fresh) {
      return Error(path,
                   fmt::format("the rule name {} is also the rule of {}", r.rule_name, it->second));
    }
    out.source = std::move(r);
  } else {
    return Error(
        path, fmt::format("event type {} is not supported by nimbus deploy (supported: {})", type,
                          kSupportedEvents));
  }
  e.WarnUnread({}, plan.warnings);
  p.WarnUnread({}, plan.warnings);
  f.events.push_back(std::move(out));
  return Status::Ok();
}

Result<StackPlan> Template::Plan() {
  StackPlan plan;
  plan.stack_name = options_.stack_name;
  for (const auto& id : order_) {
    const ResourceDecl& decl = resources_[id];
    if (decl.type == kLayerVersion) {
      NIMBUS_ASSIGN_OR_RETURN(auto l, BuildLayer(id, decl, plan));
      plan.layers.push_back(std::move(l));
    } else if (decl.type == kBucket) {
      Props p(*this, decl.properties, "Resources." + id + ".Properties");
      BucketPlan b{id, ""};
      NIMBUS_ASSIGN_OR_RETURN(b.name, NameOf(id));
      p.WarnUnread({"BucketName", "Tags"}, plan.warnings);
      plan.buckets.push_back(std::move(b));
    } else if (decl.type == kQueue) {
      NIMBUS_ASSIGN_OR_RETURN(auto q, BuildQueue(id, decl, plan));
      plan.queues.push_back(std::move(q));
    } else if (decl.type == kTable) {
      NIMBUS_ASSIGN_OR_RETURN(auto t, BuildTable(id, decl, plan));
      plan.tables.push_back(std::move(t));
    } else if (decl.type == kSimpleTable) {
      NIMBUS_ASSIGN_OR_RETURN(auto t, BuildSimpleTable(id, decl, plan));
      plan.tables.push_back(std::move(t));
    }
  }
  // Functions last: their events refer to the resources above.
  for (const auto& id : order_) {
    const ResourceDecl& decl = resources_[id];
    if (decl.type != kFunction) continue;
    NIMBUS_ASSIGN_OR_RETURN(auto f, BuildFunction(id, decl, plan));
    plan.functions.push_back(std::move(f));
  }
  // Names must be unique within each kind.
  auto unique = [](const auto& list, std::string_view what) -> Status {
    std::map<std::string, std::string> seen;
    for (const auto& x : list) {
      if (auto [it, fresh] = seen.emplace(x.name, x.logical_id); !fresh) {
        return InvalidArgument(fmt::format("Resources.{} and Resources.{} are both the {} {}",
                                           it->second, x.logical_id, what, x.name));
      }
    }
    return Status::Ok();
  };
  NIMBUS_RETURN_IF_ERROR(unique(plan.functions, "function"));
  NIMBUS_RETURN_IF_ERROR(unique(plan.layers, "layer"));
  NIMBUS_RETURN_IF_ERROR(unique(plan.buckets, "bucket"));
  NIMBUS_RETURN_IF_ERROR(unique(plan.queues, "queue"));
  NIMBUS_RETURN_IF_ERROR(unique(plan.tables, "table"));
  return plan;
}

}  // namespace

bool StackPlan::HasHttpEvents() const {
  for (const auto& f : functions) {
    for (const auto& e : f.events) {
      if (std::holds_alternative<HttpEventPlan>(e.source)) return true;
    }
  }
  return false;
}

Result<StackPlan> PlanStack(std::string_view template_text, const PlanOptions& options) {
  NIMBUS_CHECK(ValidStackName(options.stack_name))
      << "PlanStack with stack name " << options.stack_name;
  YAML::Node root;
  // yaml-cpp reports errors by throwing; this is the one place they are caught.
  try {
    root = YAML::Load(std::string(template_text));
  } catch (const YAML::Exception& e) {
    return InvalidArgument(fmt::format("the template is not valid YAML: line {}, column {}: {}",
                                       e.mark.line + 1, e.mark.column + 1, e.msg));
  }
  std::vector<std::string> warnings;
  try {
    Template t(root, options);
    NIMBUS_RETURN_IF_ERROR(t.Load(warnings));
    NIMBUS_ASSIGN_OR_RETURN(StackPlan plan, t.Plan());
    plan.warnings.insert(plan.warnings.begin(), warnings.begin(), warnings.end());
    return plan;
  } catch (const YAML::Exception& e) {
    return InvalidArgument(fmt::format("the template: {}", e.what()));
  }
}

bool ValidStackName(std::string_view name) {
  if (name.empty() || name.size() > 128 || !std::isalpha(static_cast<unsigned char>(name[0])))
    return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-';
  });
}

std::string StackNameFromDirectory(const fs::path& dir) {
  std::string base = dir.lexically_normal().filename().string();
  if (base.empty() || base == ".")
    base = fs::absolute(dir).lexically_normal().parent_path().filename().string();
  std::string name;
  for (char c : base) name += std::isalnum(static_cast<unsigned char>(c)) || c == '-' ? c : '-';
  if (name.empty() || !std::isalpha(static_cast<unsigned char>(name[0]))) name = "stack-" + name;
  while (name.ends_with("-")) name.pop_back();
  return name.substr(0, 128);
}

Result<std::map<std::string, std::string>> ParseParameterOverrides(
    const std::vector<std::string>& items) {
  std::map<std::string, std::string> out;
  for (const auto& item : items) {
    size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0) {
      return InvalidArgument(fmt::format("--parameter-overrides {}: expected Key=Value", item));
    }
    if (!out.emplace(item.substr(0, eq), item.substr(eq + 1)).second) {
      return InvalidArgument(
          fmt::format("--parameter-overrides: {} is given twice", item.substr(0, eq)));
    }
  }
  return out;
}

}  // namespace nimbus::cli
