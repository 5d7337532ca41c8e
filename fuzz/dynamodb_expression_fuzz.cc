// DynamoDB expressions (dynamodb/expression.h), parsed as a request's
// parameters are, then evaluated or applied to an item, as PutItem, UpdateItem,
// GetItem, Query and Scan do.
//
// Input: one letter naming the parameter, then the expression text:
//   C ConditionExpression   F FilterExpression   U UpdateExpression
//   P ProjectionExpression  K KeyConditionExpression (schema: id, sk)
// Any other first byte picks one of them by its value. The expression attribute
// names and values are a fixed set covering every type (kNames, kValues).
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "dynamodb/expression.h"
#include "dynamodb/value.h"
#include "fuzz_input.h"

namespace {

namespace ddb = nimbus::dynamodb;
namespace json = boost::json;

constexpr std::string_view kItem = R"({
  "id": {"S": "k1"}, "sk": {"N": "3"}, "name": {"S": "nimbus"}, "a": {"N": "1"},
  "b": {"S": "b"}, "bin": {"B": "AQID"}, "flag": {"BOOL": true}, "nul": {"NULL": true},
  "list": {"L": [{"S": "x"}, {"N": "2"}, {"L": [{"N": "-7.5"}]}, {"M": {"q": {"S": "r"}}}]},
  "map": {"M": {"x": {"S": "y"}, "n": {"N": "10"}, "inner": {"M": {"deep": {"L": []}}}}},
  "ss": {"SS": ["a", "b", "c"]}, "ns": {"NS": ["1", "2.5", "-3"]}, "bs": {"BS": ["AA==", "AQ=="]}
})";

constexpr std::string_view kValues = R"({
  ":s": {"S": "x"}, ":e": {"S": ""}, ":n": {"N": "5"}, ":z": {"N": "-1.5"},
  ":big": {"N": "99999999999999999999999999999999999999"}, ":tiny": {"N": "1E-130"},
  ":b": {"B": "AQ=="}, ":t": {"BOOL": true}, ":null": {"NULL": true},
  ":l": {"L": [{"S": "a"}, {"N": "1"}]}, ":m": {"M": {"x": {"S": "y"}}},
  ":ss": {"SS": ["a", "z"]}, ":ns": {"NS": ["1", "4"]}, ":bs": {"BS": ["AA=="]},
  ":type": {"S": "N"}
})";

const std::map<std::string, std::string> kNames = {
    {"#n", "name"}, {"#a", "a"},  {"#b", "b"},   {"#l", "list"}, {"#m", "map"},
    {"#k", "id"},   {"#s", "sk"}, {"#d", "a.b"}, {"#e", ""},     {"#x", "missing"}};

ddb::Item ParseItem(std::string_view text) {
  auto item = ddb::ItemFromJson(json::parse(text));
  NIMBUS_FUZZ_CHECK(item.has_value(), "the fixed item parses");
  return *item;
}

ddb::Substitutions MakeSubstitutions() {
  ddb::Item values = ParseItem(kValues);
  return ddb::Substitutions(kNames,
                            std::map<std::string, ddb::Value>(values.begin(), values.end()));
}

// Whatever an expression does to an item, the item can still be written as
// DynamoDB JSON and read back unchanged (it is stored and returned that way).
void CheckRoundTrip(const ddb::Item& item) {
  json::object j = ddb::ItemToJson(item);
  auto back = ddb::ItemFromJson(json::parse(json::serialize(j)));
  NIMBUS_FUZZ_CHECK(back.has_value(), "an item an expression produced is valid DynamoDB JSON");
  NIMBUS_FUZZ_CHECK(*back == item, "an item an expression produced reads back the same");
  (void)ddb::ItemSize(item);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const ddb::Item item = ParseItem(kItem);
  std::string_view text = nimbus::fuzz::AsText(data + 1, size - 1);
  char kind = static_cast<char>(data[0]);
  if (std::string_view("CFUPK").find(kind) == std::string_view::npos) kind = "CFUPK"[data[0] % 5];
  ddb::Substitutions subs = MakeSubstitutions();

  switch (kind) {
    case 'C':
    case 'F': {
      auto c = ddb::Condition::Parse(text, kind == 'C' ? "ConditionExpression" : "FilterExpression",
                                     subs);
      if (!c.has_value()) break;
      (void)c->Evaluate(item);
      (void)c->Evaluate(ddb::Item{});
      (void)c->TopLevelNames();
      break;
    }
    case 'U': {
      auto u = ddb::Update::Parse(text, subs);
      if (!u.has_value()) break;
      (void)u->TopLevelNames();
      for (const ddb::Path& p : u->Paths()) {
        (void)ddb::PathToString(p);
        (void)ddb::Resolve(item, p);
      }
      ddb::Item updated = item;
      if (u->Apply(updated).ok()) {
        CheckRoundTrip(updated);
        if (u->Apply(updated).ok()) CheckRoundTrip(updated);
      }
      ddb::Item fresh;
      if (u->Apply(fresh).ok()) CheckRoundTrip(fresh);
      break;
    }
    case 'P': {
      auto p = ddb::Projection::Parse(text, subs);
      if (!p.has_value()) break;
      CheckRoundTrip(p->Apply(item));
      break;
    }
    case 'K': {
      for (const std::string& range : {std::string("sk"), std::string()}) {
        ddb::Substitutions s = MakeSubstitutions();
        auto k = ddb::KeyCondition::Parse(text, "id", range, s);
        if (!k.has_value()) continue;
        NIMBUS_FUZZ_CHECK(k->hash_name == "id", "the hash condition names the hash key");
        NIMBUS_FUZZ_CHECK(range.empty() ? k->op == ddb::KeyCondition::Op::kNone : true,
                          "no range condition on a hash-only schema");
        (void)k->RangeMatches(item.at("sk"));
        (void)k->RangeMatches(item.at("name"));
        (void)s.CheckAllUsed();
      }
      break;
    }
  }
  (void)subs.CheckAllUsed();
  return 0;
}
