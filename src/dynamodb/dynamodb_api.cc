#include "dynamodb/dynamodb_api.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <set>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "base/encoding.h"
#include "base/log.h"
#include "base/time_format.h"
#include "dynamodb/expression.h"
#include "http/sigv4_scope.h"

namespace nimbus::dynamodb {
namespace {

namespace json = boost::json;

constexpr std::string_view kTablesPrefix = "DynamoDB_20120810.";
constexpr std::string_view kStreamsPrefix = "DynamoDBStreams_20120810.";
constexpr size_t kMaxItemBytes = 400 * 1024;
constexpr size_t kMaxPageBytes = 1024 * 1024;
constexpr int64_t kStreamRetentionMs = 24 * 3600 * 1000;
constexpr int64_t kIteratorLifetimeMs = 15 * 60 * 1000;

// An error answer: the AWS error type (without the namespace), its message, and
// extra members (CancellationReasons, Item).
struct Failure {
  std::string type;
  std::string message;
  json::object extra;
};

// What an operation answers: a body or a failure.
struct Outcome {
  Outcome(json::object b) : body(std::move(b)) {}  // NOLINT: implicit on purpose
  Outcome(Failure f) : failure(std::move(f)) {}     // NOLINT
  json::object body;
  std::optional<Failure> failure;
};

Failure Validation(std::string message) { return {"ValidationException", std::move(message), {}}; }
Failure TableNotFound() { return {"ResourceNotFoundException", "Requested resource not found", {}}; }

Failure FromStatus(const Status& st) {
  switch (st.code()) {
    case Code::kInvalidArgument:
    case Code::kValidationFailed: return Validation(std::string(st.message()));
    case Code::kNotFound: return TableNotFound();
    case Code::kResourceExhausted:  // the disk filled under the write
      return {"ServiceUnavailable", "No space left on device in the data directory: " + st.message(), {}};
    default: return {"InternalServerError", std::string(st.message()), {}};
  }
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Str(const json::object& o, std::string_view k) {
  const json::value* x = o.if_contains(k);
  return x && x->is_string() ? std::string(x->as_string()) : std::string();
}
const json::object* Obj(const json::object& o, std::string_view k) {
  const json::value* x = o.if_contains(k);
  return x && x->is_object() ? &x->as_object() : nullptr;
}
const json::array* Arr(const json::object& o, std::string_view k) {
  const json::value* x = o.if_contains(k);
  return x && x->is_array() ? &x->as_array() : nullptr;
}
std::optional<int64_t> Int(const json::object& o, std::string_view k) {
  const json::value* x = o.if_contains(k);
  if (x && x->is_int64()) return x->as_int64();
  if (x && x->is_uint64()) return static_cast<int64_t>(x->as_uint64());
  return std::nullopt;
}
bool Bool(const json::object& o, std::string_view k) {
  const json::value* x = o.if_contains(k);
  return x && x->is_bool() && x->as_bool();
}


// ----- request pieces -----

Result<Substitutions> SubstitutionsOf(const json::object& in) {
  std::map<std::string, std::string> names;
  std::map<std::string, Value> values;
  if (const json::value* n = in.if_contains("ExpressionAttributeNames")) {
    if (!n->is_object()) return InvalidArgument("ExpressionAttributeNames must be a map");
    if (n->as_object().empty()) return InvalidArgument("ExpressionAttributeNames must not be empty");
    for (const auto& [k, v] : n->as_object()) {
      if (!v.is_string()) return InvalidArgument("ExpressionAttributeNames values must be strings");
      names.emplace(std::string(k), std::string(v.as_string()));
    }
  }
  if (const json::value* n = in.if_contains("ExpressionAttributeValues")) {
    if (!n->is_object()) return InvalidArgument("ExpressionAttributeValues must be a map");
    if (n->as_object().empty()) return InvalidArgument("ExpressionAttributeValues must not be empty");
    for (const auto& [k, v] : n->as_object()) {
      auto value = ValueFromJson(v);
      if (!value.has_value()) {
        return InvalidArgument(fmt::format("ExpressionAttributeValues contains invalid value: {} for key {}",
                                           value.error().message(), std::string_view(k)));
      }
      values.emplace(std::string(k), std::move(*value));
    }
  }
  return Substitutions(std::move(names), std::move(values));
}

// DynamoDB refuses unused placeholders, and placeholders in a request that has
// no expression at all with a message of their own.
Status CheckPlaceholders(const json::object& in, const Substitutions& subs) {
  const bool expressions = in.contains("ConditionExpression") || in.contains("UpdateExpression") ||
                           in.contains("ProjectionExpression") || in.contains("FilterExpression") ||
                           in.contains("KeyConditionExpression");
  if (!expressions && in.contains("ExpressionAttributeNames")) {
    return InvalidArgument("ExpressionAttributeNames can only be specified when using expressions");
  }
  if (!expressions && in.contains("ExpressionAttributeValues")) {
    return InvalidArgument("ExpressionAttributeValues can only be specified when using expressions");
  }
  return subs.CheckAllUsed();
}

Status RefuseLegacy(const json::object& in, std::initializer_list<std::string_view> names) {
  for (auto n : names) {
    if (in.contains(n)) {
      return InvalidArgument(fmt::format("Nimbus does not support the legacy parameter {}; use the expression "
                                         "parameters (ConditionExpression, UpdateExpression, KeyConditionExpression, "
                                         "FilterExpression, ProjectionExpression) instead", n));
    }
  }
  return Status::Ok();
}

// The projection of a request: ProjectionExpression, or the legacy AttributesToGet.
Result<std::optional<Projection>> ProjectionOf(const json::object& in, Substitutions& subs) {
  std::string text = Str(in, "ProjectionExpression");
  if (in.contains("ProjectionExpression")) {
    NIMBUS_ASSIGN_OR_RETURN(Projection p, Projection::Parse(text, subs));
    return std::optional<Projection>(std::move(p));
  }
  if (const json::array* a = Arr(in, "AttributesToGet")) {
    Projection p;
    for (const auto& n : *a) {
      if (n.is_string()) p.paths.push_back({PathElement{std::string(n.as_string()), -1}});
    }
    return std::optional<Projection>(std::move(p));
  }
  return std::optional<Projection>();
}

Result<std::optional<Condition>> ConditionOf(const json::object& in, std::string_view param, Substitutions& subs) {
  if (!in.contains(param)) return std::optional<Condition>();
  std::string text = Str(in, param);
  NIMBUS_ASSIGN_OR_RETURN(Condition c, Condition::Parse(text, param, subs));
  return std::optional<Condition>(std::move(c));
}

// The key of a Get/Delete/Update: exactly the schema's attributes, of their types.
Result<Item> KeyFromJson(const json::object& in, const TableDef& def) {
  const json::value* k = in.if_contains("Key");
  if (k == nullptr) return InvalidArgument("1 validation error detected: Value null at 'key' failed to satisfy constraint: Member must not be null");
  NIMBUS_ASSIGN_OR_RETURN(Item key, ItemFromJson(*k));
  const size_t want = def.key.range.empty() ? 1 : 2;
  auto matches = KeyOf(key, def.key);
  if (key.size() != want || !matches) return InvalidArgument("The provided key element does not match the schema");
  for (const auto& [name, v] : key) {
    if ((v.type == Type::kS || v.type == Type::kB) && v.scalar.empty()) {
      return InvalidArgument(fmt::format("One or more parameter values are not valid. The AttributeValue for a key "
                                         "attribute cannot contain an empty {} value. Key: {}",
                                         v.type == Type::kS ? "string" : "binary", name));
    }
  }
  return key;
}

// A whole item about to be stored: its keys (table and index) present, typed and
// non-empty, and its size within the limit.
Status ValidateItem(const Item& item, const TableDef& def) {
  for (const auto& [name, type] : {std::pair{def.key.hash, def.key.hash_type}, std::pair{def.key.range, def.key.range_type}}) {
    if (name.empty()) continue;
    auto it = item.find(name);
    if (it == item.end()) return InvalidArgument(fmt::format("One or more parameter values were invalid: Missing the key {} in the item", name));
    if (it->second.type != type) {
      return InvalidArgument(fmt::format("One or more parameter values were invalid: Type mismatch for key {} expected: {} actual: {}",
                                         name, TypeName(type), TypeName(it->second.type)));
    }
    if (it->second.scalar.empty()) {
      return InvalidArgument(fmt::format("One or more parameter values are not valid. The AttributeValue for a key "
                                         "attribute cannot contain an empty {} value. Key: {}",
                                         type == Type::kS ? "string" : "binary", name));
    }
  }
  for (const auto& idx : def.indexes) {
    for (const auto& [name, type] : {std::pair{idx.key.hash, idx.key.hash_type}, std::pair{idx.key.range, idx.key.range_type}}) {
      if (name.empty()) continue;
      auto it = item.find(name);
      if (it == item.end()) continue;
      if (it->second.type != type) {
        return InvalidArgument(fmt::format("One or more parameter values were invalid: Type mismatch for Index Key {} "
                                           "Expected: {} Actual: {} IndexName: {}",
                                           name, TypeName(type), TypeName(it->second.type), idx.name));
      }
      if (it->second.scalar.empty()) {
        return InvalidArgument(fmt::format("One or more parameter values are not valid. A value specified for a secondary "
                                           "index key is not supported. The AttributeValue for a key attribute cannot "
                                           "contain an empty string value. IndexName: {}, IndexKey: {}", idx.name, name));
      }
    }
  }
  if (ItemSize(item) > kMaxItemBytes) return InvalidArgument("Item size has exceeded the maximum allowed size");
  return Status::Ok();
}

json::object ConsumedCapacity(const json::object& in, const std::string& table, double units) {
  std::string mode = Str(in, "ReturnConsumedCapacity");
  if (mode != "TOTAL" && mode != "INDEXES") return {};
  return {{"ConsumedCapacity", json::object{{"TableName", table}, {"CapacityUnits", units}}}};
}

double WriteUnits(const std::optional<Item>& a, const std::optional<Item>& b) {
  size_t size = std::max(a ? ItemSize(*a) : 0, b ? ItemSize(*b) : 0);
  return std::max(1.0, std::ceil(static_cast<double>(size) / 1024.0));
}

void Merge(json::object& into, json::object from) {
  for (auto& [k, v] : from) into[k] = std::move(v);
}

// The attributes an index holds of `item`: all, or the table and index keys (and
// the INCLUDEd ones).
Item IndexProjection(const Item& item, const TableDef& def, const SecondaryIndex& idx) {
  if (idx.projection == "ALL") return item;
  Item out;
  auto keep = [&](const std::string& name) {
    if (name.empty()) return;
    if (auto it = item.find(name); it != item.end()) out.emplace(name, it->second);
  };
  keep(def.key.hash);
  keep(def.key.range);
  keep(idx.key.hash);
  keep(idx.key.range);
  for (const auto& n : idx.non_key_attributes) keep(n);
  return out;
}


// The smallest byte string greater than every string starting with `prefix`, or
// nullopt when there is none (all 0xff).
std::optional<std::string> PrefixEnd(std::string prefix) {
  while (!prefix.empty() && static_cast<unsigned char>(prefix.back()) == 0xff) prefix.pop_back();
  if (prefix.empty()) return std::nullopt;
  prefix.back() = static_cast<char>(static_cast<unsigned char>(prefix.back()) + 1);
  return prefix;
}

std::string StreamLabelNow() {
  std::string iso = IsoUtcMillis(std::chrono::system_clock::now());
  if (iso.ends_with('Z')) iso.pop_back();
  return iso;
}

double EpochSeconds(int64_t ms) { return static_cast<double>(ms) / 1000.0; }

// ----- the API -----

class Session {
 public:
  Session(TableStore& store, const DynamoDbApiOptions& options) : store_(store), options_(options) {}

  Outcome Dispatch(std::string_view action, const json::object& in);

  // Tables whose streams got records during this request.
  std::set<std::string> streamed;

 private:
  std::string TableArn(const std::string& table) const {
    return fmt::format("arn:aws:dynamodb:{}:{}:table/{}", options_.region, options_.account_id, table);
  }
  Result<TableDef> Table(const json::object& in, std::string_view param = "TableName");
  json::object Describe(const TableDef& def);
  Outcome CreateTable(const json::object& in);
  Outcome UpdateTable(const json::object& in);
  Outcome PutItem(const json::object& in);
  Outcome GetItem(const json::object& in);
  Outcome DeleteItem(const json::object& in);
  Outcome UpdateItem(const json::object& in);
  Outcome QueryOrScan(const json::object& in, bool query);
  Outcome BatchGetItem(const json::object& in);
  Outcome BatchWriteItem(const json::object& in);
  Outcome TransactGetItems(const json::object& in);
  Outcome TransactWriteItems(const json::object& in);
  Outcome ListStreams(const json::object& in);
  Outcome DescribeStream(const json::object& in);
  Outcome GetShardIterator(const json::object& in);
  Outcome GetRecords(const json::object& in);

  // A parsed single-item write: the op for the store, and what the caller needs back.
  struct PreparedWrite {
    WriteOp op;
    std::string return_values;
    bool old_on_failure = false;
    std::vector<Path> updated;  // UpdateItem: the paths it writes or removes
  };
  Result<PreparedWrite> PreparePut(const json::object& in, const TableDef& def);
  Result<PreparedWrite> PrepareDelete(const json::object& in, const TableDef& def);
  Result<PreparedWrite> PrepareUpdate(const json::object& in, const TableDef& def);
  Result<PreparedWrite> PrepareCheck(const json::object& in, const TableDef& def);
  Outcome RunSingle(const json::object& in, const TableDef& def, Result<PreparedWrite> prepared);
  Result<std::vector<WriteOutcome>> Write(std::vector<WriteOp> ops, std::vector<Status>* failures);

  TableStore& store_;
  const DynamoDbApiOptions& options_;
};

Result<TableDef> Session::Table(const json::object& in, std::string_view param) {
  std::string name = Str(in, param);
  if (name.empty()) {
    return InvalidArgument(fmt::format("1 validation error detected: Value null at '{}{}' failed to satisfy constraint: "
                                       "Member must not be null", static_cast<char>(std::tolower(param[0])), param.substr(1)));
  }
  return store_.GetTable(name);
}

json::object Session::Describe(const TableDef& def) {
  auto key_schema = [](const KeySchema& k) {
    json::array a{json::object{{"AttributeName", k.hash}, {"KeyType", "HASH"}}};
    if (!k.range.empty()) a.push_back(json::object{{"AttributeName", k.range}, {"KeyType", "RANGE"}});
    return a;
  };
  auto throughput = [&](int64_t r, int64_t w) {
    return json::object{{"NumberOfDecreasesToday", 0}, {"ReadCapacityUnits", r}, {"WriteCapacityUnits", w}};
  };
  auto counts = store_.TableCounts(def.name);
  const int64_t items = counts.has_value() ? counts->first : 0, bytes = counts.has_value() ? counts->second : 0;
  json::array attributes;
  for (const auto& [n, t] : def.attributes) attributes.push_back(json::object{{"AttributeName", n}, {"AttributeType", TypeName(t)}});
  json::object t{{"TableName", def.name},
                 {"TableArn", TableArn(def.name)},
                 {"TableId", def.id},
                 {"TableStatus", "ACTIVE"},
                 {"CreationDateTime", EpochSeconds(def.created_ms)},
                 {"KeySchema", key_schema(def.key)},
                 {"AttributeDefinitions", std::move(attributes)},
                 {"ItemCount", items},
                 {"TableSizeBytes", bytes},
                 {"ProvisionedThroughput", throughput(def.read_capacity, def.write_capacity)},
                 {"DeletionProtectionEnabled", false}};
  if (def.billing_mode == "PAY_PER_REQUEST") {
    t["BillingModeSummary"] = json::object{{"BillingMode", "PAY_PER_REQUEST"},
                                           {"LastUpdateToPayPerRequestDateTime", EpochSeconds(def.created_ms)}};
  }
  json::array gsis, lsis;
  for (const auto& idx : def.indexes) {
    json::object projection{{"ProjectionType", idx.projection}};
    if (!idx.non_key_attributes.empty()) {
      json::array nka;
      for (const auto& n : idx.non_key_attributes) nka.push_back(json::string(n));
      projection["NonKeyAttributes"] = std::move(nka);
    }
    json::object o{{"IndexName", idx.name}, {"KeySchema", key_schema(idx.key)}, {"Projection", std::move(projection)},
                   {"IndexArn", TableArn(def.name) + "/index/" + idx.name}, {"ItemCount", items}, {"IndexSizeBytes", bytes}};
    if (idx.global) {
      o["IndexStatus"] = "ACTIVE";
      o["ProvisionedThroughput"] = throughput(idx.read_capacity, idx.write_capacity);
      gsis.push_back(std::move(o));
    } else {
      lsis.push_back(std::move(o));
    }
  }
  if (!gsis.empty()) t["GlobalSecondaryIndexes"] = std::move(gsis);
  if (!lsis.empty()) t["LocalSecondaryIndexes"] = std::move(lsis);
  if (def.stream_enabled) {
    t["StreamSpecification"] = json::object{{"StreamEnabled", true}, {"StreamViewType", def.stream_view_type}};
  }
  if (!def.stream_label.empty()) {
    t["LatestStreamLabel"] = def.stream_label;
    t["LatestStreamArn"] = StreamArn(options_, def.name, def.stream_label);
  }
  return t;
}

// Table and index definitions of CreateTable / UpdateTable.
Result<KeySchema> KeySchemaFrom(const json::value* v, const std::vector<std::pair<std::string, Type>>& attributes,
                                std::vector<std::string>& used) {
  if (v == nullptr || !v->is_array() || v->as_array().empty() || v->as_array().size() > 2) {
    return InvalidArgument("1 validation error detected: Value null at 'keySchema' failed to satisfy constraint: Member must have length less than or equal to 2");
  }
  KeySchema k;
  const auto& a = v->as_array();
  for (size_t i = 0; i < a.size(); ++i) {
    if (!a[i].is_object()) return InvalidArgument("Invalid KeySchema element");
    std::string name = Str(a[i].as_object(), "AttributeName"), type = Str(a[i].as_object(), "KeyType");
    if (i == 0 && type != "HASH") return InvalidArgument("Invalid KeySchema: The first KeySchemaElement is not a HASH key type");
    if (i == 1 && type != "RANGE") return InvalidArgument("Invalid KeySchema: The second KeySchemaElement is not a RANGE key type");
    if (i == 1 && name == k.hash) return InvalidArgument("Both the Hash Key and the Range Key element in the KeySchema have the same name");
    auto def = std::find_if(attributes.begin(), attributes.end(), [&](const auto& p) { return p.first == name; });
    if (def == attributes.end()) {
      std::string defined;
      for (const auto& [n, t] : attributes) defined += (defined.empty() ? "" : ", ") + n;
      return InvalidArgument(fmt::format("One or more parameter values were invalid: Some index key attributes are not "
                                         "defined in AttributeDefinitions. Keys: [{}], AttributeDefinitions: [{}]", name, defined));
    }
    (i == 0 ? k.hash : k.range) = name;
    (i == 0 ? k.hash_type : k.range_type) = def->second;
    used.push_back(name);
  }
  return k;
}

Result<SecondaryIndex> IndexFrom(const json::object& o, bool global, const std::vector<std::pair<std::string, Type>>& attributes,
                                 std::vector<std::string>& used) {
  SecondaryIndex idx;
  idx.global = global;
  idx.name = Str(o, "IndexName");
  if (idx.name.size() < 3 || idx.name.size() > 255) {
    return InvalidArgument(fmt::format("1 validation error detected: Value '{}' at 'indexName' failed to satisfy constraint: "
                                       "Member must have length greater than or equal to 3", idx.name));
  }
  NIMBUS_ASSIGN_OR_RETURN(idx.key, KeySchemaFrom(o.if_contains("KeySchema"), attributes, used));
  const json::object* p = Obj(o, "Projection");
  idx.projection = p ? Str(*p, "ProjectionType") : "";
  if (idx.projection.empty()) idx.projection = "ALL";
  if (idx.projection != "ALL" && idx.projection != "KEYS_ONLY" && idx.projection != "INCLUDE") {
    return InvalidArgument(fmt::format("1 validation error detected: Value '{}' at 'projection.projectionType' failed to "
                                       "satisfy constraint: Member must satisfy enum value set: [INCLUDE, ALL, KEYS_ONLY]", idx.projection));
  }
  if (p) {
    if (const json::array* n = Arr(*p, "NonKeyAttributes")) {
      for (const auto& s : *n) {
        if (s.is_string()) idx.non_key_attributes.emplace_back(s.as_string());
      }
    }
  }
  if (idx.projection == "INCLUDE" && idx.non_key_attributes.empty()) {
    return InvalidArgument("One or more parameter values were invalid: ProjectionType is INCLUDE, but NonKeyAttributes is not specified");
  }
  if (idx.projection != "INCLUDE" && !idx.non_key_attributes.empty()) {
    return InvalidArgument(fmt::format("One or more parameter values were invalid: ProjectionType is {}, but NonKeyAttributes is specified", idx.projection));
  }
  if (const json::object* t = Obj(o, "ProvisionedThroughput")) {
    idx.read_capacity = Int(*t, "ReadCapacityUnits").value_or(0);
    idx.write_capacity = Int(*t, "WriteCapacityUnits").value_or(0);
  }
  return idx;
}

Status StreamSpecInto(const json::object& in, TableDef& def) {
  const json::object* s = Obj(in, "StreamSpecification");
  if (s == nullptr) return Status::Ok();
  const bool enabled = Bool(*s, "StreamEnabled");
  std::string view = Str(*s, "StreamViewType");
  if (enabled) {
    if (view != "KEYS_ONLY" && view != "NEW_IMAGE" && view != "OLD_IMAGE" && view != "NEW_AND_OLD_IMAGES") {
      return InvalidArgument("One or more parameter values were invalid: StreamViewType must be one of KEYS_ONLY, NEW_IMAGE, OLD_IMAGE, NEW_AND_OLD_IMAGES when StreamEnabled is true");
    }
    if (def.stream_enabled) {
      return InvalidArgument(fmt::format("Table already has an enabled stream: {}", def.stream_label));
    }
    def.stream_enabled = true;
    def.stream_view_type = view;
    def.stream_label = StreamLabelNow();
  } else {
    if (!view.empty()) return InvalidArgument("One or more parameter values were invalid: StreamViewType cannot be specified when StreamEnabled is false");
    if (!def.stream_enabled) return InvalidArgument(fmt::format("Table {} does not have a stream enabled to disable", def.name));
    def.stream_enabled = false;
  }
  return Status::Ok();
}

Status BillingInto(const json::object& in, TableDef& def, bool create) {
  std::string mode = Str(in, "BillingMode");
  if (!mode.empty() && mode != "PROVISIONED" && mode != "PAY_PER_REQUEST") {
    return InvalidArgument(fmt::format("1 validation error detected: Value '{}' at 'billingMode' failed to satisfy "
                                       "constraint: Member must satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]", mode));
  }
  if (!mode.empty()) def.billing_mode = mode;
  const json::object* t = Obj(in, "ProvisionedThroughput");
  if (def.billing_mode == "PAY_PER_REQUEST") {
    if (t) return InvalidArgument("One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST");
    def.read_capacity = def.write_capacity = 0;
  } else if (t) {
    auto r = Int(*t, "ReadCapacityUnits"), w = Int(*t, "WriteCapacityUnits");
    if (!r || !w || *r < 1 || *w < 1) {
      return InvalidArgument("One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified and at least 1 when BillingMode is PROVISIONED");
    }
    def.read_capacity = *r;
    def.write_capacity = *w;
  } else if (create) {
    return InvalidArgument("One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED");
  }
  return Status::Ok();
}

Result<std::vector<std::pair<std::string, Type>>> AttributesFrom(const json::object& in) {
  std::vector<std::pair<std::string, Type>> out;
  const json::array* a = Arr(in, "AttributeDefinitions");
  if (a == nullptr) return out;
  for (const auto& x : *a) {
    if (!x.is_object()) return InvalidArgument("Invalid AttributeDefinitions element");
    std::string name = Str(x.as_object(), "AttributeName"), type = Str(x.as_object(), "AttributeType");
    if (type != "S" && type != "N" && type != "B") {
      return InvalidArgument(fmt::format("1 validation error detected: Value '{}' at 'attributeDefinitions.{}.member.attributeType' "
                                         "failed to satisfy constraint: Member must satisfy enum value set: [B, N, S]", type, out.size() + 1));
    }
    if (std::any_of(out.begin(), out.end(), [&](const auto& p) { return p.first == name; })) {
      return InvalidArgument(fmt::format("Cannot have two attributes with the same name: {}", name));
    }
    out.emplace_back(name, type == "S" ? Type::kS : type == "N" ? Type::kN : Type::kB);
  }
  return out;
}

bool ValidTableName(const std::string& n) {
  return n.size() >= 3 && n.size() <= 255 && std::all_of(n.begin(), n.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
         });
}

Outcome Session::CreateTable(const json::object& in) {
  TableDef def;
  def.name = Str(in, "TableName");
  if (!ValidTableName(def.name)) {
    return Validation(fmt::format("1 validation error detected: Value '{}' at 'tableName' failed to satisfy constraint: "
                                  "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+ and have length between 3 and 255", def.name));
  }
  auto attributes = AttributesFrom(in);
  if (!attributes.has_value()) return FromStatus(attributes.error());
  def.attributes = *attributes;
  std::vector<std::string> used;
  auto key = KeySchemaFrom(in.if_contains("KeySchema"), def.attributes, used);
  if (!key.has_value()) return FromStatus(key.error());
  def.key = *key;
  for (const char* kind : {"GlobalSecondaryIndexes", "LocalSecondaryIndexes"}) {
    const json::array* list = Arr(in, kind);
    if (list == nullptr) continue;
    const bool global = kind[0] == 'G';
    if (list->empty()) return Validation(fmt::format("One or more parameter values were invalid: List of {} is empty", kind));
    for (const auto& x : *list) {
      if (!x.is_object()) return Validation(fmt::format("Invalid {} element", kind));
      auto idx = IndexFrom(x.as_object(), global, def.attributes, used);
      if (!idx.has_value()) return FromStatus(idx.error());
      if (!global) {
        if (def.key.range.empty()) {
          return Validation("One or more parameter values were invalid: Table KeySchema does not have a range key, which is required when specifying a LocalSecondaryIndex");
        }
        if (idx->key.hash != def.key.hash || idx->key.range.empty()) {
          return Validation(fmt::format("One or more parameter values were invalid: Index KeySchema does not have the same leading hash key as table KeySchema for index: {}. index hash key: {}, table hash key: {}",
                                        idx->name, idx->key.hash, def.key.hash));
        }
      }
      if (def.Index(idx->name)) return Validation(fmt::format("One or more parameter values were invalid: Duplicate index name: {}", idx->name));
      def.indexes.push_back(std::move(*idx));
    }
  }
  std::set<std::string> used_set(used.begin(), used.end());
  if (used_set.size() != def.attributes.size()) {
    return Validation("One or more parameter values were invalid: Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions");
  }
  if (Status st = BillingInto(in, def, true); !st.ok()) return FromStatus(st);
  for (auto& idx : def.indexes) {
    if (!idx.global) continue;
    if (def.billing_mode == "PROVISIONED" && idx.read_capacity < 1) {
      return Validation(fmt::format("One or more parameter values were invalid: ProvisionedThroughput should not be null for index: {}", idx.name));
    }
  }
  if (Status st = StreamSpecInto(in, def); !st.ok()) return FromStatus(st);
  def.id = NewUuid();
  def.created_ms = NowMs();
  Status st = store_.CreateTable(def);
  if (st.code() == Code::kConflict) return Failure{"ResourceInUseException", fmt::format("Table already exists: {}", def.name), {}};
  if (!st.ok()) return FromStatus(st);
  json::object d = Describe(def);
  d["TableStatus"] = "ACTIVE";
  return json::object{{"TableDescription", std::move(d)}};
}

Outcome Session::UpdateTable(const json::object& in) {
  auto def = Table(in);
  if (!def.has_value()) return FromStatus(def.error());
  auto attributes = AttributesFrom(in);
  if (!attributes.has_value()) return FromStatus(attributes.error());
  for (const auto& a : *attributes) {
    auto it = std::find_if(def->attributes.begin(), def->attributes.end(), [&](const auto& p) { return p.first == a.first; });
    if (it == def->attributes.end()) {
      def->attributes.push_back(a);
    } else if (it->second != a.second) {
      return Validation(fmt::format("One or more parameter values were invalid: Attribute {} is already defined as {}", a.first, TypeName(it->second)));
    }
  }
  if (Status st = BillingInto(in, *def, false); !st.ok()) return FromStatus(st);
  if (const json::array* updates = Arr(in, "GlobalSecondaryIndexUpdates")) {
    for (const auto& u : *updates) {
      if (!u.is_object()) continue;
      if (const json::object* c = Obj(u.as_object(), "Create")) {
        std::vector<std::string> used;
        auto idx = IndexFrom(*c, true, def->attributes, used);
        if (!idx.has_value()) return FromStatus(idx.error());
        if (def->Index(idx->name)) return Validation(fmt::format("One or more parameter values were invalid: Index {} already exists", idx->name));
        def->indexes.push_back(std::move(*idx));
      } else if (const json::object* d = Obj(u.as_object(), "Delete")) {
        std::string name = Str(*d, "IndexName");
        auto it = std::find_if(def->indexes.begin(), def->indexes.end(), [&](const auto& i) { return i.name == name && i.global; });
        if (it == def->indexes.end()) return Failure{"ResourceNotFoundException", fmt::format("Requested resource not found: Index: {} not found", name), {}};
        def->indexes.erase(it);
      } else if (const json::object* up = Obj(u.as_object(), "Update")) {
        std::string name = Str(*up, "IndexName");
        auto it = std::find_if(def->indexes.begin(), def->indexes.end(), [&](const auto& i) { return i.name == name && i.global; });
        if (it == def->indexes.end()) return Failure{"ResourceNotFoundException", fmt::format("Requested resource not found: Index: {} not found", name), {}};
        if (const json::object* t = Obj(*up, "ProvisionedThroughput")) {
          it->read_capacity = Int(*t, "ReadCapacityUnits").value_or(it->read_capacity);
          it->write_capacity = Int(*t, "WriteCapacityUnits").value_or(it->write_capacity);
        }
      }
    }
  }
  if (Status st = StreamSpecInto(in, *def); !st.ok()) return FromStatus(st);
  if (Status st = store_.UpdateTable(*def); !st.ok()) return FromStatus(st);
  return json::object{{"TableDescription", Describe(*def)}};
}

// An item's identity in a request, to refuse the same item twice: the table and
// its key bytes.
std::string ItemId(const TableDef& def, const Item& key) {
  return def.name + '\0' + KeyBytes(key.at(def.key.hash)) + '\0' +
         (def.key.range.empty() ? "" : KeyBytes(key.at(def.key.range)));
}

// Wraps `op.apply` so that the stored item it saw outlives a rolled-back write:
// a failed condition's ReturnValuesOnConditionCheckFailure ALL_OLD returns it.
std::shared_ptr<std::optional<Item>> RecordOld(WriteOp& op) {
  auto seen = std::make_shared<std::optional<Item>>();
  op.apply = [seen, inner = std::move(op.apply)](const std::optional<Item>& old) {
    *seen = old;
    return inner(old);
  };
  return seen;
}

// A write's condition against the stored item (a missing item is the empty one):
// kFailedPrecondition when it does not hold.
Status CheckCondition(const std::optional<Condition>& condition, const std::optional<Item>& old) {
  if (!condition) return Status::Ok();
  NIMBUS_ASSIGN_OR_RETURN(bool ok, condition->Evaluate(old.value_or(Item{})));
  if (!ok) return Status(Code::kFailedPrecondition, "The conditional request failed");
  return Status::Ok();
}

// ReturnValues (one of `allowed`, or absent) and ReturnValuesOnConditionCheckFailure.
Status ReturnValuesInto(const json::object& in, std::initializer_list<std::string_view> allowed,
                        std::string& return_values, bool& old_on_failure) {
  return_values = Str(in, "ReturnValues");
  if (!return_values.empty() && std::find(allowed.begin(), allowed.end(), return_values) == allowed.end()) {
    return InvalidArgument("Return values set to invalid value");
  }
  old_on_failure = Str(in, "ReturnValuesOnConditionCheckFailure") == "ALL_OLD";
  return Status::Ok();
}

Result<Session::PreparedWrite> Session::PreparePut(const json::object& in, const TableDef& def) {
  NIMBUS_RETURN_IF_ERROR(RefuseLegacy(in, {"Expected"}));
  const json::value* item_json = in.if_contains("Item");
  if (item_json == nullptr) return InvalidArgument("1 validation error detected: Value null at 'item' failed to satisfy constraint: Member must not be null");
  NIMBUS_ASSIGN_OR_RETURN(Item item, ItemFromJson(*item_json));
  NIMBUS_RETURN_IF_ERROR(ValidateItem(item, def));
  NIMBUS_ASSIGN_OR_RETURN(Substitutions subs, SubstitutionsOf(in));
  NIMBUS_ASSIGN_OR_RETURN(auto condition, ConditionOf(in, "ConditionExpression", subs));
  NIMBUS_RETURN_IF_ERROR(CheckPlaceholders(in, subs));
  PreparedWrite w;
  NIMBUS_RETURN_IF_ERROR(ReturnValuesInto(in, {"NONE", "ALL_OLD"}, w.return_values, w.old_on_failure));
  w.op.table = def.name;
  w.op.key = *KeyOf(item, def.key);
  auto shared = std::make_shared<std::optional<Condition>>(std::move(condition));
  w.op.apply = [shared, item = std::move(item)](const std::optional<Item>& old) -> Result<std::optional<Item>> {
    NIMBUS_RETURN_IF_ERROR(CheckCondition(*shared, old));
    return std::optional<Item>(item);
  };
  return w;
}

Result<Session::PreparedWrite> Session::PrepareDelete(const json::object& in, const TableDef& def) {
  NIMBUS_RETURN_IF_ERROR(RefuseLegacy(in, {"Expected"}));
  NIMBUS_ASSIGN_OR_RETURN(Item key, KeyFromJson(in, def));
  NIMBUS_ASSIGN_OR_RETURN(Substitutions subs, SubstitutionsOf(in));
  NIMBUS_ASSIGN_OR_RETURN(auto condition, ConditionOf(in, "ConditionExpression", subs));
  NIMBUS_RETURN_IF_ERROR(CheckPlaceholders(in, subs));
  PreparedWrite w;
  NIMBUS_RETURN_IF_ERROR(ReturnValuesInto(in, {"NONE", "ALL_OLD"}, w.return_values, w.old_on_failure));
  w.op.table = def.name;
  w.op.key = std::move(key);
  auto shared = std::make_shared<std::optional<Condition>>(std::move(condition));
  w.op.apply = [shared](const std::optional<Item>& old) -> Result<std::optional<Item>> {
    NIMBUS_RETURN_IF_ERROR(CheckCondition(*shared, old));
    return std::optional<Item>();
  };
  return w;
}

Result<Session::PreparedWrite> Session::PrepareUpdate(const json::object& in, const TableDef& def) {
  NIMBUS_RETURN_IF_ERROR(RefuseLegacy(in, {"Expected", "AttributeUpdates"}));
  NIMBUS_ASSIGN_OR_RETURN(Item key, KeyFromJson(in, def));
  NIMBUS_ASSIGN_OR_RETURN(Substitutions subs, SubstitutionsOf(in));
  std::optional<Update> update;
  if (in.contains("UpdateExpression")) {
    NIMBUS_ASSIGN_OR_RETURN(Update u, Update::Parse(Str(in, "UpdateExpression"), subs));
    update = std::move(u);
  }
  NIMBUS_ASSIGN_OR_RETURN(auto condition, ConditionOf(in, "ConditionExpression", subs));
  NIMBUS_RETURN_IF_ERROR(CheckPlaceholders(in, subs));
  PreparedWrite w;
  if (update) {
    w.updated = update->Paths();
    const std::set<std::string> names = update->TopLevelNames();
    for (const auto& k : {def.key.hash, def.key.range}) {
      if (!k.empty() && names.contains(k)) {
        return InvalidArgument(fmt::format("One or more parameter values were invalid: Cannot update attribute {}. This attribute is part of the key", k));
      }
    }
  }
  NIMBUS_RETURN_IF_ERROR(ReturnValuesInto(in, {"NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"},
                                          w.return_values, w.old_on_failure));
  w.op.table = def.name;
  w.op.key = key;
  auto shared = std::make_shared<std::pair<std::optional<Condition>, std::optional<Update>>>(std::move(condition), std::move(update));
  w.op.apply = [shared, key, def](const std::optional<Item>& old) -> Result<std::optional<Item>> {
    NIMBUS_RETURN_IF_ERROR(CheckCondition(shared->first, old));
    Item item = old.value_or(key);
    if (shared->second) NIMBUS_RETURN_IF_ERROR(shared->second->Apply(item));
    NIMBUS_RETURN_IF_ERROR(ValidateItem(item, def));
    return std::optional<Item>(std::move(item));
  };
  return w;
}

Result<Session::PreparedWrite> Session::PrepareCheck(const json::object& in, const TableDef& def) {
  NIMBUS_ASSIGN_OR_RETURN(Item key, KeyFromJson(in, def));
  NIMBUS_ASSIGN_OR_RETURN(Substitutions subs, SubstitutionsOf(in));
  NIMBUS_ASSIGN_OR_RETURN(auto condition, ConditionOf(in, "ConditionExpression", subs));
  if (!condition) return InvalidArgument("1 validation error detected: Value null at 'conditionExpression' failed to satisfy constraint: Member must not be null");
  NIMBUS_RETURN_IF_ERROR(CheckPlaceholders(in, subs));
  PreparedWrite w;
  w.old_on_failure = Str(in, "ReturnValuesOnConditionCheckFailure") == "ALL_OLD";
  w.op.table = def.name;
  w.op.key = std::move(key);
  w.op.check_only = true;
  auto shared = std::make_shared<std::optional<Condition>>(std::move(condition));
  w.op.apply = [shared](const std::optional<Item>& old) -> Result<std::optional<Item>> {
    NIMBUS_RETURN_IF_ERROR(CheckCondition(*shared, old));
    return old;
  };
  return w;
}

Result<std::vector<WriteOutcome>> Session::Write(std::vector<WriteOp> ops, std::vector<Status>* failures) {
  std::vector<std::string> tables;
  for (const auto& op : ops) tables.push_back(op.table);
  auto r = store_.Write(std::move(ops), failures);
  if (r.has_value()) {
    for (auto& t : tables) streamed.insert(t);
  }
  return r;
}

// What `item` holds at `paths`, in its hierarchy (UPDATED_OLD / UPDATED_NEW).
json::object Only(const Item& item, const std::vector<Path>& paths) {
  Projection p;
  p.paths = paths;
  return ItemToJson(p.Apply(item));
}

Outcome Session::RunSingle(const json::object& in, const TableDef& def, Result<PreparedWrite> prepared) {
  if (!prepared.has_value()) return FromStatus(prepared.error());
  PreparedWrite& w = *prepared;
  auto seen = RecordOld(w.op);
  std::vector<WriteOp> ops;
  ops.push_back(std::move(w.op));
  auto result = Write(std::move(ops), nullptr);
  if (!result.has_value()) {
    if (result.error().code() == Code::kFailedPrecondition) {
      Failure f{"ConditionalCheckFailedException", "The conditional request failed", {}};
      if (w.old_on_failure && *seen) f.extra["Item"] = ItemToJson(**seen);
      return f;
    }
    return FromStatus(result.error());
  }
  const WriteOutcome& o = result->front();
  json::object body;
  const std::string& rv = w.return_values;
  if (rv == "ALL_OLD" && o.old_item) body["Attributes"] = ItemToJson(*o.old_item);
  if (rv == "ALL_NEW" && o.new_item) body["Attributes"] = ItemToJson(*o.new_item);
  if (rv == "UPDATED_OLD" && o.old_item) {
    if (auto a = Only(*o.old_item, w.updated); !a.empty()) body["Attributes"] = std::move(a);
  }
  if (rv == "UPDATED_NEW" && o.new_item) {
    if (auto a = Only(*o.new_item, w.updated); !a.empty()) body["Attributes"] = std::move(a);
  }
  Merge(body, ConsumedCapacity(in, def.name, WriteUnits(o.old_item, o.new_item)));
  return body;
}

Outcome Session::PutItem(const json::object& in) {
  auto def = Table(in);
  if (!def.has_value()) return FromStatus(def.error());
  return RunSingle(in, *def, PreparePut(in, *def));
}

Outcome Session::DeleteItem(const json::object& in) {
  auto def = Table(in);
  if (!def.has_value()) return FromStatus(def.error());
  return RunSingle(in, *def, PrepareDelete(in, *def));
}

Outcome Session::UpdateItem(const json::object& in) {
  auto def = Table(in);
  if (!def.has_value()) return FromStatus(def.error());
  return RunSingle(in, *def, PrepareUpdate(in, *def));
}

Outcome Session::GetItem(const json::object& in) {
  auto def = Table(in);
  if (!def.has_value()) return FromStatus(def.error());
  auto key = KeyFromJson(in, *def);
  if (!key.has_value()) return FromStatus(key.error());
  auto subs = SubstitutionsOf(in);
  if (!subs.has_value()) return FromStatus(subs.error());
  auto projection = ProjectionOf(in, *subs);
  if (!projection.has_value()) return FromStatus(projection.error());
  if (Status st = CheckPlaceholders(in, *subs); !st.ok()) return FromStatus(st);
  auto item = store_.Get(def->name, *key);
  if (!item.has_value()) return FromStatus(item.error());
  json::object body;
  double units = Bool(in, "ConsistentRead") ? 1.0 : 0.5;
  if (*item) {
    body["Item"] = ItemToJson(*projection ? (*projection)->Apply(**item) : **item);
    units *= std::max(1.0, std::ceil(static_cast<double>(ItemSize(**item)) / 4096.0));
  }
  Merge(body, ConsumedCapacity(in, def->name, units));
  return body;
}

Outcome Session::QueryOrScan(const json::object& in, bool query) {
  auto def = Table(in);
  if (!def.has_value()) return FromStatus(def.error());
  if (Status st = RefuseLegacy(in, {"KeyConditions", "QueryFilter", "ScanFilter", "ConditionalOperator"}); !st.ok()) {
    return FromStatus(st);
  }
  ReadRange range;
  range.index = Str(in, "IndexName");
  const SecondaryIndex* idx = nullptr;
  if (!range.index.empty()) {
    idx = def->Index(range.index);
    if (idx == nullptr) return Validation(fmt::format("The table does not have the specified index: {}", range.index));
    if (idx->global && Bool(in, "ConsistentRead")) return Validation("Consistent reads are not supported on global secondary indexes");
  }
  const KeySchema& key = idx ? idx->key : def->key;
  auto subs = SubstitutionsOf(in);
  if (!subs.has_value()) return FromStatus(subs.error());
  if (query) {
    std::string text = Str(in, "KeyConditionExpression");
    if (!in.contains("KeyConditionExpression")) {
      return Validation("Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.");
    }
    auto kc = KeyCondition::Parse(text, key.hash, key.range, *subs);
    if (!kc.has_value()) return FromStatus(kc.error());
    if (kc->hash_value.type != key.hash_type) {
      return Validation("One or more parameter values were invalid: Condition parameter type does not match schema type");
    }
    range.hash = kc->hash_value;
    using Op = KeyCondition::Op;
    if (kc->op != Op::kNone) {
      if (kc->low.type != key.range_type || (kc->op == Op::kBetween && kc->high.type != key.range_type)) {
        return Validation("One or more parameter values were invalid: Condition parameter type does not match schema type");
      }
      const std::string low = KeyBytes(kc->low);
      switch (kc->op) {
        case Op::kEq: range.low = range.high = low; break;
        case Op::kLt: range.high = low; range.high_exclusive = true; break;
        case Op::kLe: range.high = low; break;
        case Op::kGt: range.low = low; range.low_exclusive = true; break;
        case Op::kGe: range.low = low; break;
        case Op::kBetween:
          if (*CompareScalars(kc->low, kc->high) > 0) {
            return Validation(fmt::format("Invalid KeyConditionExpression: The BETWEEN operator requires upper bound to be "
                                          "greater than or equal to lower bound; lower bound operand: AttributeValue: {}, "
                                          "upper bound operand: AttributeValue: {}", ValueForMessage(kc->low), ValueForMessage(kc->high)));
          }
          range.low = low;
          range.high = KeyBytes(kc->high);
          break;
        case Op::kBeginsWith:
          if (key.range_type == Type::kN) {
            return Validation("Invalid KeyConditionExpression: Incorrect operand type for operator or function; operator or function: begins_with, operand type: N");
          }
          range.low = low;
          if (auto end = PrefixEnd(low)) {
            range.high = *end;
            range.high_exclusive = true;
          }
          break;
        case Op::kNone: break;
      }
    }
    range.forward = !in.contains("ScanIndexForward") || Bool(in, "ScanIndexForward");
  }
  auto filter = ConditionOf(in, "FilterExpression", *subs);
  if (!filter.has_value()) return FromStatus(filter.error());
  if (query && *filter) {
    const auto names = (*filter)->TopLevelNames();
    for (const auto& k : {key.hash, key.range}) {
      if (!k.empty() && names.contains(k)) {
        return Validation(fmt::format("Filter Expression can only contain non-primary key attributes: Primary key attribute: {}", k));
      }
    }
  }
  auto projection = ProjectionOf(in, *subs);
  if (!projection.has_value()) return FromStatus(projection.error());
  if (Status st = CheckPlaceholders(in, *subs); !st.ok()) return FromStatus(st);
  std::string select = Str(in, "Select");
  if (select.empty()) select = *projection ? "SPECIFIC_ATTRIBUTES" : idx ? "ALL_PROJECTED_ATTRIBUTES" : "ALL_ATTRIBUTES";
  if (select == "SPECIFIC_ATTRIBUTES" && !*projection) {
    return Validation("One or more parameter values were invalid: Select type SPECIFIC_ATTRIBUTES requires a ProjectionExpression or AttributesToGet");
  }
  if (select != "SPECIFIC_ATTRIBUTES" && *projection) {
    return Validation(fmt::format("One or more parameter values were invalid: Cannot specify the ProjectionExpression when choosing to get {}", select));
  }
  if (select == "ALL_PROJECTED_ATTRIBUTES" && !idx) {
    return Validation("One or more parameter values were invalid: Select type ALL_PROJECTED_ATTRIBUTES is only supported on indexes");
  }
  if (select == "ALL_ATTRIBUTES" && idx && idx->global && idx->projection != "ALL") {
    return Validation(fmt::format("One or more parameter values were invalid: Select type ALL_ATTRIBUTES is not supported for "
                                  "global secondary index {} because its projection type is not ALL", idx->name));
  }
  const int64_t limit = Int(in, "Limit").value_or(0);
  if (in.contains("Limit") && limit < 1) {
    return Validation(fmt::format("1 validation error detected: Value '{}' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1", limit));
  }
  int64_t segment = 0, total_segments = 0;
  if (!query && (in.contains("Segment") || in.contains("TotalSegments"))) {
    if (!in.contains("Segment") || !in.contains("TotalSegments")) {
      return Validation("The TotalSegments parameter is required but was not present in the request when Segment parameter is present");
    }
    segment = Int(in, "Segment").value_or(-1);
    total_segments = Int(in, "TotalSegments").value_or(0);
    if (total_segments < 1 || total_segments > 1000000) {
      return Validation(fmt::format("1 validation error detected: Value '{}' at 'totalSegments' failed to satisfy constraint: Member must have value less than or equal to 1000000", total_segments));
    }
    if (segment < 0 || segment >= total_segments) {
      return Validation(fmt::format("The Segment parameter is zero-based and must be less than parameter TotalSegments: Segment: {} is not less than TotalSegments: {}", segment, total_segments));
    }
  }
  if (const json::value* start = in.if_contains("ExclusiveStartKey")) {
    auto s = ItemFromJson(*start);
    if (!s.has_value()) return FromStatus(s.error());
    if (!KeyOf(*s, def->key) || (idx && !KeyOf(*s, idx->key))) {
      return Validation("The provided starting key is invalid: The provided key element does not match the schema");
    }
    range.exclusive_start = std::move(*s);
  }
  json::array items;
  int64_t count = 0, scanned = 0;
  size_t bytes = 0;
  std::optional<Item> last;
  bool stopped = false;
  Status evaluation;
  Status st = store_.Read(def->name, range, [&](const Item& item) {
    if (total_segments > 0) {
      const std::string hash_bytes = KeyBytes(item.at(key.hash));
      if (static_cast<int64_t>(StableHash64(hash_bytes) % static_cast<uint64_t>(total_segments)) != segment) return true;
    }
    ++scanned;
    bytes += ItemSize(item);
    last = item;
    const Item visible = idx && select != "ALL_ATTRIBUTES" ? IndexProjection(item, *def, *idx) : item;
    bool keep = true;
    if (*filter) {
      auto r = (*filter)->Evaluate(visible);
      if (!r.has_value()) {
        evaluation = r.error();
        return false;
      }
      keep = *r;
    }
    if (keep) {
      ++count;
      if (select != "COUNT") items.push_back(ItemToJson(*projection ? (*projection)->Apply(visible) : visible));
    }
    if ((limit > 0 && scanned >= limit) || bytes >= kMaxPageBytes) {
      stopped = true;
      return false;
    }
    return true;
  });
  if (!st.ok()) return FromStatus(st);
  if (!evaluation.ok()) return FromStatus(evaluation);
  json::object body{{"Count", count}, {"ScannedCount", scanned}};
  if (select != "COUNT") body["Items"] = std::move(items);
  if (stopped && last) {
    Item lek = *KeyOf(*last, def->key);
    if (idx) {
      const Item index_key = *KeyOf(*last, idx->key);
      for (const auto& [n, v] : index_key) lek[n] = v;
    }
    body["LastEvaluatedKey"] = ItemToJson(lek);
  }
  Merge(body, ConsumedCapacity(in, def->name, std::max(0.5, std::ceil(static_cast<double>(bytes) / 4096.0) * (Bool(in, "ConsistentRead") ? 1.0 : 0.5))));
  return body;
}

Outcome Session::BatchGetItem(const json::object& in) {
  const json::object* request = Obj(in, "RequestItems");
  if (request == nullptr || request->empty()) {
    return Validation("1 validation error detected: Value null at 'requestItems' failed to satisfy constraint: Member must not be null");
  }
  size_t total = 0;
  for (const auto& [t, spec] : *request) {
    if (const json::array* keys = spec.is_object() ? Arr(spec.as_object(), "Keys") : nullptr) total += keys->size();
  }
  if (total > 100) return Validation("Too many items requested for the BatchGetItem call");
  json::object responses;
  for (const auto& [table, spec] : *request) {
    if (!spec.is_object()) return Validation("Invalid RequestItems entry");
    const json::object& s = spec.as_object();
    auto def = store_.GetTable(std::string(table));
    if (!def.has_value()) return FromStatus(def.error());
    auto subs = SubstitutionsOf(s);
    if (!subs.has_value()) return FromStatus(subs.error());
    auto projection = ProjectionOf(s, *subs);
    if (!projection.has_value()) return FromStatus(projection.error());
    if (Status st = CheckPlaceholders(s, *subs); !st.ok()) return FromStatus(st);
    const json::array* keys = Arr(s, "Keys");
    if (keys == nullptr || keys->empty()) {
      return Validation("1 validation error detected: Value '[]' at 'requestItems.keys' failed to satisfy constraint: Member must have length greater than or equal to 1");
    }
    std::set<std::string> seen;
    json::array found;
    for (const auto& k : *keys) {
      auto key = KeyFromJson(json::object{{"Key", k}}, *def);
      if (!key.has_value()) return FromStatus(key.error());
      if (!seen.insert(ItemId(*def, *key)).second) return Validation("Provided list of item keys contains duplicates");
      auto item = store_.Get(def->name, *key);
      if (!item.has_value()) return FromStatus(item.error());
      if (*item) found.push_back(ItemToJson(*projection ? (*projection)->Apply(**item) : **item));
    }
    responses[table] = std::move(found);
  }
  return json::object{{"Responses", std::move(responses)}, {"UnprocessedKeys", json::object{}}};
}

Outcome Session::BatchWriteItem(const json::object& in) {
  const json::object* request = Obj(in, "RequestItems");
  if (request == nullptr || request->empty()) {
    return Validation("1 validation error detected: Value null at 'requestItems' failed to satisfy constraint: Member must not be null");
  }
  std::vector<WriteOp> ops;
  std::set<std::string> seen;
  for (const auto& [table, list] : *request) {
    if (!list.is_array() || list.as_array().empty()) {
      return Validation("1 validation error detected: Value at 'requestItems' failed to satisfy constraint: Map value must satisfy constraint: [Member must have length less than or equal to 25, Member must have length greater than or equal to 1]");
    }
    auto def = store_.GetTable(std::string(table));
    if (!def.has_value()) return FromStatus(def.error());
    for (const auto& r : list.as_array()) {
      if (!r.is_object()) return Validation("Invalid WriteRequest");
      const json::object* put = Obj(r.as_object(), "PutRequest");
      const json::object* del = Obj(r.as_object(), "DeleteRequest");
      if ((put == nullptr) == (del == nullptr)) {
        return Validation("Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes");
      }
      WriteOp op;
      op.table = def->name;
      if (put) {
        const json::value* item_json = put->if_contains("Item");
        if (item_json == nullptr) return Validation("1 validation error detected: Value null at 'item' failed to satisfy constraint: Member must not be null");
        auto item = ItemFromJson(*item_json);
        if (!item.has_value()) return FromStatus(item.error());
        if (Status st = ValidateItem(*item, *def); !st.ok()) return FromStatus(st);
        op.key = *KeyOf(*item, def->key);
        op.apply = [item = std::move(*item)](const std::optional<Item>&) -> Result<std::optional<Item>> { return std::optional<Item>(item); };
      } else {
        auto key = KeyFromJson(*del, *def);
        if (!key.has_value()) return FromStatus(key.error());
        op.key = std::move(*key);
        op.apply = [](const std::optional<Item>&) -> Result<std::optional<Item>> { return std::optional<Item>(); };
      }
      if (!seen.insert(ItemId(*def, op.key)).second) return Validation("Provided list of item keys contains duplicates");
      ops.push_back(std::move(op));
    }
  }
  if (ops.size() > 25) {
    return Validation("1 validation error detected: Value at 'requestItems' failed to satisfy constraint: Map value must satisfy constraint: [Member must have length less than or equal to 25, Member must have length greater than or equal to 1]");
  }
  auto r = Write(std::move(ops), nullptr);
  if (!r.has_value()) return FromStatus(r.error());
  return json::object{{"UnprocessedItems", json::object{}}};
}

Outcome Session::TransactGetItems(const json::object& in) {
  const json::array* items = Arr(in, "TransactItems");
  if (items == nullptr || items->empty() || items->size() > 100) {
    return Validation("1 validation error detected: Value at 'transactItems' failed to satisfy constraint: Member must have length less than or equal to 100, Member must have length greater than or equal to 1");
  }
  json::array responses;
  for (const auto& x : *items) {
    const json::object* get = x.is_object() ? Obj(x.as_object(), "Get") : nullptr;
    if (get == nullptr) return Validation("TransactGetItems accepts only Get items");
    auto def = Table(*get);
    if (!def.has_value()) return FromStatus(def.error());
    auto key = KeyFromJson(*get, *def);
    if (!key.has_value()) return FromStatus(key.error());
    auto subs = SubstitutionsOf(*get);
    if (!subs.has_value()) return FromStatus(subs.error());
    auto projection = ProjectionOf(*get, *subs);
    if (!projection.has_value()) return FromStatus(projection.error());
    if (Status st = CheckPlaceholders(*get, *subs); !st.ok()) return FromStatus(st);
    auto item = store_.Get(def->name, *key);
    if (!item.has_value()) return FromStatus(item.error());
    json::object r;
    if (*item) r["Item"] = ItemToJson(*projection ? (*projection)->Apply(**item) : **item);
    responses.push_back(std::move(r));
  }
  return json::object{{"Responses", std::move(responses)}};
}

Outcome Session::TransactWriteItems(const json::object& in) {
  const json::array* items = Arr(in, "TransactItems");
  if (items == nullptr || items->empty() || items->size() > 100) {
    return Validation("1 validation error detected: Value at 'transactItems' failed to satisfy constraint: Member must have length less than or equal to 100, Member must have length greater than or equal to 1");
  }
  std::vector<PreparedWrite> prepared;
  std::set<std::string> seen;
  for (const auto& x : *items) {
    if (!x.is_object() || x.as_object().size() != 1) return Validation("TransactItems can only contain one of Check, Put, Update or Delete");
    const auto& [kind, body] = *x.as_object().begin();
    if (!body.is_object()) return Validation("Invalid TransactItem");
    const json::object& o = body.as_object();
    auto def = Table(o);
    if (!def.has_value()) return FromStatus(def.error());
    Result<PreparedWrite> w = kind == "Put"              ? PreparePut(o, *def)
                              : kind == "Delete"         ? PrepareDelete(o, *def)
                              : kind == "Update"         ? PrepareUpdate(o, *def)
                              : kind == "ConditionCheck" ? PrepareCheck(o, *def)
                                                         : Result<PreparedWrite>(InvalidArgument(fmt::format("Unknown TransactItem {}", std::string_view(kind))));
    if (!w.has_value()) return FromStatus(w.error());
    if (!seen.insert(ItemId(*def, w->op.key)).second) return Validation("Transaction request cannot include multiple operations on one item");
    prepared.push_back(std::move(*w));
  }
  std::vector<std::shared_ptr<std::optional<Item>>> seen_old;
  std::vector<WriteOp> ops;
  for (auto& w : prepared) {
    seen_old.push_back(RecordOld(w.op));
    ops.push_back(std::move(w.op));
  }
  std::vector<Status> failures;
  auto r = Write(std::move(ops), &failures);
  if (r.has_value()) return json::object{};
  if (failures.empty() || std::all_of(failures.begin(), failures.end(), [](const Status& s) { return s.ok(); })) {
    return FromStatus(r.error());
  }
  json::array reasons;
  std::string codes;
  for (size_t i = 0; i < failures.size(); ++i) {
    json::object reason;
    std::string code = "None";
    if (failures[i].code() == Code::kFailedPrecondition) {
      code = "ConditionalCheckFailed";
      reason["Message"] = "The conditional request failed";
      if (prepared[i].old_on_failure && *seen_old[i]) reason["Item"] = ItemToJson(**seen_old[i]);
    } else if (!failures[i].ok()) {
      code = "ValidationError";
      reason["Message"] = std::string(failures[i].message());
    }
    reason["Code"] = code;
    codes += (i ? ", " : "") + code;
    reasons.push_back(std::move(reason));
  }
  return Failure{"TransactionCanceledException",
                 fmt::format("Transaction cancelled, please refer cancellation reasons for specific reasons [{}]", codes),
                 json::object{{"CancellationReasons", std::move(reasons)}}};
}

// ----- streams -----

Outcome Session::ListStreams(const json::object& in) {
  std::string table_filter = Str(in, "TableName");
  std::set<std::pair<std::string, std::string>> streams;
  auto stored = store_.ListStreams();
  if (!stored.has_value()) return FromStatus(stored.error());
  for (auto& s : *stored) streams.insert(s);
  auto tables = store_.ListTables();
  if (!tables.has_value()) return FromStatus(tables.error());
  for (const auto& t : *tables) {
    auto def = store_.GetTable(t);
    if (def.has_value() && !def->stream_label.empty()) streams.emplace(t, def->stream_label);
  }
  const std::string after = Str(in, "ExclusiveStartStreamArn");
  const int64_t limit = Int(in, "Limit").value_or(100);
  if (limit < 1 || limit > 100) {
    return Validation(fmt::format("1 validation error detected: Value '{}' at 'limit' failed to satisfy constraint: "
                                  "Member must have value greater than or equal to 1", limit));
  }
  json::array out;
  std::string last;
  bool more = false;
  for (const auto& [t, label] : streams) {
    if (!table_filter.empty() && t != table_filter) continue;
    std::string arn = StreamArn(options_, t, label);
    if (!after.empty() && arn <= after) continue;
    if (static_cast<int64_t>(out.size()) >= limit) {
      more = true;
      break;
    }
    out.push_back(json::object{{"StreamArn", arn}, {"TableName", t}, {"StreamLabel", label}});
    last = arn;
  }
  json::object body{{"Streams", std::move(out)}};
  if (more) body["LastEvaluatedStreamArn"] = last;
  return body;
}

Outcome Session::DescribeStream(const json::object& in) {
  auto parsed = ParseStreamArn(Str(in, "StreamArn"));
  if (!parsed) return Validation(fmt::format("Invalid StreamArn: {}", Str(in, "StreamArn")));
  const auto& [table, label] = *parsed;
  auto def = store_.GetTable(table);
  auto bounds = store_.StreamBounds(table, label);
  if (!bounds.has_value()) return FromStatus(bounds.error());
  const bool current = def.has_value() && def->stream_label == label;
  if (!current && bounds->second == 0) {
    return Failure{"ResourceNotFoundException", fmt::format("Requested resource not found: Stream: {} not found", Str(in, "StreamArn")), {}};
  }
  const bool enabled = current && def->stream_enabled;
  json::object range{{"StartingSequenceNumber", SequenceNumber(bounds->first == 0 ? 1 : bounds->first)}};
  if (!enabled && bounds->second > 0) range["EndingSequenceNumber"] = SequenceNumber(bounds->second);
  json::object d{{"StreamArn", StreamArn(options_, table, label)},
                 {"StreamLabel", label},
                 {"StreamStatus", enabled ? "ENABLED" : "DISABLED"},
                 {"TableName", table},
                 {"Shards", json::array{}}};
  // One shard: listed unless the caller pages past it.
  if (Str(in, "ExclusiveStartShardId") != ShardId(label)) {
    d["Shards"].as_array().push_back(json::object{{"ShardId", ShardId(label)}, {"SequenceNumberRange", std::move(range)}});
  }
  if (def.has_value()) {
    d["StreamViewType"] = def->stream_view_type;
    json::array ks{json::object{{"AttributeName", def->key.hash}, {"KeyType", "HASH"}}};
    if (!def->key.range.empty()) ks.push_back(json::object{{"AttributeName", def->key.range}, {"KeyType", "RANGE"}});
    d["KeySchema"] = std::move(ks);
    d["CreationRequestDateTime"] = EpochSeconds(def->created_ms);
  }
  return json::object{{"StreamDescription", std::move(d)}};
}

std::string MakeIterator(const std::string& table, const std::string& label, int64_t after) {
  return Base64Encode(json::serialize(json::object{{"t", table}, {"l", label}, {"a", after}, {"at", NowMs()}}));
}

Outcome Session::GetShardIterator(const json::object& in) {
  auto parsed = ParseStreamArn(Str(in, "StreamArn"));
  if (!parsed) return Validation(fmt::format("Invalid StreamArn: {}", Str(in, "StreamArn")));
  const auto& [table, label] = *parsed;
  if (Str(in, "ShardId") != ShardId(label)) {
    return Failure{"ResourceNotFoundException", fmt::format("Requested resource not found: Shard: {} in Stream: {} not found", Str(in, "ShardId"), Str(in, "StreamArn")), {}};
  }
  auto bounds = store_.StreamBounds(table, label);
  if (!bounds.has_value()) return FromStatus(bounds.error());
  const std::string type = Str(in, "ShardIteratorType");
  if ((type == "TRIM_HORIZON" || type == "LATEST") && in.contains("SequenceNumber")) {
    return Validation(fmt::format("SequenceNumber may only be given with ShardIteratorType AT_SEQUENCE_NUMBER or "
                                  "AFTER_SEQUENCE_NUMBER, not {}", type));
  }
  int64_t after = 0;
  if (type == "TRIM_HORIZON") {
    after = bounds->first > 0 ? bounds->first - 1 : 0;
  } else if (type == "LATEST") {
    after = bounds->second;
  } else if (type == "AT_SEQUENCE_NUMBER" || type == "AFTER_SEQUENCE_NUMBER") {
    std::string seq = Str(in, "SequenceNumber");
    if (seq.empty() || seq.size() > 21 || !std::all_of(seq.begin(), seq.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
      return Validation(fmt::format("Invalid SequenceNumber: {}", seq));
    }
    // 21 digits may exceed int64_t (std::stoll threw, ending the process): such a
    // number is past every record of the shard.
    int64_t n = 0;
    const auto parsed = std::from_chars(seq.data(), seq.data() + seq.size(), n);
    if (parsed.ec != std::errc() || bounds->second == 0 || n < bounds->first || n > bounds->second) {
      return Validation(fmt::format("Invalid SequenceNumber: {} for shard: {}", seq, ShardId(label)));
    }
    after = type == "AT_SEQUENCE_NUMBER" ? n - 1 : n;
  } else {
    return Validation(fmt::format("1 validation error detected: Value '{}' at 'shardIteratorType' failed to satisfy constraint: Member must satisfy enum value set: [AFTER_SEQUENCE_NUMBER, LATEST, AT_SEQUENCE_NUMBER, TRIM_HORIZON]", type));
  }
  return json::object{{"ShardIterator", MakeIterator(table, label, after)}};
}

Outcome Session::GetRecords(const json::object& in) {
  const std::string iterator = Str(in, "ShardIterator");
  auto decoded = Base64Decode(iterator);
  boost::system::error_code ec;
  json::value v = decoded ? json::parse(*decoded, ec) : json::value();
  if (!decoded || ec || !v.is_object()) return Validation("Invalid ShardIterator");
  const json::object& o = v.as_object();
  const std::string table = Str(o, "t"), label = Str(o, "l");
  const int64_t after = Int(o, "a").value_or(0), issued = Int(o, "at").value_or(0);
  if (NowMs() - issued > kIteratorLifetimeMs) {
    return Failure{"ExpiredIteratorException", "Iterator expired. The iterator was created more than 15 minutes ago", {}};
  }
  const int64_t limit = Int(in, "Limit").value_or(1000);
  if (limit < 1 || limit > 1000) {
    return Validation(fmt::format("1 validation error detected: Value '{}' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 1000", limit));
  }
  auto records = store_.ReadStream(table, label, after, static_cast<int>(limit));
  if (!records.has_value()) return FromStatus(records.error());
  auto def = store_.GetTable(table);
  TableDef shape = def.has_value() ? *def : TableDef{};
  json::array out;
  int64_t next = after;
  for (const auto& r : *records) {
    out.push_back(StreamRecordJson(r, shape, options_.region, /*lambda_event=*/false));
    next = r.sequence;
  }
  json::object body{{"Records", std::move(out)}};
  const bool open = def.has_value() && def->stream_enabled && def->stream_label == label;
  if (open || !records->empty()) body["NextShardIterator"] = MakeIterator(table, label, next);
  return body;
}

Outcome Session::Dispatch(std::string_view action, const json::object& in) {
  // Writes that add data keep the disk's reserve for deletes (an item is at
  // most 400 KB: the reserve covers it).
  constexpr std::string_view kAddsData[] = {"CreateTable", "PutItem", "UpdateItem", "BatchWriteItem",
                                            "TransactWriteItems"};
  if (options_.disk != nullptr && std::find(std::begin(kAddsData), std::end(kAddsData), action) != std::end(kAddsData)) {
    if (Status room = options_.disk->CheckRoomFor(0); !room.ok()) return Failure{"ServiceUnavailable", room.message(), {}};
  }
  if (action == "CreateTable") return CreateTable(in);
  if (action == "DescribeTable") {
    auto def = Table(in);
    if (!def.has_value()) {
      if (def.error().code() == Code::kNotFound) {
        return Failure{"ResourceNotFoundException", fmt::format("Requested resource not found: Table: {} not found", Str(in, "TableName")), {}};
      }
      return FromStatus(def.error());
    }
    return json::object{{"Table", Describe(*def)}};
  }
  if (action == "ListTables") {
    auto names = store_.ListTables();
    if (!names.has_value()) return FromStatus(names.error());
    const std::string after = Str(in, "ExclusiveStartTableName");
    const int64_t limit = Int(in, "Limit").value_or(100);
    if (limit < 1 || limit > 100) {
      return Validation(fmt::format("1 validation error detected: Value '{}' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 100", limit));
    }
    json::array out;
    std::string last;
    bool more = false;
    for (const auto& n : *names) {
      if (!after.empty() && n <= after) continue;
      if (static_cast<int64_t>(out.size()) >= limit) {
        more = true;
        break;
      }
      out.push_back(json::string(n));
      last = n;
    }
    json::object body{{"TableNames", std::move(out)}};
    if (more) body["LastEvaluatedTableName"] = last;
    return body;
  }
  if (action == "DeleteTable") {
    auto def = store_.DeleteTable(Str(in, "TableName"));
    if (!def.has_value()) {
      if (def.error().code() == Code::kNotFound) {
        return Failure{"ResourceNotFoundException", fmt::format("Requested resource not found: Table: {} not found", Str(in, "TableName")), {}};
      }
      return FromStatus(def.error());
    }
    json::object d = Describe(*def);
    d["TableStatus"] = "DELETING";
    return json::object{{"TableDescription", std::move(d)}};
  }
  if (action == "UpdateTable") return UpdateTable(in);
  if (action == "UpdateTimeToLive") {
    auto def = Table(in);
    if (!def.has_value()) return FromStatus(def.error());
    const json::object* spec = Obj(in, "TimeToLiveSpecification");
    if (spec == nullptr || Str(*spec, "AttributeName").empty() || !spec->contains("Enabled")) {
      return Validation("1 validation error detected: Value null at 'timeToLiveSpecification' failed to satisfy constraint: Member must not be null");
    }
    const bool enabled = Bool(*spec, "Enabled");
    if (enabled == def->ttl_enabled) {
      return Validation(enabled ? "TimeToLive is already enabled" : "TimeToLive is already disabled");
    }
    if (!enabled && Str(*spec, "AttributeName") != def->ttl_attribute) {
      return Validation("TimeToLive is active on a different AttributeName: current AttributeName is " + def->ttl_attribute);
    }
    def->ttl_enabled = enabled;
    def->ttl_attribute = Str(*spec, "AttributeName");
    if (Status st = store_.UpdateTable(*def); !st.ok()) return FromStatus(st);
    return json::object{{"TimeToLiveSpecification", json::object{{"Enabled", enabled}, {"AttributeName", def->ttl_attribute}}}};
  }
  if (action == "DescribeTimeToLive") {
    auto def = Table(in);
    if (!def.has_value()) return FromStatus(def.error());
    json::object d{{"TimeToLiveStatus", def->ttl_enabled ? "ENABLED" : "DISABLED"}};
    if (def->ttl_enabled) d["AttributeName"] = def->ttl_attribute;
    return json::object{{"TimeToLiveDescription", std::move(d)}};
  }
  if (action == "PutItem") return PutItem(in);
  if (action == "GetItem") return GetItem(in);
  if (action == "DeleteItem") return DeleteItem(in);
  if (action == "UpdateItem") return UpdateItem(in);
  if (action == "Query") return QueryOrScan(in, true);
  if (action == "Scan") return QueryOrScan(in, false);
  if (action == "BatchGetItem") return BatchGetItem(in);
  if (action == "BatchWriteItem") return BatchWriteItem(in);
  if (action == "TransactGetItems") return TransactGetItems(in);
  if (action == "TransactWriteItems") return TransactWriteItems(in);
  if (action == "ListStreams") return ListStreams(in);
  if (action == "DescribeStream") return DescribeStream(in);
  if (action == "GetShardIterator") return GetShardIterator(in);
  if (action == "GetRecords") return GetRecords(in);
  return Failure{"UnknownOperationException", fmt::format("Nimbus does not implement the DynamoDB action {} yet", action), {}};
}

http::Response Answer(const Outcome& o, std::string_view error_namespace) {
  http::Response r;
  r.headers.Set("Content-Type", "application/x-amz-json-1.0");
  r.headers.Set("x-amzn-RequestId", NewUuid());
  if (o.failure) {
    r.status = o.failure->type == "InternalServerError" ? 500 : o.failure->type == "ServiceUnavailable" ? 503 : 400;
    json::object body{{"__type", fmt::format("{}#{}", error_namespace, o.failure->type)}, {"message", o.failure->message}};
    for (const auto& [k, v] : o.failure->extra) body[k] = v;
    r.body = json::serialize(body);
  } else {
    r.body = json::serialize(o.body);
  }
  return r;
}

}  // namespace

std::string StreamArn(const DynamoDbApiOptions& options, const std::string& table, const std::string& label) {
  return fmt::format("arn:aws:dynamodb:{}:{}:table/{}/stream/{}", options.region, options.account_id, table, label);
}

std::optional<std::pair<std::string, std::string>> ParseStreamArn(std::string_view arn) {
  if (!arn.starts_with("arn:aws:dynamodb:")) return std::nullopt;
  size_t t = arn.find(":table/");
  size_t s = arn.find("/stream/");
  if (t == std::string_view::npos || s == std::string_view::npos || s < t) return std::nullopt;
  std::string table(arn.substr(t + 7, s - t - 7));
  std::string label(arn.substr(s + 8));
  if (table.empty() || label.empty()) return std::nullopt;
  return std::make_pair(std::move(table), std::move(label));
}

std::string SequenceNumber(int64_t sequence) { return fmt::format("{:021}", sequence); }

std::string ShardId(const std::string& label) {
  std::string digits;
  for (char c : label) {
    if (std::isdigit(static_cast<unsigned char>(c))) digits.push_back(c);
  }
  return fmt::format("shardId-{:0>20}-00000001", digits);
}

json::object StreamRecordJson(const StreamRecord& r, const TableDef& table, const std::string& region, bool lambda_event) {
  json::object d{{"ApproximateCreationDateTime", r.created_ms / 1000},
                 {"Keys", ItemToJson(r.keys)},
                 {"SequenceNumber", SequenceNumber(r.sequence)},
                 {"SizeBytes", static_cast<int64_t>(r.size_bytes)},
                 {"StreamViewType", table.stream_view_type.empty() ? "KEYS_ONLY" : table.stream_view_type}};
  if (r.new_image) d["NewImage"] = ItemToJson(*r.new_image);
  if (r.old_image) d["OldImage"] = ItemToJson(*r.old_image);
  json::object o{{"eventID", Md5Hex(fmt::format("{}/{}/{}", table.name, r.stream_label, r.sequence))},
                 {"eventName", r.event_name},
                 {"eventVersion", "1.1"},
                 {"eventSource", "aws:dynamodb"},
                 {"awsRegion", region},
                 {"dynamodb", std::move(d)}};
  // The Streams API names the members of userIdentity in upper camel case; a
  // Lambda event in lower.
  if (r.by_ttl) {
    o["userIdentity"] = lambda_event ? json::object{{"type", "Service"}, {"principalId", "dynamodb.amazonaws.com"}}
                                     : json::object{{"Type", "Service"}, {"PrincipalId", "dynamodb.amazonaws.com"}};
  }
  return o;
}

DynamoDbApi::DynamoDbApi(TableStore& store, BlockingPool& pool, DynamoDbApiOptions options)
    : store_(store), pool_(pool), options_(std::move(options)) {}

bool DynamoDbApi::Matches(const http::Request& request) {
  if (auto scope = http::ParseCredentialScope(request)) return scope->service == "dynamodb";
  auto target = request.headers.Get("X-Amz-Target");
  return target && (target->starts_with(kTablesPrefix) || target->starts_with(kStreamsPrefix));
}

void DynamoDbApi::Handle(http::Request&& request, http::Responder responder) {
  auto call = std::make_shared<std::pair<http::Request, http::Responder>>(std::move(request), std::move(responder));
  pool_.Submit([this, call] { call->second.Respond(HandleSync(call->first)); });
}

http::Response DynamoDbApi::HandleSync(const http::Request& request) {
  std::string_view target = request.headers.Get("X-Amz-Target").value_or("");
  const bool streams = target.starts_with(kStreamsPrefix);
  const std::string_view error_namespace = streams ? "com.amazonaws.dynamodb.v20120810" : "com.amazonaws.dynamodb.v20120810";
  if (!target.starts_with(kTablesPrefix) && !streams) {
    return Answer(Failure{"UnknownOperationException", "Missing or unknown X-Amz-Target", {}}, error_namespace);
  }
  const std::string_view action = target.substr(streams ? kStreamsPrefix.size() : kTablesPrefix.size());
  boost::system::error_code ec;
  json::value v = request.body.empty() ? json::value(json::object{}) : json::parse(request.body, ec);
  if (ec || !v.is_object()) {
    return Answer(Failure{"SerializationException", "The request body is not a JSON object", {}}, error_namespace);
  }
  Session session(store_, options_);
  Outcome o = session.Dispatch(action, v.as_object());
  if (options_.on_stream_records) {
    for (const auto& t : session.streamed) options_.on_stream_records(t);
  }
  return Answer(o, error_namespace);
}

int DynamoDbApi::Sweep(int64_t now_ms) {
  if (Status st = store_.TrimStreams(now_ms - kStreamRetentionMs); !st.ok()) {
    log::Warn("dynamodb: trimming stream records: {}", st.ToString());
  }
  auto expired = store_.ExpiredItems(now_ms / 1000, 256);
  if (!expired.has_value()) {
    log::Warn("dynamodb: finding expired items: {}", expired.error().ToString());
    return 0;
  }
  int deleted = 0;
  std::set<std::string> tables;
  for (auto& [table, key] : *expired) {
    auto def = store_.GetTable(table);
    if (!def.has_value() || !def->ttl_enabled) continue;
    const std::string attribute = def->ttl_attribute;
    const int64_t now_s = now_ms / 1000;
    WriteOp op;
    op.table = table;
    op.key = key;
    op.by_ttl = true;
    auto removed = std::make_shared<bool>(false);
    // Expired still (a write may have raced the sweep)? Then delete it.
    op.apply = [attribute, now_s, removed](const std::optional<Item>& old) -> Result<std::optional<Item>> {
      if (!old) return old;
      auto it = old->find(attribute);
      if (it == old->end() || it->second.type != Type::kN) return old;
      auto left = Number::Add(it->second.number(), Number::FromInt(-now_s));
      if (left.has_value() && (left->negative() || left->is_zero())) {
        *removed = true;
        return std::optional<Item>();
      }
      return old;
    };
    std::vector<WriteOp> ops;
    ops.push_back(std::move(op));
    auto r = store_.Write(std::move(ops), nullptr);
    if (!r.has_value()) {
      log::Warn("dynamodb: expiring an item of {}: {}", table, r.error().ToString());
      continue;
    }
    if (*removed) {
      ++deleted;
      tables.insert(table);
    }
  }
  if (options_.on_stream_records) {
    for (const auto& t : tables) options_.on_stream_records(t);
  }
  return deleted;
}

}  // namespace nimbus::dynamodb
