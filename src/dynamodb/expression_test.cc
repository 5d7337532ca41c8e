#include "dynamodb/expression.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace nimbus::dynamodb {
namespace {

namespace json = boost::json;

// ----- Test notation -----
//
// Items and values are written as plain JSON: numbers (integers) are N, strings S,
// booleans BOOL, null NULL, arrays L, objects M. The rest is written with a
// one-key object: {"$N": "0.1"} (an exact number), {"$B": "<base64>"},
// {"$SS": [...]}, {"$NS": [...]}, {"$BS": [...]}.

json::value Ddb(const json::value& plain) {
  switch (plain.kind()) {
    case json::kind::int64:
      return json::object{{"N", std::to_string(plain.as_int64())}};
    case json::kind::uint64:
      return json::object{{"N", std::to_string(plain.as_uint64())}};
    case json::kind::double_:
      return json::object{{"N", fmt::format("{}", plain.as_double())}};
    case json::kind::string:
      return json::object{{"S", plain.as_string()}};
    case json::kind::bool_:
      return json::object{{"BOOL", plain.as_bool()}};
    case json::kind::null:
      return json::object{{"NULL", true}};
    case json::kind::array: {
      json::array l;
      for (const auto& e : plain.as_array()) l.push_back(Ddb(e));
      return json::object{{"L", std::move(l)}};
    }
    case json::kind::object: {
      const auto& o = plain.as_object();
      if (o.size() == 1 && o.begin()->key().starts_with("$")) {
        return json::object{{o.begin()->key().substr(1), o.begin()->value()}};
      }
      json::object m;
      for (const auto& [k, v] : o) m[k] = Ddb(v);
      return json::object{{"M", std::move(m)}};
    }
  }
  return nullptr;
}

json::value Plain(const Value& v) {
  switch (v.type) {
    case Type::kN: {
      const json::value n = json::parse(v.scalar);
      if (v.scalar.find('.') == std::string::npos && n.is_int64()) return n;
      return json::object{{"$N", v.scalar}};
    }
    case Type::kS:
      return json::string(v.scalar);
    case Type::kB:
      return json::object{{"$B", ValueToJson(v).as_object().at("B")}};
    case Type::kBool:
      return v.boolean;
    case Type::kNull:
      return nullptr;
    case Type::kL: {
      json::array l;
      for (const auto& e : v.list) l.push_back(Plain(e));
      return l;
    }
    case Type::kM: {
      json::object m;
      for (const auto& [k, e] : v.map) m[k] = Plain(e);
      return m;
    }
    default: {
      json::value set = ValueToJson(v);
      const auto& [key, elements] = *set.as_object().begin();
      return json::object{{"$" + std::string(key), elements}};
    }
  }
}

Value V(std::string_view plain) {
  auto v = ValueFromJson(Ddb(json::parse(plain)));
  EXPECT_TRUE(v.has_value()) << plain << ": " << v.error().message();
  return v.has_value() ? *v : Value();
}

Item ItemOf(std::string_view plain) {
  Item item;
  const json::value parsed = json::parse(plain);
  for (const auto& [k, v] : parsed.as_object()) {
    auto value = ValueFromJson(Ddb(v));
    EXPECT_TRUE(value.has_value()) << plain;
    if (value.has_value()) item.emplace(std::string(k), *value);
  }
  return item;
}

json::value PlainItem(const Item& item) {
  json::object o;
  for (const auto& [k, v] : item) o[k] = Plain(v);
  return o;
}

Substitutions Subs(std::string_view values = "{}", std::string_view names = "{}") {
  std::map<std::string, std::string> n;
  const json::value parsed_names = json::parse(names);
  for (const auto& [k, v] : parsed_names.as_object())
    n.emplace(std::string(k), std::string(v.as_string()));
  std::map<std::string, Value> vals;
  const json::value parsed_values = json::parse(values);
  for (const auto& [k, v] : parsed_values.as_object()) {
    vals.emplace(std::string(k), V(json::serialize(v)));
  }
  return Substitutions(std::move(n), std::move(vals));
}

json::value J(std::string_view text) { return json::parse(text); }

// "true"/"false": the condition's verdict on `item`; else the error.
std::string Check(std::string_view expr, std::string_view item, std::string_view values = "{}",
                  std::string_view names = "{}", std::string_view kind = "ConditionExpression") {
  Substitutions subs = Subs(values, names);
  auto c = Condition::Parse(expr, kind, subs);
  if (!c.has_value()) return c.error().message();
  auto verdict = c->Evaluate(ItemOf(item));
  if (!verdict.has_value()) return verdict.error().message();
  return *verdict ? "true" : "false";
}

// The error parsing the condition gives, or "parsed".
std::string ConditionError(std::string_view expr, std::string_view values = "{}",
                           std::string_view names = "{}",
                           std::string_view kind = "ConditionExpression") {
  Substitutions subs = Subs(values, names);
  auto c = Condition::Parse(expr, kind, subs);
  return c.has_value() ? "parsed" : c.error().message();
}

// The item after the update, or (as a JSON string) the error.
json::value Updated(std::string_view expr, std::string_view item, std::string_view values = "{}",
                    std::string_view names = "{}") {
  Substitutions subs = Subs(values, names);
  auto u = Update::Parse(expr, subs);
  if (!u.has_value()) return json::string(u.error().message());
  Item i = ItemOf(item);
  if (Status st = u->Apply(i); !st.ok()) return json::string(st.message());
  return PlainItem(i);
}

std::string UpdateError(std::string_view expr, std::string_view values = "{}",
                        std::string_view names = "{}") {
  Substitutions subs = Subs(values, names);
  auto u = Update::Parse(expr, subs);
  return u.has_value() ? "parsed" : u.error().message();
}

json::value Projected(std::string_view expr, std::string_view item, std::string_view names = "{}") {
  Substitutions subs = Subs("{}", names);
  auto p = Projection::Parse(expr, subs);
  if (!p.has_value()) return json::string(p.error().message());
  return PlainItem(p->Apply(ItemOf(item)));
}

std::string ProjectionError(std::string_view expr, std::string_view names = "{}") {
  Substitutions subs = Subs("{}", names);
  auto p = Projection::Parse(expr, subs);
  return p.has_value() ? "parsed" : p.error().message();
}

Result<KeyCondition> ParseKey(std::string_view expr, std::string_view values,
                              std::string_view names = "{}", const std::string& hash = "pk",
                              const std::string& range = "sk") {
  Substitutions subs = Subs(values, names);
  return KeyCondition::Parse(expr, hash, range, subs);
}

std::string KeyError(std::string_view expr, std::string_view values = "{}",
                     std::string_view names = "{}", const std::string& range = "sk") {
  auto kc = ParseKey(expr, values, names, "pk", range);
  return kc.has_value() ? "parsed" : kc.error().message();
}

const std::string kSyntax = "Syntax error; ";

// ===== Paths =====

TEST(PathTest, PrintsMembersWithDotsAndElementsWithBrackets) {
  Path p{{"a", -1}, {"b", -1}, {"", 2}, {"", 0}, {"c", -1}};
  EXPECT_EQ(PathToString(p), "a.b[2][0].c");
}

TEST(PathTest, ResolvesThroughMapsAndListsOrGivesNull) {
  const Item item = ItemOf(R"({"a": {"b": [1, {"c": "x"}]}})");
  ASSERT_NE(Resolve(item, {{"a", -1}, {"b", -1}, {"", 1}, {"c", -1}}), nullptr);
  EXPECT_EQ(*Resolve(item, {{"a", -1}, {"b", -1}, {"", 1}, {"c", -1}}), V(R"("x")"));
  EXPECT_EQ(Resolve(item, {{"a", -1}, {"b", -1}, {"", 2}}), nullptr);    // past the end
  EXPECT_EQ(Resolve(item, {{"a", -1}, {"", 0}}), nullptr);               // a map indexed
  EXPECT_EQ(Resolve(item, {{"a", -1}, {"b", -1}, {"x", -1}}), nullptr);  // a list as a map
  EXPECT_EQ(Resolve(item, {{"z", -1}}), nullptr);
}

// ===== Substitutions =====

TEST(SubstitutionsTest, ResolvesPlaceholdersAndRemembersWhichWereUsed) {
  Substitutions subs = Subs(R"({":a": 1, ":b": 2})", R"({"#a": "x", "#b": "y"})");
  EXPECT_EQ(*subs.Name("#a"), "x");
  EXPECT_EQ(*subs.ValueOf(":a"), V("1"));
  EXPECT_EQ(subs.CheckAllUsed().message(),
            "Value provided in ExpressionAttributeNames unused in expressions: keys: {#b}");
  EXPECT_EQ(*subs.Name("#b"), "y");
  EXPECT_EQ(subs.CheckAllUsed().message(),
            "Value provided in ExpressionAttributeValues unused in expressions: keys: {:b}");
  EXPECT_EQ(*subs.ValueOf(":b"), V("2"));
  EXPECT_TRUE(subs.CheckAllUsed().ok());
}

TEST(SubstitutionsTest, ListsEveryUnusedKeyNamesFirst) {
  Substitutions subs = Subs(R"({":a": 1})", R"({"#b": "x", "#a": "y"})");
  EXPECT_EQ(subs.CheckAllUsed().message(),
            "Value provided in ExpressionAttributeNames unused in expressions: keys: {#a, #b}");
  EXPECT_EQ(subs.CheckAllUsed().code(), Code::kInvalidArgument);
}

TEST(SubstitutionsTest, NamesTheUndefinedPlaceholder) {
  Substitutions subs;
  EXPECT_EQ(
      subs.Name("#x").error().message(),
      "An expression attribute name used in the document path is not defined; attribute name: #x");
  EXPECT_EQ(subs.ValueOf(":x").error().message(),
            "An expression attribute value used in expression is not defined; attribute value: :x");
}

TEST(SubstitutionsTest, ParsingMarksPlaceholdersUsedEvenWhereEvaluationWouldShortCircuit) {
  Substitutions subs = Subs(R"({":one": 1, ":two": 2, ":three": 3})", R"({"#a": "a", "#b": "b"})");
  ASSERT_TRUE(Condition::Parse("#a = :one OR #b = :two", "ConditionExpression", subs).has_value());
  ASSERT_TRUE(Update::Parse("SET #a = :three", subs).has_value());
  EXPECT_TRUE(subs.CheckAllUsed().ok());
}

// ===== Lexing and syntax =====

TEST(SyntaxTest, EmptyExpressionsAreRefused) {
  EXPECT_EQ(ConditionError(""), "Invalid ConditionExpression: The expression can not be empty;");
  EXPECT_EQ(ConditionError("  \n", "{}", "{}", "FilterExpression"),
            "Invalid FilterExpression: The expression can not be empty;");
  EXPECT_EQ(UpdateError(""), "Invalid UpdateExpression: The expression can not be empty;");
  EXPECT_EQ(ProjectionError(" "), "Invalid ProjectionExpression: The expression can not be empty;");
  EXPECT_EQ(KeyError(""), "Invalid KeyConditionExpression: The expression can not be empty;");
}

TEST(SyntaxTest, ErrorsNameTheTokenAndTheTokensAroundIt) {
  EXPECT_EQ(ConditionError("a = = :v", R"({":v": 1})"),
            R"(Invalid ConditionExpression: Syntax error; token: "=", near: "= = :v")");
  EXPECT_EQ(UpdateError("ADD hits : incr"),
            R"(Invalid UpdateExpression: Syntax error; token: ":", near: "hits : incr")");
  EXPECT_EQ(UpdateError("SET _123 = :v"),
            R"(Invalid UpdateExpression: Syntax error; token: "_", near: "SET _123")");
  EXPECT_EQ(UpdateError("INVALID SYNTAX HERE"),
            R"(Invalid UpdateExpression: Syntax error; token: "INVALID", near: "INVALID SYNTAX")");
  EXPECT_EQ(UpdateError("set a = b / c"),
            R"(Invalid UpdateExpression: Syntax error; token: "/", near: "b / c")");
  EXPECT_EQ(ProjectionError("a b"),
            R"(Invalid ProjectionExpression: Syntax error; token: "b", near: "a b")");
  EXPECT_EQ(ConditionError("ü > a"),
            R"(Invalid ConditionExpression: Syntax error; token: "ü", near: "ü >")");
  EXPECT_EQ(KeyError("pk > 4"),
            R"(Invalid KeyConditionExpression: Syntax error; token: "4", near: "> 4")");
}

TEST(SyntaxTest, AnUnexpectedEndIsTheEofTokenNearTheLastToken) {
  EXPECT_EQ(ConditionError("foo"),
            R"(Invalid ConditionExpression: Syntax error; token: "<EOF>", near: "foo")");
  EXPECT_EQ(UpdateError("SET a = :v +", R"({":v": 1})"),
            R"(Invalid UpdateExpression: Syntax error; token: "<EOF>", near: "+")");
  EXPECT_EQ(UpdateError("SET"),
            R"(Invalid UpdateExpression: Syntax error; token: "<EOF>", near: "SET")");
  EXPECT_EQ(ProjectionError("a,"),
            R"(Invalid ProjectionExpression: Syntax error; token: "<EOF>", near: ",")");
  EXPECT_EQ(KeyError("pk = :type", R"({":type": "x"})").find("parsed"), 0u);
  EXPECT_EQ(KeyError("pk = :v AND", R"({":v": "x"})"),
            R"(Invalid KeyConditionExpression: Syntax error; token: "<EOF>", near: "AND")");
}

TEST(SyntaxTest, RefusesMalformedConditions) {
  for (const char* expr : {
           "things are not gonna be ok",
           "a > 4",
           "attribute_exists(Pictures-RearView)",
           "attribute_exists(\"Pictures.RearView\")",
           "attribute_exists(Pictures..RearView)",
           "attribute_exists(Pi#ctures.RearView)",
           "attribute_exists(asdf[a])",
           "a in b, c",
           "a > between",
           "a in b",
           "a in (b,c,)",
           "a IN ()",
           "(a)between(b.(c.d))and(c)",
           "(a)between(b.c.d)and((c)",
           "#$.b > a",
           "a > :things.stuff",
           "b[:a] > a",
           "b[#_] > a",
           "(a)between(b.c[4.5].#d)and(:a)",
           "size(a).b > a",
           "(size(a)).b > a",
           "size(a)[0] > a",
           "(size(a))[0] > a",
           "a",
           "a = b c",
           "_hidden = a",
           "a = # ",
           "a = :",
           "f() = a",
           "a[99999999999] = b",
           "NOT",
           "a = b AND",
           "a < > b",
           "a != b",
           "a.and = b",
       }) {
    EXPECT_EQ(ConditionError(expr).find("Invalid ConditionExpression: " + kSyntax), 0u)
        << expr << " => " << ConditionError(expr);
  }
}

TEST(SyntaxTest, RefusesMalformedUpdates) {
  for (const char* expr : {
           "whatever",
           "set a",
           "add a",
           "delete a",
           "set a=set",
           "remove a = b",
           "add a = b",
           "delete a = b",
           "delete a b",
           "delete a if_not_exist(b)",
           "add abort b",
           "add a if_not_exist(b)",
           "remove a b",
           "set a b",
           "set :a = b",
           "add :a b",
           "delete :a b",
           "remove :a",
           "set a = b / c",
           "set a = b * c",
           "set a[1] = \"eight\"",
           "set a[1] = 1",
           "SET if_not_exist(a, b) = a",
           "set (a = (b + c))",
           "set a = (b.c).d + e",
           "set a = (b.c)[0] + e",
           "set a = b + c + d",
           "set a = (b + c) + d",
           "SET c = if_not_exists(c, :v1+:v2)",
           "SET a = :",
           "SET # = :v",
           "SET a[:x] = :v",
           "SET a[#x] = :v",
           "SET a = _f(b)",
           "SET hi-there = :v",
           "SET a = :v,",
           "SET a = :v remove",
           "SET a = :v, REMOVE b",
       }) {
    EXPECT_EQ(UpdateError(expr).find("Invalid UpdateExpression: " + kSyntax), 0u)
        << expr << " => " << UpdateError(expr);
  }
}

TEST(SyntaxTest, RefusesMalformedProjections) {
  for (const char* expr : {",a", "a,,b", "a.", "a[", "a[1", "a[x]", "(a)", "a b", ":a", "a.#"}) {
    EXPECT_EQ(ProjectionError(expr).find("Invalid ProjectionExpression: " + kSyntax), 0u) << expr;
  }
}

TEST(SyntaxTest, KeywordsAreCaseInsensitiveAndWhitespaceIsFree) {
  const char* item = R"({"a": 1, "b": 2, "c": 3, "s": "x"})";
  EXPECT_EQ(Check("a < b aNd b < c", item), "true");
  EXPECT_EQ(Check("b < a oR b < c", item), "true");
  EXPECT_EQ(Check("nOt b < a", item), "true");
  EXPECT_EQ(Check("b between a and c", item), "true");
  EXPECT_EQ(Check("s in (:x)", item, R"({":x": "x"})"), "true");
  EXPECT_EQ(Check("  a\t<\nb\r", item), "true");
  EXPECT_EQ(Check("a<b AND(b<c)", item), "true");
  EXPECT_EQ(Updated("sEt x = :v ReMoVe a", item, R"({":v": 1})"),
            J(R"({"b": 2, "c": 3, "s": "x", "x": 1})"));
  EXPECT_EQ(Updated("  set   x=:v  ", "{}", R"({":v": 1})"), J(R"({"x": 1})"));
}

TEST(SyntaxTest, FunctionNamesAreCaseSensitive) {
  EXPECT_EQ(ConditionError("ATTRIBUTE_EXISTS(a)"),
            "Invalid ConditionExpression: Invalid function name; function: ATTRIBUTE_EXISTS");
  EXPECT_EQ(UpdateError("SET a = LIST_APPEND(:a, :b)", R"({":a": [1], ":b": [2]})"),
            "Invalid UpdateExpression: Invalid function name; function: LIST_APPEND");
}

TEST(SyntaxTest, NamesStartWithALetterAndPlaceholdersWithAnyWordCharacter) {
  EXPECT_EQ(Updated("SET Alpha_Numeric_123 = :v, A123_ = :v", "{}", R"({":v": 1})"),
            J(R"({"Alpha_Numeric_123": 1, "A123_": 1})"));
  EXPECT_EQ(Updated("SET #123a = :_, #_ = :123", "{}", R"({":_": 1, ":123": 2})",
                    R"({"#123a": "3 any character!.#=", "#_": "u"})"),
            J(R"({"3 any character!.#=": 1, "u": 2})"));
}

TEST(SyntaxTest, DeepNestingIsASyntaxErrorNotACrash) {
  const std::string deep = std::string(5000, '(') + "a = b" + std::string(5000, ')');
  EXPECT_EQ(ConditionError(deep).find("Invalid ConditionExpression: " + kSyntax), 0u);
  std::string nots;
  for (int i = 0; i < 5000; ++i) nots += "NOT ";
  EXPECT_EQ(ConditionError(nots + "a = b").find("Invalid ConditionExpression: " + kSyntax), 0u);
  const std::string calls = [] {
    std::string s = "a = ";
    for (int i = 0; i < 3000; ++i) s += "size(";
    s += "b";
    s += std::string(3000, ')');
    return s;
  }();
  EXPECT_EQ(ConditionError(calls).find("Invalid ConditionExpression: " + kSyntax), 0u);
  EXPECT_EQ(UpdateError("SET a = " + std::string(5000, '(') + "b" + std::string(5000, ')'))
                .find("Invalid UpdateExpression: " + kSyntax),
            0u);
  // Modest nesting is fine.
  EXPECT_EQ(Check("((((a = b) AND (b = a)) OR (a = a)))", R"({"a": 1, "b": 1})"),
            "Invalid ConditionExpression: The expression has redundant parentheses;");
  EXPECT_EQ(Check("(((a = b) AND (b = a)) OR (a = b))", R"({"a": 1, "b": 1})"), "true");
}

// ===== Reserved words =====

TEST(ReservedWordTest, BareReservedNamesAreRefusedInEveryExpressionKind) {
  EXPECT_EQ(ConditionError("status = :s", R"({":s": "x"})"),
            "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: "
            "status");
  EXPECT_EQ(
      ConditionError("a.SiZe > :s", R"({":s": 1})", "{}", "FilterExpression"),
      "Invalid FilterExpression: Attribute name is a reserved keyword; reserved keyword: SiZe");
  EXPECT_EQ(
      UpdateError("remove Absolute"),
      "Invalid UpdateExpression: Attribute name is a reserved keyword; reserved keyword: Absolute");
  EXPECT_EQ(
      UpdateError("SET a = zone"),
      "Invalid UpdateExpression: Attribute name is a reserved keyword; reserved keyword: zone");
  EXPECT_EQ(
      ProjectionError("a, b.name"),
      "Invalid ProjectionExpression: Attribute name is a reserved keyword; reserved keyword: name");
  EXPECT_EQ(KeyError("pk = :v AND date > :v", R"({":v": "x"})"),
            "Invalid KeyConditionExpression: Attribute name is a reserved keyword; reserved "
            "keyword: date");
}

TEST(ReservedWordTest, PlaceholdersAndFunctionNamesAreNotCheckedAndTheListIsComplete) {
  EXPECT_EQ(Check("#s = :s AND size(#s) = :one", R"({"status": "x"})", R"({":s": "x", ":one": 1})",
                  R"({"#s": "status"})"),
            "true");
  // The first, the last and a few between of the ~570 words.
  for (const char* word :
       {"ABORT", "zone", "Flattern", "innter", "loged", "TTL", "uuid", "varint", "between"}) {
    EXPECT_EQ(ProjectionError(word),
              std::string("Invalid ProjectionExpression: Attribute name is a reserved keyword; "
                          "reserved keyword: ") +
                  word);
  }
  for (const char* word :
       {"abortx", "zones", "statuses", "a", "id", "pk", "price", "attribute_exists"}) {
    EXPECT_EQ(ProjectionError(word), "parsed") << word;
  }
}

// ===== Condition: comparisons =====

TEST(ConditionTest, EqualityComparesDeeplyAcrossAllTypes) {
  for (const char* v : {"1", R"("hello")", "true", R"({"$B": "eHl6"})", "null", R"(["hello", 42])",
                        R"({"hello": "world", "n": {"x": [1]}})", R"({"$SS": ["hello", "world"]})",
                        R"({"$NS": ["1", "2", "3"]})", R"({"$BS": ["eHl6", "aGk="]})"}) {
    const std::string item = fmt::format(R"({{"a": {0}, "b": {0}}})", v);
    const std::string values = fmt::format(R"({{":v": {}}})", v);
    EXPECT_EQ(Check("a = b", item), "true") << v;
    EXPECT_EQ(Check("a = :v", item, values), "true") << v;
    EXPECT_EQ(Check("a <> :v", item, values), "false") << v;
  }
  EXPECT_EQ(Check("a = :v", R"({"a": {"$N": "1.50"}})", R"({":v": {"$N": "15e-1"}})"), "true");
  EXPECT_EQ(Check("a = :v", R"({"a": {"$NS": ["2", "1"]}})", R"({":v": {"$NS": ["1", "2.0"]}})"),
            "true");
  EXPECT_EQ(Check("a = :v", R"({"a": [1, 2]})", R"({":v": [2, 1]})"), "false");
  EXPECT_EQ(Check("a = :v", R"({"a": {"x": 1}})", R"({":v": {"x": 1, "y": 2}})"), "false");
}

TEST(ConditionTest, ValuesOfDifferentTypesAreNeverEqual) {
  const std::vector<std::string> values = {"1",
                                           R"("1")",
                                           "true",
                                           R"({"$B": "MQ=="})",
                                           "null",
                                           "[1]",
                                           R"({"a": 1})",
                                           R"({"$SS": ["1"]})",
                                           R"({"$NS": ["1"]})",
                                           R"({"$BS": ["MQ=="]})"};
  for (size_t i = 0; i < values.size(); ++i) {
    for (size_t j = 0; j < values.size(); ++j) {
      const std::string item = fmt::format(R"({{"a": {}}})", values[i]);
      const std::string subs = fmt::format(R"({{":v": {}}})", values[j]);
      EXPECT_EQ(Check("a = :v", item, subs), i == j ? "true" : "false")
          << values[i] << " vs " << values[j];
      EXPECT_EQ(Check("a <> :v", item, subs), i == j ? "false" : "true")
          << values[i] << " vs " << values[j];
    }
  }
}

TEST(ConditionTest, AMissingAttributeEqualsNothingAndDiffersFromEverything) {
  const char* item = R"({"a": 1})";
  const char* one = R"({":v": 1})";
  EXPECT_EQ(Check("q = :v", item, one), "false");
  EXPECT_EQ(Check("q <> :v", item, one), "true");
  EXPECT_EQ(Check("q = z", item), "false");  // not even another missing one
  EXPECT_EQ(Check("q <> z", item), "true");
  for (const char* op : {"<", "<=", ">", ">="}) {
    EXPECT_EQ(Check(fmt::format("q {} :v", op), item, one), "false") << op;
    EXPECT_EQ(Check(fmt::format(":v {} q", op), item, one), "false") << op;
    EXPECT_EQ(Check(fmt::format("q {} z", op), item), "false") << op;
  }
  EXPECT_EQ(Check("q BETWEEN z AND x", item), "false");
  EXPECT_EQ(Check("q IN (:v, z)", item, one), "false");
  EXPECT_EQ(Check("a = :v", "{}", one), "false");  // a missing item is the empty item
}

TEST(ConditionTest, OrderingComparesNumbersStringsAndBinariesOfOneType) {
  const char* item = R"({"n": 10, "s": "banana", "b": {"$B": "AQID"}, "l": [1, 2, 3], "u": "😀"})";
  struct Case {
    const char* expr;
    const char* values;
    const char* verdict;
  } cases[] = {
      {"n > :v", R"({":v": 9})", "true"},
      {"n < :v", R"({":v": 100})", "true"},  // numerically, not as text
      {"n <= :v", R"({":v": 10})", "true"},
      {"n >= :v", R"({":v": {"$N": "10.000"}})", "true"},
      {"n < :v", R"({":v": 10})", "false"},
      {"n > :v", R"({":v": {"$N": "-1e100"}})", "true"},
      {"s > :v", R"({":v": "apple"})", "true"},
      {"s < :v", R"({":v": "banana_"})", "true"},
      {"s >= :v", R"({":v": "banana"})", "true"},
      {"u > :v", R"({":v": "\uFFFD"})", "true"},  // UTF-8 bytes: U+1F600 after U+FFFD
      {"b > :v", R"({":v": {"$B": "AQI="}})", "true"},
      {"b < :v", R"({":v": {"$B": "/w=="}})", "true"},  // unsigned bytes: 0xFF after 0x01
      {"s > :v", R"({":v": 1})", "false"},              // different types are unordered
      {"n <= :v", R"({":v": "10"})", "false"},
      {"l < :v", R"({":v": 1})", "false"},  // an item value of another type is just false
      {":v < l", R"({":v": 1})", "false"},
      {"n > l[0]", "{}", "true"},
  };
  for (const Case& c : cases)
    EXPECT_EQ(Check(c.expr, item, c.values), c.verdict) << c.expr << " " << c.values;
}

TEST(ConditionTest, OrderingAgainstAConstantOfAnUnorderedTypeIsRefused) {
  EXPECT_EQ(ConditionError("a < :v", R"({":v": [1, 2]})"),
            "Invalid ConditionExpression: Incorrect operand type for operator or function; "
            "operator or function: <, "
            "operand type: L");
  EXPECT_EQ(ConditionError(":v >= a", R"({":v": true})"),
            "Invalid ConditionExpression: Incorrect operand type for operator or function; "
            "operator or function: >=, "
            "operand type: BOOL");
  EXPECT_EQ(ConditionError("a <= :v", R"({":v": {"$SS": ["x"]}})"),
            "Invalid ConditionExpression: Incorrect operand type for operator or function; "
            "operator or function: <=, "
            "operand type: SS");
  EXPECT_EQ(ConditionError("a > :v", R"({":v": null})"),
            "Invalid ConditionExpression: Incorrect operand type for operator or function; "
            "operator or function: >, "
            "operand type: NULL");
  EXPECT_EQ(ConditionError("a = :v", R"({":v": [1]})"), "parsed");  // equality takes any type
  EXPECT_EQ(ConditionError("a <> :v", R"({":v": {"a": 1}})"), "parsed");
}

TEST(ConditionTest, BetweenIsInclusiveAndOnlyOrdersOneType) {
  const char* item = R"({"n": 5, "s": "cat", "b": {"$B": "Y2F0"}, "lo": 0, "hi": 9})";
  EXPECT_EQ(Check("n BETWEEN :a AND :b", item, R"({":a": 5, ":b": 5})"), "true");
  EXPECT_EQ(Check("n BETWEEN :a AND :b", item, R"({":a": 1, ":b": 5})"), "true");
  EXPECT_EQ(Check("n BETWEEN :a AND :b", item, R"({":a": 5, ":b": 9})"), "true");
  EXPECT_EQ(Check("n BETWEEN :a AND :b", item, R"({":a": 6, ":b": 9})"), "false");
  EXPECT_EQ(Check("n BETWEEN :a AND :b", item, R"({":a": 1, ":b": {"$N": "4.99"}})"), "false");
  EXPECT_EQ(Check("s BETWEEN :a AND :b", item, R"({":a": "aardvark", ":b": "dog"})"), "true");
  EXPECT_EQ(Check("s BETWEEN :a AND :b", item, R"({":a": "cat", ":b": "cat"})"), "true");
  EXPECT_EQ(Check("s BETWEEN :a AND :b", item, R"({":a": "dog", ":b": "zebra"})"), "false");
  EXPECT_EQ(Check("b BETWEEN :a AND :b", item, R"({":a": {"$B": "YQ=="}, ":b": {"$B": "ZG9n"}})"),
            "true");
  EXPECT_EQ(Check("n BETWEEN lo AND hi", item), "true");
  EXPECT_EQ(Check("n BETWEEN :a AND :b", item, R"({":a": "0", ":b": "9"})"),
            "false");  // S bounds, N value
  EXPECT_EQ(Check("s BETWEEN :a AND :b", item, R"({":a": 0, ":b": 9})"), "false");
  EXPECT_EQ(Check("q BETWEEN :a AND :b", item, R"({":a": 0, ":b": 9})"), "false");
  EXPECT_EQ(Check("n BETWEEN lo AND :b", item, R"({":b": "x"})"),
            "false");  // one bound from the item
}

TEST(ConditionTest, BetweenWithConstantBoundsOutOfOrderOrOfTwoTypesIsRefused) {
  EXPECT_EQ(ConditionError("a BETWEEN :hi AND :lo", R"({":hi": 5, ":lo": 1})"),
            "Invalid ConditionExpression: The BETWEEN operator requires upper bound to be greater "
            "than or equal to "
            "lower bound; lower bound operand: AttributeValue: {N:5}, upper bound operand: "
            "AttributeValue: {N:1}");
  EXPECT_EQ(ConditionError("a BETWEEN :lo AND :hi", R"({":lo": "b", ":hi": "a"})", "{}",
                           "FilterExpression"),
            "Invalid FilterExpression: The BETWEEN operator requires upper bound to be greater "
            "than or equal to "
            "lower bound; lower bound operand: AttributeValue: {S:b}, upper bound operand: "
            "AttributeValue: {S:a}");
  EXPECT_EQ(
      ConditionError("a between :b and :a", R"({":a": "a", ":b": 1})"),
      "Invalid ConditionExpression: The BETWEEN operator requires same data type for lower and "
      "upper bounds; "
      "lower bound operand: AttributeValue: {N:1}, upper bound operand: AttributeValue: {S:a}");
  EXPECT_EQ(ConditionError("a BETWEEN :lo AND :hi", R"({":lo": [1, 2], ":hi": [2, 3]})"),
            "Invalid ConditionExpression: Incorrect operand type for operator or function; "
            "operator or function: "
            "BETWEEN, operand type: L");
  EXPECT_EQ(ConditionError("a BETWEEN :v AND :v", R"({":v": 1})"), "parsed");
}

TEST(ConditionTest, BetweenWithBoundsFromTheItemOutOfOrderIsSimplyFalse) {
  const char* item = R"({"a": 1, "two": 2})";
  EXPECT_EQ(Check("a BETWEEN two AND :v", item, R"({":v": 1})"), "false");
  EXPECT_EQ(Check("a BETWEEN :v AND two", item, R"({":v": 3})"), "false");
  EXPECT_EQ(Check("a BETWEEN two AND :v", item, R"({":v": "dog"})"), "false");
}

TEST(ConditionTest, InMatchesAnyListedValueOfAnyType) {
  const char* item = R"({"a": 74, "l": ["x", 1], "s": "dog"})";
  EXPECT_EQ(Check("a IN (:x, :y)", item, R"({":x": "dog", ":y": 74})"), "true");
  EXPECT_EQ(Check("a IN (:x, :y)", item, R"({":x": "dog", ":y": 75})"), "false");
  EXPECT_EQ(Check("l IN (:v)", item, R"({":v": ["x", 1]})"), "true");
  EXPECT_EQ(Check("s IN (l[0], s)", item), "true");
  EXPECT_EQ(Check("q IN (:v)", item, R"({":v": 1})"), "false");
}

TEST(ConditionTest, InTakesAtMostOneHundredOperandsCountingItsLeftOperand) {
  auto in_list = [](int n) {
    std::string list, values = "{";
    for (int i = 0; i < n; ++i) {
      list += fmt::format("{}:v{}", i ? ", " : "", i);
      values += fmt::format(R"({}":v{}": {})", i ? ", " : "", i, i);
    }
    return std::make_pair("a IN (" + list + ")", values + "}");
  };
  auto [ok_expr, ok_values] = in_list(99);
  EXPECT_EQ(Check(ok_expr, R"({"a": 37})", ok_values), "true");
  EXPECT_EQ(Check(ok_expr, R"({"a": 174})", ok_values), "false");
  auto [bad_expr, bad_values] = in_list(100);
  EXPECT_EQ(ConditionError(bad_expr, bad_values),
            "Invalid ConditionExpression: The IN operator is provided with too many operands; "
            "number of operands: 101");
}

// ===== Condition: functions =====

TEST(ConditionTest, AttributeExistsAndNotExistsFollowNestedPaths) {
  const char* item = R"({"a": {"b": [1, {"c": null}]}, "n": null})";
  EXPECT_EQ(Check("attribute_exists(a)", item), "true");
  EXPECT_EQ(Check("attribute_exists (n)", item), "true");  // NULL is a value
  EXPECT_EQ(Check("attribute_exists(a.b[1].c)", item), "true");
  EXPECT_EQ(Check("attribute_exists(a.b[2])", item), "false");
  EXPECT_EQ(Check("attribute_exists(a.x)", item), "false");
  EXPECT_EQ(Check("attribute_exists(a[0])", item), "false");
  EXPECT_EQ(Check("attribute_not_exists(z)", item), "true");
  EXPECT_EQ(Check("attribute_not_exists(a.b)", item), "false");
  EXPECT_EQ(Check("attribute_exists(#x.#y)", item, "{}", R"({"#x": "a", "#y": "b"})"), "true");
  EXPECT_EQ(Check("attribute_exists(pk)", "{}"), "false");
}

TEST(ConditionTest, AttributeExistsRequiresADocumentPath) {
  EXPECT_EQ(ConditionError("attribute_exists(:v)", R"({":v": 1})"),
            "Invalid ConditionExpression: Operator or function requires a document path; operator "
            "or function: "
            "attribute_exists");
  EXPECT_EQ(ConditionError("attribute_not_exists(size(:v))", R"({":v": "x"})"),
            "Invalid ConditionExpression: Operator or function requires a document path; operator "
            "or function: "
            "attribute_not_exists");
}

TEST(ConditionTest, AttributeTypeMatchesEachOfTheTenTypes) {
  const std::pair<const char*, const char*> types[] = {
      {"S", R"("hello")"},
      {"SS", R"({"$SS": ["a"]})"},
      {"N", "2"},
      {"NS", R"({"$NS": ["1"]})"},
      {"B", R"({"$B": "ZG9n"})"},
      {"BS", R"({"$BS": ["ZG9n"]})"},
      {"BOOL", "false"},
      {"NULL", "null"},
      {"L", "[1, \"dog\"]"},
      {"M", R"({"a": 3})"},
  };
  for (size_t i = 0; i < std::size(types); ++i) {
    const std::string item = fmt::format(R"({{"a": {}}})", types[i].second);
    EXPECT_EQ(
        Check("attribute_type(a, :t)", item, fmt::format(R"({{":t": "{}"}})", types[i].first)),
        "true");
    const char* other = types[(i + 1) % std::size(types)].first;
    EXPECT_EQ(Check("attribute_type(a, :t)", item, fmt::format(R"({{":t": "{}"}})", other)),
              "false");
  }
  EXPECT_EQ(Check("attribute_type(z, :t)", "{}", R"({":t": "NULL"})"), "false");
  EXPECT_EQ(Check("attribute_type(:v, :t)", "{}", R"({":v": 0, ":t": "N"})"), "true");
}

TEST(ConditionTest, AttributeTypeTakesAStringConstantNamingAType) {
  EXPECT_EQ(
      ConditionError("attribute_type(a, :t)", R"({":t": "DOG"})"),
      "Invalid ConditionExpression: Invalid attribute type name found; type: DOG, valid types: "
      "{B,NULL,SS,BOOL,L,BS,N,NS,S,M}");
  EXPECT_EQ(ConditionError("attribute_type(a, :t)", R"({":t": 1})"),
            "Invalid ConditionExpression: Incorrect operand type for operator or function; "
            "operator or function: "
            "attribute_type, operand type: N");
  EXPECT_EQ(ConditionError("attribute_type(a, b)"),
            "Invalid ConditionExpression: Incorrect operand type for operator or function; "
            "operator or function: "
            "attribute_type, operand type: {NS,SS,L,BS,N,M,B,BOOL,NULL,S}");
  EXPECT_EQ(ConditionError("attribute_type(a, size(a))"),
            "Invalid ConditionExpression: Incorrect operand type for operator or function; "
            "operator or function: "
            "attribute_type, operand type: N");
}

TEST(ConditionTest, BeginsWithMatchesStringAndBinaryPrefixes) {
  const char* item = R"({"s": "hello", "b": {"$B": "aGkgdGhlcmU="}, "p": "he", "n": 5})";
  EXPECT_EQ(Check("begins_with(s, :p)", item, R"({":p": "hell"})"), "true");
  EXPECT_EQ(Check("begins_with(s, :p)", item, R"({":p": "hello"})"), "true");
  EXPECT_EQ(Check("begins_with(s, :p)", item, R"({":p": "ello"})"), "false");
  EXPECT_EQ(Check("begins_with(b, :p)", item, R"({":p": {"$B": "aGk="}})"), "true");
  EXPECT_EQ(Check("begins_with(b, :p)", item, R"({":p": "hi"})"), "false");  // B is not S
  EXPECT_EQ(Check("begins_with(s, p)", item), "true");
  EXPECT_EQ(Check("begins_with(:s, s)", item, R"({":s": "hello world"})"), "true");
  EXPECT_EQ(Check("begins_with(n, :p)", item, R"({":p": "5"})"), "false");
  EXPECT_EQ(Check("begins_with(z, :p)", item, R"({":p": "x"})"), "false");
}

TEST(ConditionTest, BeginsWithRefusesConstantsThatAreNotStringsOrBinaries) {
  for (const char* v :
       {"2", "true", "null", "[]", "{}", R"({"$SS": ["1"]})", R"({"$NS": ["1"]})"}) {
    const std::string got = ConditionError("begins_with(a, :a)", fmt::format(R"({{":a": {}}})", v));
    EXPECT_EQ(got.find("Invalid ConditionExpression: Incorrect operand type for operator or "
                       "function; operator or "
                       "function: begins_with, operand type: "),
              0u)
        << v << " => " << got;
  }
  EXPECT_EQ(ConditionError("begins_with(:a, a)", R"({":a": 1})"),
            "Invalid ConditionExpression: Incorrect operand type for operator or function; "
            "operator or function: "
            "begins_with, operand type: N");
  EXPECT_EQ(ConditionError("begins_with(a, size(a))"),
            "Invalid ConditionExpression: Incorrect operand type for operator or function; "
            "operator or function: "
            "begins_with, operand type: N");
}

TEST(ConditionTest, ContainsFindsSubstringsSetMembersAndListElements) {
  const char* item =
      R"({"s": "hello", "ss": {"$SS": ["red", "green"]}, "ns": {"$NS": ["2", "4", "7"]},
                         "b": {"$B": "aGkgdGhlcmU="}, "bs": {"$BS": ["aGk="]}, "l": ["hi", {"$NS": ["1", "2"]}, [3, 4]],
                         "part": "ell"})";
  struct Case {
    const char* expr;
    const char* values;
    const char* verdict;
  } cases[] = {
      {"contains(s, :v)", R"({":v": "ell"})", "true"},
      {"contains(s, :v)", R"({":v": "elo"})", "false"},
      {"contains(s, part)", "{}", "true"},
      {"contains(ss, :v)", R"({":v": "red"})", "true"},
      {"contains(ss, :v)", R"({":v": "blue"})", "false"},
      {"contains(ns, :v)", R"({":v": {"$N": "4.0"}})", "true"},
      {"contains(ns, :v)", R"({":v": "4"})", "false"},
      {"contains(b, :v)", R"({":v": {"$B": "aGVyZQ=="}})", "true"},
      {"contains(bs, :v)", R"({":v": {"$B": "aGk="}})", "true"},
      {"contains(l, :v)", R"({":v": "hi"})", "true"},
      {"contains(l, :v)", R"({":v": {"$NS": ["2", "1"]}})", "true"},
      {"contains(l, :v)", R"({":v": [3, 4]})", "true"},
      {"contains(l, :v)", R"({":v": [4, 3]})", "false"},
      {"contains(s, :v)", R"({":v": 1})", "false"},
      {"contains(z, :v)", R"({":v": "x"})", "false"},
  };
  for (const Case& c : cases)
    EXPECT_EQ(Check(c.expr, item, c.values), c.verdict) << c.expr << " " << c.values;
}

TEST(ConditionTest, SizeCountsBytesElementsAndMembers) {
  const char* item = R"({"s": "hello", "u": "é", "ns": {"$NS": ["2", "4", "7"]}, "l": [2, "dog", 7],
                         "b": {"$B": "aGkgdGhlcmU="}, "m": {"x": 2, "y": {"m": 3, "n": 4}}, "e": "", "five": 5})";
  EXPECT_EQ(Check("size(s) = :v", item, R"({":v": 5})"), "true");
  EXPECT_EQ(Check("size(u) = :v", item, R"({":v": 2})"), "true");  // UTF-8 bytes
  EXPECT_EQ(Check("size(ns) = :v", item, R"({":v": 3})"), "true");
  EXPECT_EQ(Check("size(l) = :v", item, R"({":v": 3})"), "true");
  EXPECT_EQ(Check("size(b) = :v", item, R"({":v": 8})"), "true");
  EXPECT_EQ(Check("size(m) = :v", item, R"({":v": 2})"), "true");
  EXPECT_EQ(Check("size(m.y) = :v", item, R"({":v": 2})"), "true");
  EXPECT_EQ(Check("size(:s) = :v", item, R"({":s": "abc", ":v": 3})"), "true");
  EXPECT_EQ(Check("size(s) = five", item), "true");
  EXPECT_EQ(Check("size(s) <> :v", item, R"({":v": 4})"), "true");
  EXPECT_EQ(Check("size(s) < :v", item, R"({":v": 7})"), "true");
  EXPECT_EQ(Check("size(s) >= :v", item, R"({":v": 5})"), "true");
  EXPECT_EQ(Check("size(s) BETWEEN :a AND :b", item, R"({":a": 1, ":b": 5})"), "true");
  EXPECT_EQ(Check("size(s) IN (:a, :b)", item, R"({":a": 1, ":b": 5})"), "true");
  EXPECT_EQ(Check(":v < size(l)", item, R"({":v": 2})"), "true");
  EXPECT_EQ(Check("size(s) = :v", item, R"({":v": "dog"})"), "false");
}

TEST(ConditionTest, ThingsWithoutASizeHaveNoSizeValue) {
  const char* item = R"({"n": 5, "t": true, "z": null})";
  for (const char* attr : {"n", "t", "z", "absent"}) {
    EXPECT_EQ(Check(fmt::format("size({}) = :v", attr), item, R"({":v": 1})"), "false") << attr;
    EXPECT_EQ(Check(fmt::format("size({}) >= :v", attr), item, R"({":v": 0})"), "false") << attr;
  }
  EXPECT_EQ(ConditionError("size(:v) > a", R"({":v": true})"),
            "Invalid ConditionExpression: Incorrect operand type for operator or function; "
            "operator or function: size, "
            "operand type: BOOL");
  EXPECT_EQ(ConditionError("size(size(a)) > :v", R"({":v": 1})"),
            "Invalid ConditionExpression: Incorrect operand type for operator or function; "
            "operator or function: size, "
            "operand type: N");
}

TEST(ConditionTest, SizeIsAnOperandAndTheOtherFunctionsAreConditions) {
  const std::string misused =
      "Invalid ConditionExpression: The function is not allowed to be used this way in an "
      "expression; function: ";
  EXPECT_EQ(ConditionError("size(a)"), misused + "size");
  EXPECT_EQ(ConditionError("attribute_exists(a) < :v", R"({":v": 1})"),
            misused + "attribute_exists");
  EXPECT_EQ(ConditionError("begins_with(a, :v) = :t", R"({":v": "x", ":t": true})"),
            misused + "begins_with");
  EXPECT_EQ(ConditionError("size(contains(a, b)) > a"), misused + "contains");
  EXPECT_EQ(ConditionError("a between b and attribute_exists(c)"), misused + "attribute_exists");
  EXPECT_EQ(ConditionError("a in (b, attribute_type(c, :t))", R"({":t": "S"})"),
            misused + "attribute_type");
  EXPECT_EQ(ConditionError("if_not_exists(a, a) = :v", R"({":v": 1})"), misused + "if_not_exists");
  EXPECT_EQ(ConditionError("list_append(a, b) = :v", R"({":v": [1]})"), misused + "list_append");
  EXPECT_EQ(ConditionError("dog(a) = :v", R"({":v": 1})"),
            "Invalid ConditionExpression: Invalid function name; function: dog");
}

TEST(ConditionTest, FunctionsTakeTheirNumberOfOperands) {
  const std::string prefix =
      "Invalid FilterExpression: Incorrect number of operands for operator or function; "
      "operator or function: ";
  struct Case {
    const char* expr;
    const char* rest;
  } cases[] = {
      {"attribute_exists(things, a) and a = b", "attribute_exists, number of operands: 2"},
      {"attribute_not_exists(things, b)", "attribute_not_exists, number of operands: 2"},
      {"attribute_type(things)", "attribute_type, number of operands: 1"},
      {"begins_with(things)", "begins_with, number of operands: 1"},
      {"begins_with(things, size(a), b)", "begins_with, number of operands: 3"},
      {"contains(things)", "contains, number of operands: 1"},
      {"size(things, a) > b", "size, number of operands: 2"},
  };
  for (const Case& c : cases)
    EXPECT_EQ(ConditionError(c.expr, "{}", "{}", "FilterExpression"), prefix + c.rest) << c.expr;
}

TEST(ConditionTest, TheFirstOperandMustDifferFromTheSecond) {
  const std::string prefix =
      "Invalid FilterExpression: The first operand must be distinct from the remaining operands "
      "for this operator or function; operator: ";
  const char* names = R"({"#a": "a"})";
  EXPECT_EQ(ConditionError("a = a AND #a = b", "{}", names, "FilterExpression"),
            prefix + "=, first operand: [a]");
  EXPECT_EQ(ConditionError("#a <> a", "{}", names, "FilterExpression"),
            prefix + "<>, first operand: [a]");
  EXPECT_EQ(ConditionError("((a=a) OR (b=c))", "{}", "{}", "FilterExpression"),
            prefix + "=, first operand: [a]");
  EXPECT_EQ(ConditionError("contains(ab.bc[1].a, ab.bc[1].#a)", "{}", names, "FilterExpression"),
            prefix + "contains, first operand: [ab, bc, [1], a]");
  EXPECT_EQ(ConditionError("begins_with(x, x)", "{}", "{}", "FilterExpression"),
            prefix + "begins_with, first operand: [x]");
  EXPECT_EQ(ConditionError(":v = :v", R"({":v": 1})"), "parsed");
  EXPECT_EQ(ConditionError("a.b = a.c"), "parsed");
}

// ===== Condition: logic and structure =====

TEST(ConditionTest, NotBindsTighterThanAndWhichBindsTighterThanOr) {
  const char* item = R"({"a": 1, "b": 2, "c": 3})";
  EXPECT_EQ(Check("a < b OR c < b AND b < c", item), "true");  // a<b OR (c<b AND b<c)
  EXPECT_EQ(Check("(a < b OR c < b) AND c < b", item), "false");
  EXPECT_EQ(Check("NOT a < b AND c < b", item), "false");  // (NOT a<b) AND c<b
  EXPECT_EQ(Check("NOT c < b AND a < b", item), "true");
  EXPECT_EQ(Check("NOT (a < b AND c < b)", item), "true");
  EXPECT_EQ(Check("NOT NOT NOT NOT a < b", item), "true");
  EXPECT_EQ(Check("b BETWEEN a AND c AND a < b", item), "true");  // BETWEEN takes the first AND
  EXPECT_EQ(Check("a < b AND b < c AND NOT c < a OR a = c", item), "true");
  EXPECT_EQ(Check("(a < b OR b < a) AND (b < c AND (a < b OR b < c))", item), "true");
}

TEST(ConditionTest, ParenthesesMayWrapConditionsOperandsAndPathGroups) {
  const char* item = R"({"a": 1, "b": {"c": {"d": 2}}, "c": 3, "s": "x"})";
  EXPECT_EQ(Check("(a) < (c)", item), "true");
  EXPECT_EQ(Check("(a)between(b.c.d)and(c)", item), "false");
  EXPECT_EQ(Check("(c)between(b.c.d)and(c)", item), "true");
  EXPECT_EQ(Check("(b.c).d = :two", item, R"({":two": 2})"), "true");
  EXPECT_EQ(Check("(size(s)) = (:one)", item, R"({":one": 1})"), "true");
  EXPECT_EQ(Check("(attribute_exists(a))", item), "true");
  EXPECT_EQ(Check("NOT(attribute_exists(z))", item), "true");
  EXPECT_EQ(Check("(a = :one)", item, R"({":one": 1})"), "true");
}

TEST(ConditionTest, RedundantParenthesesAreRefused) {
  for (const char* expr : {
           "a=a and a > ((views))",
           "(a)between(((b.c)).d)and(c)",
           "a > whatever((:things), ((a)))",
           "a=a AND ((a=a AND a=a)) AND a=a",
           "a=a OR ((a=a OR a=a)) OR a=a",
           "a=a AND ((a=a AND (a=a AND a=a)))",
           "((a = b))",
           "NOT ((a = b))",
           "((attribute_exists(a)))",
       }) {
    EXPECT_EQ(ConditionError(expr, "{}", "{}", "FilterExpression"),
              "Invalid FilterExpression: The expression has redundant parentheses;")
        << expr;
  }
}

TEST(ConditionTest, PlaceholdersNameAttributesLiterally) {
  const char* item = R"({"a.b": "dotted", "a": {"b": "nested"}, "and": {"or": 2}})";
  EXPECT_EQ(Check("#n = :v", item, R"({":v": "dotted"})", R"({"#n": "a.b"})"), "true");
  EXPECT_EQ(Check("a.b = :v", item, R"({":v": "nested"})"), "true");
  EXPECT_EQ(Check("#x.#y = :two", item, R"({":two": 2})", R"({"#x": "and", "#y": "or"})"), "true");
}

TEST(ConditionTest, UndefinedPlaceholdersAreRefused) {
  EXPECT_EQ(ConditionError("#a = :v", R"({":v": 1})"),
            "Invalid ConditionExpression: An expression attribute name used in the document path "
            "is not defined; "
            "attribute name: #a");
  EXPECT_EQ(ConditionError("a = :v"),
            "Invalid ConditionExpression: An expression attribute value used in expression is not "
            "defined; "
            "attribute value: :v");
  EXPECT_EQ(
      ConditionError("(a)between(b.c[45].#d)and(:a)", R"({":a": 1})", "{}", "FilterExpression"),
      "Invalid FilterExpression: An expression attribute name used in the document path is not "
      "defined; "
      "attribute name: #d");
}

TEST(ConditionTest, ErrorsAreReportedInDynamoDbsOrder) {
  const std::string prefix = "Invalid FilterExpression: ";
  auto error = [](const char* expr, const char* values = "{}") {
    return ConditionError(expr, values, "{}", "FilterExpression");
  };
  // Redundant parentheses before an unknown function before a misused one before a
  // reserved word before anything about one condition.
  EXPECT_EQ(error("whatever(a) = b AND ((c = d))"),
            prefix + "The expression has redundant parentheses;");
  EXPECT_EQ(error("a=a and whatever((:things)) > a"),
            prefix + "Invalid function name; function: whatever");
  EXPECT_EQ(error("attRIbute_exIsts((views), #a)"),
            prefix + "Invalid function name; function: attRIbute_exIsts");
  EXPECT_EQ(
      error("status = :x AND size(a)"),
      prefix + "The function is not allowed to be used this way in an expression; function: size");
  EXPECT_EQ(error("attribute_exists(views, #a)"),
            prefix + "Attribute name is a reserved keyword; reserved keyword: views");
  // Then the first condition with a problem: an undefined placeholder, else the
  // operand count, else a repeated operand, else operand types.
  EXPECT_EQ(error("a = a AND b = :undefined"),
            prefix +
                "The first operand must be distinct from the remaining operands for this operator "
                "or function; "
                "operator: =, first operand: [a]");
  EXPECT_EQ(error("begins_with(:hello, #a, #b)"),
            prefix +
                "An expression attribute value used in expression is not defined; attribute value: "
                ":hello");
  EXPECT_EQ(error("begins_with(a, a, :n)", R"({":n": 1})"),
            prefix +
                "Incorrect number of operands for operator or function; operator or function: "
                "begins_with, "
                "number of operands: 3");
  EXPECT_EQ(error("begins_with(a, a) AND a < :l", R"({":l": [1]})"),
            prefix +
                "The first operand must be distinct from the remaining operands for this operator "
                "or function; "
                "operator: begins_with, first operand: [a]");
}

TEST(ConditionTest, ADefaultConditionHoldsForEveryItem) {
  Condition c;
  EXPECT_TRUE(*c.Evaluate(ItemOf(R"({"a": 1})")));
  EXPECT_TRUE(c.TopLevelNames().empty());
}

TEST(ConditionTest, TopLevelNamesListsTheAttributesRead) {
  Substitutions subs = Subs(R"({":v": 1, ":t": "S"})", R"({"#k": "key"})");
  auto c = Condition::Parse(
      "a.b[1] = :v OR (NOT size(#k) > :v AND attribute_type(c[0], :t)) OR d IN (e.f, :v)",
      "FilterExpression", subs);
  ASSERT_TRUE(c.has_value()) << c.error().message();
  EXPECT_EQ(c->TopLevelNames(), (std::set<std::string>{"a", "c", "d", "e", "key"}));
}

TEST(ConditionTest, ConditionsMoveAndStayUsable) {
  Substitutions subs = Subs(R"({":v": 1})");
  auto parsed = Condition::Parse("a = :v", "ConditionExpression", subs);
  ASSERT_TRUE(parsed.has_value());
  Condition moved = std::move(*parsed);
  Condition assigned;
  assigned = std::move(moved);
  EXPECT_TRUE(*assigned.Evaluate(ItemOf(R"({"a": 1})")));
  EXPECT_FALSE(*assigned.Evaluate(ItemOf(R"({"a": 2})")));
}

// ===== KeyCondition =====

TEST(KeyConditionTest, HashEqualityAloneSelectsAPartition) {
  auto kc = ParseKey("pk = :a", R"({":a": "p"})");
  ASSERT_TRUE(kc.has_value()) << kc.error().message();
  EXPECT_EQ(kc->hash_name, "pk");
  EXPECT_EQ(kc->hash_value, V(R"("p")"));
  EXPECT_EQ(kc->op, KeyCondition::Op::kNone);
  EXPECT_TRUE(kc->range_name.empty());
  EXPECT_TRUE(kc->RangeMatches(V(R"("anything")")));
  auto reversed = ParseKey(":a = #p", R"({":a": 7})", R"({"#p": "pk"})", "pk", "");
  ASSERT_TRUE(reversed.has_value()) << reversed.error().message();
  EXPECT_EQ(reversed->hash_value, V("7"));
}

TEST(KeyConditionTest, RangeConditionsTakeEachAllowedOperatorOnEitherSide) {
  using Op = KeyCondition::Op;
  struct Case {
    const char* expr;
    Op op;
  } cases[] = {
      {"pk = :a AND sk = :x", Op::kEq},
      {"pk = :a AND sk < :x", Op::kLt},
      {"pk = :a AND sk <= :x", Op::kLe},
      {"pk = :a AND sk > :x", Op::kGt},
      {"pk = :a AND sk >= :x", Op::kGe},
      {"sk >= :x AND pk = :a", Op::kGe},
      {":x > sk AND pk = :a", Op::kLt},
      {":x <= sk and :a = pk", Op::kGe},
      {"pk = :a AND begins_with(sk, :x)", Op::kBeginsWith},
      {"(begins_with(sk, :x)) AND (#p = :a)", Op::kBeginsWith},
  };
  for (const Case& c : cases) {
    auto kc =
        ParseKey(c.expr, R"({":a": "p", ":x": "m"})", c.expr[1] == 'b' ? R"({"#p": "pk"})" : "{}");
    ASSERT_TRUE(kc.has_value()) << c.expr << ": " << kc.error().message();
    EXPECT_EQ(kc->op, c.op) << c.expr;
    EXPECT_EQ(kc->range_name, "sk");
    EXPECT_EQ(kc->low, V(R"("m")"));
    EXPECT_EQ(kc->hash_value, V(R"("p")"));
  }
  auto between =
      ParseKey("pk = :a AND sk BETWEEN :lo AND :hi", R"({":a": "p", ":lo": 1, ":hi": 9})");
  ASSERT_TRUE(between.has_value());
  EXPECT_EQ(between->op, Op::kBetween);
  EXPECT_EQ(between->low, V("1"));
  EXPECT_EQ(between->high, V("9"));
}

TEST(KeyConditionTest, RangeMatchesAppliesTheOperatorToOneTypeOnly) {
  auto matches = [](const char* cond, const char* values, const char* range) {
    auto kc = ParseKey(std::string("pk = :a AND ") + cond, values);
    EXPECT_TRUE(kc.has_value()) << cond << ": " << kc.error().message();
    return kc.has_value() && kc->RangeMatches(V(range));
  };
  EXPECT_TRUE(matches("sk = :x", R"({":a": 1, ":x": "002"})", R"("002")"));
  EXPECT_FALSE(matches("sk = :x", R"({":a": 1, ":x": "002"})", R"("003")"));
  EXPECT_TRUE(matches("sk < :x", R"({":a": 1, ":x": 10})", "9"));
  EXPECT_FALSE(matches("sk < :x", R"({":a": 1, ":x": 10})", "10"));
  EXPECT_TRUE(matches("sk <= :x", R"({":a": 1, ":x": 10})", "10"));
  EXPECT_TRUE(matches("sk > :x", R"({":a": 1, ":x": 10})", "100"));
  EXPECT_FALSE(matches("sk > :x", R"({":a": 1, ":x": 10})", "10"));
  EXPECT_TRUE(matches("sk >= :x", R"({":a": 1, ":x": 10})", "10"));
  EXPECT_TRUE(matches(":x > sk", R"({":a": 1, ":x": 10})", "9"));
  EXPECT_TRUE(
      matches("sk BETWEEN :l AND :h", R"({":a": 1, ":l": "002", ":h": "b01"})", R"("b01")"));
  EXPECT_TRUE(
      matches("sk BETWEEN :l AND :h", R"({":a": 1, ":l": "002", ":h": "b01"})", R"("002")"));
  EXPECT_FALSE(
      matches("sk BETWEEN :l AND :h", R"({":a": 1, ":l": "002", ":h": "b01"})", R"("b02")"));
  EXPECT_TRUE(matches("begins_with(sk, :p)", R"({":a": 1, ":p": "b"})", R"("b01")"));
  EXPECT_FALSE(matches("begins_with(sk, :p)", R"({":a": 1, ":p": "b"})", R"("a01")"));
  EXPECT_TRUE(
      matches("begins_with(sk, :p)", R"({":a": 1, ":p": {"$B": "AQ=="}})", R"({"$B": "AQI="})"));
  EXPECT_FALSE(matches("sk < :x", R"({":a": 1, ":x": 10})", R"("1")"));  // another type
}

TEST(KeyConditionTest, OnlyAndCombinesKeyConditions) {
  const std::string prefix = "Invalid operator used in KeyConditionExpression: ";
  EXPECT_EQ(KeyError("a > b and size(b) > c or a > c"), prefix + "OR");
  EXPECT_EQ(KeyError("a in (b, size(c), d)"), prefix + "IN");
  EXPECT_EQ(KeyError("attribute_exists(a)"), prefix + "attribute_exists");
  EXPECT_EQ(KeyError("attribute_not_exists(a)"), prefix + "attribute_not_exists");
  EXPECT_EQ(KeyError("attribute_type(a, :a)", R"({":a": "S"})"), prefix + "attribute_type");
  EXPECT_EQ(KeyError("contains(a.d, b)"), prefix + "contains");
  EXPECT_EQ(KeyError("not a > b"), prefix + "NOT");
  EXPECT_EQ(KeyError("a <> b"), prefix + "<>");
  EXPECT_EQ(KeyError("pk = :a AND sk <> :b", R"({":a": 1, ":b": 1})"), prefix + "<>");
  // Expression errors come first.
  EXPECT_EQ(KeyError("attribute_type(a, :a)", R"({":a": 1})"),
            "Invalid KeyConditionExpression: Incorrect operand type for operator or function; "
            "operator or function: "
            "attribute_type, operand type: N");
}

TEST(KeyConditionTest, EachConditionComparesOneTopLevelKeyWithValues) {
  EXPECT_EQ(KeyError(":a between size(b) and size(a) and b > :b", R"({":a": "1", ":b": "1"})"),
            "Invalid condition in KeyConditionExpression: BETWEEN operator must have the key "
            "attribute as its first "
            "operand");
  EXPECT_EQ(KeyError("begins_with(:a, b) and a > :b", R"({":a": "1", ":b": "1"})"),
            "Invalid condition in KeyConditionExpression: begins_with operator must have the key "
            "attribute as its "
            "first operand");
  for (const char* expr :
       {"size(b) > a AND a.b > b AND b > c", "a > size(b.d)", "a between size(b) and size(a)"}) {
    EXPECT_EQ(KeyError(expr), "KeyConditionExpressions cannot contain nested operations") << expr;
  }
  for (const char* expr :
       {"b > a.b", "b between c[1] and d", "a between b and size(a)", "begins_with(a, b)"}) {
    EXPECT_EQ(KeyError(expr),
              "Invalid condition in KeyConditionExpression: Multiple attribute names used in one "
              "condition")
        << expr;
  }
  for (const char* expr : {"b.d > a AND c.d > e.f", "a.d > c", "b[0] > a"}) {
    EXPECT_EQ(KeyError(expr), "KeyConditionExpressions cannot have conditions on nested attributes")
        << expr;
  }
  for (const char* expr : {":b > :a AND a < :b", ":a > b AND :a < :b"}) {
    EXPECT_EQ(KeyError(expr, R"({":a": 1, ":b": 2})"),
              "Invalid condition in KeyConditionExpression: No key attribute specified")
        << expr;
  }
  for (const char* expr : {"b > :a AND b < :a and c = :a and d = :a",
                           "(a > :a and b > :a) and (b > :a and c > :a)", "pk = :a AND #p = :a"}) {
    EXPECT_EQ(KeyError(expr, R"({":a": 1})", R"({"#p": "pk"})"),
              "KeyConditionExpressions must only contain one condition per key")
        << expr;
  }
}

TEST(KeyConditionTest, TheHashKeyTakesEqualityAndTheConditionNamesOnlyKeys) {
  EXPECT_EQ(KeyError("sk = :x", R"({":x": "1"})"), "Query condition missed key schema element: pk");
  EXPECT_EQ(KeyError("z BETWEEN :a AND :b", R"({":a": 1, ":b": 2})"),
            "Query condition missed key schema element: pk");
  EXPECT_EQ(KeyError("pk = :a AND kept = :k", R"({":a": "a", ":k": 1})"),
            "Query condition missed key schema element: sk");
  EXPECT_EQ(KeyError("pk = :a AND sk = :a AND kept = :a", R"({":a": "a"})"),
            "Query key condition not supported");
  EXPECT_EQ(KeyError("pk = :a AND sk = :b", R"({":a": "a", ":b": "b"})", "{}", ""),
            "Query key condition not supported");
  EXPECT_EQ(KeyError("pk = :a", R"({":a": "a"})", "{}", ""), "parsed");
  for (const char* expr :
       {"pk < :a", "pk >= :a", "begins_with(pk, :a)", "pk BETWEEN :a AND :a", ":a < pk"}) {
    EXPECT_EQ(KeyError(expr, R"({":a": "a"})"), "Query key condition not supported") << expr;
    EXPECT_EQ(KeyError(expr, R"({":a": "a"})", "{}", ""), "Query key condition not supported")
        << expr;
  }
}

TEST(KeyConditionTest, BetweenBoundsAreCheckedLikeAnyCondition) {
  EXPECT_EQ(
      KeyError("pk = :p AND sk between :b and :a", R"({":p": 1, ":a": "a", ":b": 1})"),
      "Invalid KeyConditionExpression: The BETWEEN operator requires same data type for lower and "
      "upper bounds; "
      "lower bound operand: AttributeValue: {N:1}, upper bound operand: AttributeValue: {S:a}");
  EXPECT_EQ(KeyError("pk = :p AND sk between :b and :a", R"({":p": 1, ":a": "a", ":b": "b"})"),
            "Invalid KeyConditionExpression: The BETWEEN operator requires upper bound to be "
            "greater than or equal to "
            "lower bound; lower bound operand: AttributeValue: {S:b}, upper bound operand: "
            "AttributeValue: {S:a}");
  EXPECT_EQ(KeyError("pk = :p AND begins_with(sk, :n)", R"({":p": 1, ":n": 1})"),
            "Invalid KeyConditionExpression: Incorrect operand type for operator or function; "
            "operator or function: "
            "begins_with, operand type: N");
}

// ===== Update: SET =====

TEST(UpdateTest, SetWritesTopLevelAndNestedAttributes) {
  const char* item = R"({"id": "k", "info": {"a": 1}, "letters": [1, 2, 3]})";
  EXPECT_EQ(Updated("SET a = :a, info.b = :b, #l[0] = :z", item, R"({":a": "A", ":b": 2, ":z": 0})",
                    R"({"#l": "letters"})"),
            J(R"({"id": "k", "a": "A", "info": {"a": 1, "b": 2}, "letters": [0, 2, 3]})"));
  EXPECT_EQ(Updated("SET info.a = :m", item, R"({":m": {"x": [1]}})"),
            J(R"({"id": "k", "info": {"a": {"x": [1]}}, "letters": [1, 2, 3]})"));
  EXPECT_EQ(Updated("SET id = :v", item, R"({":v": 5})"),
            J(R"({"id": 5, "info": {"a": 1}, "letters": [1, 2, 3]})"));
  EXPECT_EQ(Updated("SET #n = :v", "{}", R"({":v": 3})", R"({"#n": "a.b"})"), J(R"({"a.b": 3})"));
}

TEST(UpdateTest, SetPastTheEndOfAListAppendsInIndexOrder) {
  EXPECT_EQ(Updated("SET letters[10] = :v", R"({"letters": [1, 2, 3]})", R"({":v": 4})"),
            J(R"({"letters": [1, 2, 3, 4]})"));
  // DynamoDB's own example: the appends land in index order, whatever their order
  // in the expression, and every value is read before anything is written.
  EXPECT_EQ(
      Updated("set b.c=((c[1])+(b.a)),b.a = a,c[1] = a, c[4] = b.a - b.b, c[2] = b.c add c[8] :b, "
              "c[6] :a",
              R"({"a": "key", "b": {"a": 1, "b": 2, "c": 3}, "c": [1, 3]})",
              R"({":a": 2, ":b": {"$SS": ["a"]}})"),
      J(R"({"a": "key", "b": {"a": "key", "b": 2, "c": 4}, "c": [1, "key", 3, -1, 2, {"$SS": ["a"]}]})"));
}

TEST(UpdateTest, ValuesAreComputedFromTheItemBeforeTheUpdate) {
  EXPECT_EQ(Updated("SET a = tally, tally = :ten", R"({"tally": 1})", R"({":ten": 10})"),
            J(R"({"a": 1, "tally": 10})"));
  EXPECT_EQ(Updated("SET x = :v, y = x", "{}", R"({":v": 4})"),
            json::value(
                "The provided expression refers to an attribute that does not exist in the item"));
  EXPECT_EQ(Updated("REMOVE a SET b = a", R"({"a": "hello"})"), J(R"({"b": "hello"})"));
  EXPECT_EQ(Updated("SET c = b REMOVE b", R"({"b": "hello"})"), J(R"({"c": "hello"})"));
  EXPECT_EQ(Updated("SET a = b, b = a", R"({"a": 1, "b": 2})"), J(R"({"a": 2, "b": 1})"));
}

TEST(UpdateTest, ReadingAMissingAttributeIsAnError) {
  const json::value missing(
      "The provided expression refers to an attribute that does not exist in the item");
  EXPECT_EQ(Updated("SET c = z", R"({"a": 1})"), missing);
  EXPECT_EQ(Updated("SET z = z", R"({"a": 1})"), missing);
  EXPECT_EQ(Updated("SET a = a", R"({"a": 1})"), J(R"({"a": 1})"));
  EXPECT_EQ(Updated("SET c = a.b[3]", R"({"a": {"b": [1]}})"), missing);
  EXPECT_EQ(Updated("SET e = list_append(b, c)", "{}"), missing);
  EXPECT_EQ(Updated("SET a = absent + :v", "{}", R"({":v": 1})"), missing);
}

TEST(UpdateTest, ArithmeticIsExactDecimal) {
  EXPECT_EQ(Updated("SET f = f + :f, tally = tally - :one", R"({"f": {"$N": "0.1"}, "tally": 1})",
                    R"({":f": {"$N": "0.2"}, ":one": 1})"),
            J(R"({"f": {"$N": "0.3"}, "tally": 0})"));
  EXPECT_EQ(Updated("SET b = :a + :b", "{}", R"({":a": 4, ":b": 3})"), J(R"({"b": 7})"));
  EXPECT_EQ(Updated("SET b = :a - :b", "{}", R"({":a": 5, ":b": 7})"), J(R"({"b": -2})"));
  EXPECT_EQ(Updated("SET #nn = :seven - #n", R"({"n": 2})", R"({":seven": 7})",
                    R"({"#nn": "nn", "#n": "n"})"),
            J(R"({"n": 2, "nn": 5})"));
  EXPECT_EQ(Updated("SET n = n + :d", R"({"n": {"$N": "12345678901234567890123456789012345678"}})",
                    R"({":d": {"$N": "-0.5"}})"),
            json::value("Attempting to store more than 38 significant digits in a Number"));
  EXPECT_EQ(Updated("SET n = n + n", R"({"n": {"$N": "9.9e125"}})"),
            json::value("Number overflow. Attempting to store a number with magnitude larger than "
                        "supported range"));
}

TEST(UpdateTest, ArithmeticOnAnythingButNumbersIsAnIncorrectDataType) {
  const json::value wrong("An operand in the update expression has an incorrect data type");
  EXPECT_EQ(Updated("SET e = a + :v", R"({"a": "x"})", R"({":v": 1})"), wrong);
  EXPECT_EQ(Updated("SET e = :v - b", R"({"b": {"$NS": ["1"]}})", R"({":v": 1})"), wrong);
  EXPECT_EQ(Updated("SET e = a + b", R"({"a": 1, "b": [1]})"), wrong);
  const std::string prefix =
      "Invalid UpdateExpression: Incorrect operand type for operator or function; operator or "
      "function: ";
  EXPECT_EQ(UpdateError("set a = a + :a", R"({":a": "a"})"), prefix + "+, operand type: S");
  EXPECT_EQ(UpdateError("set a = :c - a", R"({":c": {"$B": "YQ=="}})"),
            prefix + "-, operand type: B");
  EXPECT_EQ(UpdateError("set a = a - :j", R"({":j": []})"), prefix + "-, operand type: L");
  EXPECT_EQ(UpdateError("set a = a + :i", R"({":i": {}})"), prefix + "+, operand type: M");
}

TEST(UpdateTest, ValuesMayBeParenthesised) {
  const char* item = R"({"b": {"c": {"d": 1}}, "e": 2})";
  EXPECT_EQ(Updated("set a = (b.c.d + e)", item), J(R"({"a": 3, "b": {"c": {"d": 1}}, "e": 2})"));
  EXPECT_EQ(Updated("set a = ((b.c.d)+(e))", item), J(R"({"a": 3, "b": {"c": {"d": 1}}, "e": 2})"));
  EXPECT_EQ(Updated("set a = (e)", item), J(R"({"a": 2, "b": {"c": {"d": 1}}, "e": 2})"));
}

TEST(UpdateTest, IfNotExistsFallsBackOnlyWhenThePathIsMissing) {
  const char* values = R"({":v": 2, ":one": 1})";
  EXPECT_EQ(Updated("SET a = if_not_exists(a, :v)", "{}", values), J(R"({"a": 2})"));
  EXPECT_EQ(Updated("SET a = if_not_exists(a, :v)", R"({"a": "x"})", values), J(R"({"a": "x"})"));
  EXPECT_EQ(Updated("SET b = if_not_exists(c, :v)", R"({"a": 9})", values),
            J(R"({"a": 9, "b": 2})"));
  EXPECT_EQ(Updated("SET b = if_not_exists(a, :v)", R"({"a": 9})", values),
            J(R"({"a": 9, "b": 9})"));
  EXPECT_EQ(Updated("SET b = if_not_exists(b, a)", R"({"a": 9})", values),
            J(R"({"a": 9, "b": 9})"));
  EXPECT_EQ(Updated("SET t = if_not_exists(t, :v) + :one, f = if_not_exists(f, :v)", R"({"t": 5})",
                    values),
            J(R"({"t": 6, "f": 2})"));
  EXPECT_EQ(Updated("SET a = if_not_exists(x.y[2], :v)", R"({"x": {"y": [1, 2, 3]}})", values),
            J(R"({"a": 3, "x": {"y": [1, 2, 3]}})"));
}

TEST(UpdateTest, ListAppendConcatenatesLists) {
  const char* item = R"({"letters": [1, 2, 3], "s": "x"})";
  EXPECT_EQ(Updated("SET letters = list_append(letters, :tail), alt = "
                    "list_append(if_not_exists(alt, :empty), :tail), "
                    "front = list_append(:head, letters)",
                    item, R"({":tail": [9], ":empty": [], ":head": [0]})"),
            J(R"({"letters": [1, 2, 3, 9], "alt": [9], "front": [0, 1, 2, 3], "s": "x"})"));
  EXPECT_EQ(Updated("SET a = list_append(:a, :b)", "{}",
                    R"({":a": [4, "hello"], ":b": [["hi"], {"m": 7}]})"),
            J(R"({"a": [4, "hello", ["hi"], {"m": 7}]})"));
  EXPECT_EQ(Updated("SET a = list_append(letters, s)", item),
            json::value("An operand in the update expression has an incorrect data type"));
  EXPECT_EQ(UpdateError("SET a = list_append(:a, a)", R"({":a": "x"})"),
            "Invalid UpdateExpression: Incorrect operand type for operator or function; operator "
            "or function: "
            "list_append, operand type: S");
  EXPECT_EQ(UpdateError("SET a = list_append(a, :a)", R"({":a": {"$NS": ["1"]}})"),
            "Invalid UpdateExpression: Incorrect operand type for operator or function; operator "
            "or function: "
            "list_append, operand type: NS");
}

TEST(UpdateTest, FunctionsAreCheckedWhenParsed) {
  const std::string prefix = "Invalid UpdateExpression: ";
  EXPECT_EQ(UpdateError("SET a = f(b,c,d)"), prefix + "Invalid function name; function: f");
  EXPECT_EQ(UpdateError("SET a = f123_hi(b)"), prefix + "Invalid function name; function: f123_hi");
  EXPECT_EQ(UpdateError("set a = if_not_exists(c)"),
            prefix +
                "Incorrect number of operands for operator or function; operator or function: "
                "if_not_exists, "
                "number of operands: 1");
  EXPECT_EQ(UpdateError("set a = list_append(c)"),
            prefix +
                "Incorrect number of operands for operator or function; operator or function: "
                "list_append, "
                "number of operands: 1");
  EXPECT_EQ(UpdateError("SET a = list_append(:a, :a, :a)", R"({":a": [1]})"),
            prefix +
                "Incorrect number of operands for operator or function; operator or function: "
                "list_append, "
                "number of operands: 3");
  EXPECT_EQ(
      UpdateError("set a = if_not_exists(:a, c)", R"({":a": 1})"),
      prefix +
          "Operator or function requires a document path; operator or function: if_not_exists");
  EXPECT_EQ(
      UpdateError("set a = if_not_exists(if_not_exists(a, b), c)"),
      prefix +
          "Operator or function requires a document path; operator or function: if_not_exists");
  EXPECT_EQ(UpdateError("SET a = list_append(list_append(:a, :b), :c)",
                        R"({":a": [1], ":b": [2], ":c": [3]})"),
            prefix +
                "The function is not allowed to be used this way in an expression; function: "
                "list_append");
  EXPECT_EQ(
      UpdateError("SET a = size(b)"),
      prefix + "The function is not allowed to be used this way in an expression; function: size");
  EXPECT_EQ(UpdateError("SET a = attribute_exists(b)"),
            prefix +
                "The function is not allowed to be used this way in an expression; function: "
                "attribute_exists");
}

TEST(UpdateTest, SetUnderAMissingOrWrongParentIsAnInvalidPath) {
  const json::value invalid(
      "The document path provided in the update expression is invalid for update");
  const char* item = R"({"s": "a", "m": {"1": "a"}, "l": ["a", "b"]})";
  for (const char* expr :
       {"set nope.child = :a", "set nope[1] = :a", "set s.a = :a", "set s[1] = :a", "set m[1] = :a",
        "set l.#1 = :a", "set l[5].x = :a", "set m.x.y = :a"}) {
    EXPECT_EQ(Updated(expr, item, R"({":a": 1})", R"({"#1": "1"})"), invalid) << expr;
  }
}

// ===== Update: REMOVE =====

TEST(UpdateTest, RemoveDeletesAttributesMembersAndListElements) {
  EXPECT_EQ(Updated("REMOVE #n, info.a, letters[0], letters[2]",
                    R"({"label": "x", "tally": 1, "letters": [1, 2, 3], "info": {"a": 1}})", "{}",
                    R"({"#n": "label"})"),
            J(R"({"tally": 1, "letters": [2], "info": {}})"));
  EXPECT_EQ(Updated("REMOVE a.c[1].x.y[1], a.c[1].q",
                    R"({"a": {"b": 3, "c": ["hi", {"x": {"y": [3, 5, 7]}, "q": 2}]}})"),
            J(R"({"a": {"b": 3, "c": ["hi", {"x": {"y": [3, 7]}}]}})"));
}

TEST(UpdateTest, ListIndexesMeanTheElementsBeforeTheUpdate) {
  const char* item = R"({"a": [2, 3, 4, 5, 6, 7]})";
  EXPECT_EQ(Updated("REMOVE a[1] SET a[3] = :v", item, R"({":v": 17})"),
            J(R"({"a": [2, 4, 17, 6, 7]})"));
  EXPECT_EQ(Updated("SET a[3] = :v REMOVE a[1]", item, R"({":v": 17})"),
            J(R"({"a": [2, 4, 17, 6, 7]})"));
  EXPECT_EQ(Updated("REMOVE a[1], a[0], a[5]", item), J(R"({"a": [4, 5, 6]})"));
  EXPECT_EQ(Updated("REMOVE a[0] SET a[9] = :v", item, R"({":v": 1})"),
            J(R"({"a": [3, 4, 5, 6, 7, 1]})"));
}

TEST(UpdateTest, RemovingSomethingMissingDoesNothingUnlessItsParentIsMissing) {
  const char* item = R"({"a": [4, 5, 6], "m": {"x": 1}, "s": "str"})";
  EXPECT_EQ(Updated("REMOVE a[17], m.y, z", item), J(item));
  const json::value invalid(
      "The document path provided in the update expression is invalid for update");
  for (const char* expr :
       {"REMOVE y.a", "REMOVE y[1]", "REMOVE s.a", "REMOVE s[0]", "REMOVE m[0]", "REMOVE a.x"}) {
    EXPECT_EQ(Updated(expr, item), invalid) << expr;
  }
}

// ===== Update: ADD and DELETE =====

TEST(UpdateTest, AddSumsNumbersCountingAMissingAttributeAsZero) {
  EXPECT_EQ(Updated("ADD #c :five, newCount :five", R"({"tally": 1})", R"({":five": 5})",
                    R"({"#c": "tally"})"),
            J(R"({"tally": 6, "newCount": 5})"));
  EXPECT_EQ(Updated("ADD a :v", R"({"a": {"$N": "0.1"}})", R"({":v": {"$N": "-0.1"}})"),
            J(R"({"a": 0})"));
  EXPECT_EQ(Updated("ADD m.n :v, l[1] :v, l[7] :v", R"({"m": {}, "l": [1, 2]})", R"({":v": 3})"),
            J(R"({"m": {"n": 3}, "l": [1, 5, 3]})"));
}

TEST(UpdateTest, AddUnitesSetsOfOneType) {
  EXPECT_EQ(Updated("ADD tags :more, nums :ns", R"({"tags": {"$SS": ["a", "b"]}})",
                    R"({":more": {"$SS": ["c", "b"]}, ":ns": {"$NS": ["1"]}})"),
            J(R"({"tags": {"$SS": ["a", "b", "c"]}, "nums": {"$NS": ["1"]}})"));
  // Numbers keep numeric order and stay unique however they are written.
  EXPECT_EQ(Updated("ADD n :v", R"({"n": {"$NS": ["10", "2"]}})",
                    R"({":v": {"$NS": ["9", "2.0", "-1"]}})"),
            J(R"({"n": {"$NS": ["-1", "2", "9", "10"]}})"));
  EXPECT_EQ(Updated("ADD b :v", R"({"b": {"$BS": ["AQI=", "Ag=="]}})",
                    R"({":v": {"$BS": ["Ag==", "AQ=="]}})"),
            J(R"({"b": {"$BS": ["AQ==", "AQI=", "Ag=="]}})"));
  // The result equals a set written directly.
  Substitutions subs =
      Subs(R"({":v": {"$NS": ["9", "2.0", "-1"]}, ":w": {"$NS": ["10", "9", "-1", "2"]}})");
  auto u = Update::Parse("ADD n :v", subs);
  auto c = Condition::Parse("n = :w", "ConditionExpression", subs);
  ASSERT_TRUE(u.has_value() && c.has_value());
  Item item = ItemOf(R"({"n": {"$NS": ["10", "2"]}})");
  ASSERT_TRUE(u->Apply(item).ok());
  EXPECT_TRUE(*c->Evaluate(item));
}

TEST(UpdateTest, AddAndDeleteOnAnotherTypeAreIncorrectDataTypes) {
  const json::value wrong("An operand in the update expression has an incorrect data type");
  const char* item = R"({"b": {"$SS": ["1"]}, "c": 1, "d": {"$NS": ["1"]}, "l": [1], "s": "hi"})";
  EXPECT_EQ(Updated("delete d :a", item, R"({":a": {"$SS": ["1"]}})"), wrong);
  EXPECT_EQ(Updated("delete b :a", item, R"({":a": {"$NS": ["1"]}})"), wrong);
  EXPECT_EQ(Updated("delete c :a", item, R"({":a": {"$NS": ["1"]}})"), wrong);
  EXPECT_EQ(Updated("add b :a", item, R"({":a": {"$NS": ["1"]}})"), wrong);
  EXPECT_EQ(Updated("add d :a", item, R"({":a": 1})"), wrong);
  EXPECT_EQ(Updated("add l :a", item, R"({":a": {"$NS": ["1"]}})"), wrong);
  EXPECT_EQ(Updated("add s :a", item, R"({":a": 1})"), wrong);
}

TEST(UpdateTest, AddTakesANumberOrASetAndDeleteASet) {
  const std::string prefix =
      "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: ";
  struct Case {
    const char* expr;
    const char* value;
    const char* message;
  } cases[] = {
      {"add a.b :a", R"("a")", "ADD, operand type: STRING"},
      {"delete a.b :a", R"("a")", "DELETE, operand type: STRING"},
      {"add a.b :a", "null", "ADD, operand type: NULL"},
      {"delete a.b :a", "null", "DELETE, operand type: NULL"},
      {"add a.b :a", "false", "ADD, operand type: BOOLEAN"},
      {"delete a.b :a", "true", "DELETE, operand type: BOOLEAN"},
      {"add a.b :a", R"({"$B": "YQ=="})", "ADD, operand type: BINARY"},
      {"delete a.b :a", R"({"$B": "YQ=="})", "DELETE, operand type: BINARY"},
      {"add a.b :a", R"({"a": [1]})", "ADD, operand type: MAP"},
      {"delete a.b :a", R"({"a": [1]})", "DELETE, operand type: MAP"},
      {"add a.b :a", "[1]", "ADD, operand type: LIST"},
      {"delete a.b :a", "[1]", "DELETE, operand type: LIST"},
      {"delete a.b :a", "1", "DELETE, operand type: NUMBER"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(UpdateError(c.expr, fmt::format(R"({{":a": {}}})", c.value)), prefix + c.message)
        << c.expr << " " << c.value;
  }
}

TEST(UpdateTest, DeleteRemovesSetElementsAndAnEmptiedAttribute) {
  const char* item = R"({"a": {"$SS": ["dog", "cat", "mouse"]}, "b": "hi"})";
  EXPECT_EQ(Updated("DELETE a :v", item, R"({":v": {"$SS": ["cat", "mouse"]}})"),
            J(R"({"a": {"$SS": ["dog"]}, "b": "hi"})"));
  EXPECT_EQ(Updated("DELETE a :v", item, R"({":v": {"$SS": ["pig"]}})"),
            J(R"({"a": {"$SS": ["cat", "dog", "mouse"]}, "b": "hi"})"));
  EXPECT_EQ(Updated("DELETE a :v", item, R"({":v": {"$SS": ["dog", "cat", "mouse", "pig"]}})"),
            J(R"({"b": "hi"})"));
  EXPECT_EQ(Updated("DELETE n :v", R"({"n": {"$NS": ["1", "2", "3"]}})",
                    R"({":v": {"$NS": ["1.0", "4"]}})"),
            J(R"({"n": {"$NS": ["2", "3"]}})"));
  // An emptied set in a list goes like a REMOVE, without disturbing the other indexes.
  EXPECT_EQ(Updated("DELETE l[0] :v SET l[1] = :x", R"({"l": [{"$SS": ["a"]}, 1]})",
                    R"({":v": {"$SS": ["a"]}, ":x": 2})"),
            J(R"({"l": [2]})"));
}

TEST(UpdateTest, DeleteFromAMissingAttributeDoesNothing) {
  EXPECT_EQ(Updated("DELETE a :v", R"({"b": "hi"})", R"({":v": {"$SS": ["dog"]}})"),
            J(R"({"b": "hi"})"));
  EXPECT_EQ(
      Updated("DELETE m.a :v, l[3] :v", R"({"m": {}, "l": []})", R"({":v": {"$SS": ["dog"]}})"),
      J(R"({"m": {}, "l": []})"));
  EXPECT_EQ(
      Updated("DELETE y.a :v", "{}", R"({":v": {"$SS": ["dog"]}})"),
      json::value("The document path provided in the update expression is invalid for update"));
}

TEST(UpdateTest, AllFourSectionsCombine) {
  EXPECT_EQ(Updated("SET a = :a REMOVE info ADD #c :one DELETE tags :t",
                    R"({"info": 1, "tally": 1, "tags": {"$SS": ["a", "b"]}})",
                    R"({":a": 1, ":one": 1, ":t": {"$SS": ["a"]}})", R"({"#c": "tally"})"),
            J(R"({"a": 1, "tally": 2, "tags": {"$SS": ["b"]}})"));
  EXPECT_EQ(
      Updated("ADD #e :e,#d :d DELETE #c :c REMOVE #b SET #f = :f", "{}",
              R"({":c": {"$SS": ["a", "b"]}, ":d": 5, ":e": {"$SS": ["a", "b"]}, ":f": ["a", 1]})",
              R"({"#b": "b", "#c": "c", "#d": "d", "#e": "e", "#f": "f"})"),
      J(R"({"d": 5, "e": {"$SS": ["a", "b"]}, "f": ["a", 1]})"));
}

// ===== Update: structure =====

TEST(UpdateTest, EachSectionAppearsAtMostOnce) {
  const std::string prefix = "Invalid UpdateExpression: The \"";
  const std::string suffix = "\" section can only be used once in an update expression;";
  EXPECT_EQ(UpdateError("set a = #c set c = :d"), prefix + "SET" + suffix);
  EXPECT_EQ(UpdateError("remove #d set a = b remove e"), prefix + "REMOVE" + suffix);
  EXPECT_EQ(UpdateError("add #d :e set a = b add e :f"), prefix + "ADD" + suffix);
  EXPECT_EQ(UpdateError("delete #d :e set a = b delete #e :f"), prefix + "DELETE" + suffix);
}

TEST(UpdateTest, OverlappingPathsAreRefused) {
  const std::string prefix =
      "Invalid UpdateExpression: Two document paths overlap with each other; must remove or "
      "rewrite one of these paths; ";
  const char* names = R"({"#c": "c", "#d": "[3]"})";
  EXPECT_EQ(UpdateError("set d[1] = a, d.b = a, c[1].a = a, #c = if_not_exists(a)", "{}", names),
            prefix + "path one: [c, [1], a], path two: [c]");
  EXPECT_EQ(UpdateError("set c.b.#c = a, c = a", "{}", R"({"#c": "c"})"),
            prefix + "path one: [c, b, c], path two: [c]");
  EXPECT_EQ(UpdateError("set a = b remove a"), prefix + "path one: [a], path two: [a]");
  EXPECT_EQ(UpdateError("set #c[3].#d = a, #c[3] = a", "{}", names),
            prefix + "path one: [c, [3], [3]], path two: [c, [3]]");
  EXPECT_EQ(UpdateError("remove c, #c.a", "{}", R"({"#c": "c"})"),
            prefix + "path one: [c], path two: [c, a]");
  EXPECT_EQ(UpdateError("remove a, b, a"), prefix + "path one: [a], path two: [a]");
  EXPECT_EQ(UpdateError("SET #a1 = :v, #a2 = :v", R"({":v": 1})", R"({"#a1": "a", "#a2": "a"})"),
            prefix + "path one: [a], path two: [a]");
  EXPECT_EQ(UpdateError("ADD a :v DELETE a.b :w", R"({":v": 1, ":w": {"$SS": ["x"]}})"),
            prefix + "path one: [a], path two: [a, b]");
  for (const char* expr : {"SET a[1][1][1][1] = :v, a[1][1] = :v", "SET a.b.c.d.e = :v, a.b = :v",
                           "SET a[1] = :v, a = :v"}) {
    EXPECT_EQ(UpdateError(expr, R"({":v": 1})").find(prefix), 0u) << expr;
  }
  // Siblings and cousins neither overlap nor conflict.
  EXPECT_EQ(UpdateError("SET a.b = :v, a.c.d = :v, b.b = :v, a.d[1][2] = :v, a.d[2] = :v",
                        R"({":v": 1})"),
            "parsed");
}

TEST(UpdateTest, ConflictingPathsAreRefused) {
  const std::string prefix =
      "Invalid UpdateExpression: Two document paths conflict with each other; must remove or "
      "rewrite one of these paths; ";
  EXPECT_EQ(UpdateError("set #c[3].#d = a, #c.#d[3] = if_not_exists(a, b)", "{}",
                        R"({"#c": "c", "#d": "[3]"})"),
            prefix + "path one: [c, [3], [3]], path two: [c, [3], [3]]");
  EXPECT_EQ(UpdateError("remove a.#c set a[1] = #d", "{}", R"({"#c": "c", "#d": "d"})"),
            prefix + "path one: [a, c], path two: [a, [1]]");
  EXPECT_EQ(UpdateError("SET a.b.c = :v, a.b[2] = :v", R"({":v": 1})"),
            prefix + "path one: [a, b, c], path two: [a, b, [2]]");
}

TEST(UpdateTest, ErrorsAreReportedInDynamoDbsOrder) {
  const std::string prefix = "Invalid UpdateExpression: ";
  // A reserved word first; then an unknown function; a repeated section; undefined
  // names; undefined values; overlaps; ADD/DELETE operand types; function operands.
  EXPECT_EQ(UpdateError(" set #c = :c set abOrt = true "),
            prefix + "Attribute name is a reserved keyword; reserved keyword: abOrt");
  EXPECT_EQ(UpdateError("set #c = if_not_exist(:c) set c = d"),
            prefix + "Invalid function name; function: if_not_exist");
  EXPECT_EQ(UpdateError("set a = #c set c = :d"),
            prefix + "The \"SET\" section can only be used once in an update expression;");
  EXPECT_EQ(UpdateError("SET #c = if_not_exists(:c)", R"({":a": 1})", R"({"#a": "a"})"),
            prefix +
                "An expression attribute name used in the document path is not defined; attribute "
                "name: #c");
  EXPECT_EQ(
      UpdateError("SET #a = if_not_exists(:c), a = b", R"({":a": 1})", R"({"#a": "a"})"),
      prefix +
          "An expression attribute value used in expression is not defined; attribute value: :c");
  EXPECT_EQ(UpdateError("set b = list_append(:a, a), c = if_not_exists(a) add a.b :a, b :a",
                        R"({":a": "a"})"),
            prefix +
                "Two document paths overlap with each other; must remove or rewrite one of these "
                "paths; path one: "
                "[b], path two: [b]");
  EXPECT_EQ(
      UpdateError("set b = list_append(:a, a), c = if_not_exists(a) add a.b :a", R"({":a": "a"})"),
      prefix +
          "Incorrect operand type for operator or function; operator: ADD, operand type: STRING");
  EXPECT_EQ(UpdateError("set b = list_append(:a, a), c = if_not_exists(a)", R"({":a": "a"})"),
            prefix +
                "Incorrect operand type for operator or function; operator or function: "
                "list_append, operand type: S");
}

TEST(UpdateTest, AFailedApplyLeavesTheItemUnchanged) {
  Substitutions subs = Subs(R"({":v": 1})");
  auto u = Update::Parse("SET a = :v, b.c = :v REMOVE d", subs);
  ASSERT_TRUE(u.has_value());
  Item item = ItemOf(R"({"b": "not a map", "d": 1})");
  const Item before = item;
  EXPECT_EQ(u->Apply(item).message(),
            "The document path provided in the update expression is invalid for update");
  EXPECT_EQ(item, before);
}

TEST(UpdateTest, TopLevelNamesListsEveryAttributeWrittenOrRemoved) {
  Substitutions subs = Subs(R"({":v": 1, ":s": {"$SS": ["x"]}})", R"({"#k": "key"})");
  auto u = Update::Parse("SET a.b = c, #k = :v REMOVE d[1] ADD e :v DELETE f.g :s", subs);
  ASSERT_TRUE(u.has_value()) << u.error().message();
  EXPECT_EQ(u->TopLevelNames(), (std::set<std::string>{"a", "key", "d", "e", "f"}));
  Update moved = std::move(*u);
  Update assigned;
  assigned = std::move(moved);
  EXPECT_EQ(assigned.TopLevelNames().size(), 5u);
}

// ===== Projection =====

TEST(ProjectionTest, KeepsTheNestedStructureOfWhatItSelects) {
  const char* item =
      R"({"p": "k", "a": {"b": [2, 4, {"x": "hi", "y": "yo"}], "c": 5}, "b": "hello"})";
  EXPECT_EQ(Projected("a", item), J(R"({"a": {"b": [2, 4, {"x": "hi", "y": "yo"}], "c": 5}})"));
  EXPECT_EQ(Projected("a.b", item), J(R"({"a": {"b": [2, 4, {"x": "hi", "y": "yo"}]}})"));
  EXPECT_EQ(Projected("a.b[0]", item), J(R"({"a": {"b": [2]}})"));
  EXPECT_EQ(Projected("a.b[2].y", item), J(R"({"a": {"b": [{"y": "yo"}]}})"));
  EXPECT_EQ(Projected("a.c,b", item), J(R"({"a": {"c": 5}, "b": "hello"})"));
  EXPECT_EQ(Projected(" p , b ", item), J(R"({"p": "k", "b": "hello"})"));
  EXPECT_EQ(Projected("a.b[0],a.c", item), J(R"({"a": {"b": [2], "c": 5}})"));
}

TEST(ProjectionTest, SelectedListElementsAreCompactedInIndexOrder) {
  const char* item = R"({"l": ["a", "b", "c", "d", {"x": 1, "y": 2}]})";
  EXPECT_EQ(Projected("l[3], l[1]", item), J(R"({"l": ["b", "d"]})"));
  EXPECT_EQ(Projected("l[4].y, l[0], l[9]", item), J(R"({"l": ["a", {"y": 2}]})"));
}

TEST(ProjectionTest, PathsTheItemLacksAreSkipped) {
  const char* item = R"({"a": {"b": [2, 4, {"x": "hi"}], "c": 5}})";
  for (const char* expr :
       {"x", "a.b[3]", "a.x", "a.x.y", "a.b[3].x", "a.b.x", "a[0]", "a.b[0].x", "a.b[0][0]"}) {
    EXPECT_EQ(Projected(expr, item), J("{}")) << expr;
  }
  EXPECT_EQ(Projected("a.x, a.b[0], x, a.b[3].x", item), J(R"({"a": {"b": [2]}})"));
  EXPECT_EQ(Projected("a", "{}"), J("{}"));
}

TEST(ProjectionTest, PlaceholdersNameOneAttributeEach) {
  const char* item = R"({"a.b": "hi", "a": {"b": "yo", "c": "jo"}})";
  EXPECT_EQ(Projected("a.b", item), J(R"({"a": {"b": "yo"}})"));
  EXPECT_EQ(Projected("#name", item, R"({"#name": "a.b"})"), J(R"({"a.b": "hi"})"));
  EXPECT_EQ(Projected("#n1.#n2", item, R"({"#n1": "a", "#n2": "c"})"), J(R"({"a": {"c": "jo"}})"));
  EXPECT_EQ(ProjectionError("a.#n2"),
            "Invalid ProjectionExpression: An expression attribute name used in the document path "
            "is not defined; "
            "attribute name: #n2");
}

TEST(ProjectionTest, OverlappingAndConflictingPathsAreRefused) {
  for (const char* expr :
       {"a, a", "a.b, a.b", "a[1], a[1]", "a, a.b", "a.b, a", "a.b, a.b[2]", "a.b, a.b.c",
        "a, a.b[2].c", "a.b.d, a.b", "a.b.d.e, a.b", "a.b, a.b.d", "a.b, a.b.d.e"}) {
    EXPECT_EQ(ProjectionError(expr).find(
                  "Invalid ProjectionExpression: Two document paths overlap with each other; "),
              0u)
        << expr;
  }
  EXPECT_EQ(ProjectionError("a.b[0],a.b[0]"),
            "Invalid ProjectionExpression: Two document paths overlap with each other; must remove "
            "or rewrite one of "
            "these paths; path one: [a, b, [0]], path two: [a, b, [0]]");
  EXPECT_EQ(ProjectionError("a.b, a[1]"),
            "Invalid ProjectionExpression: Two document paths conflict with each other; must "
            "remove or rewrite one of "
            "these paths; path one: [a, b], path two: [a, [1]]");
  for (const char* expr : {"a, b", "a.b, a.c", "a.b.d, a.b.e", "a[1], a[2]", "a.b, a.c[2]"}) {
    EXPECT_EQ(ProjectionError(expr), "parsed") << expr;
  }
}

}  // namespace
}  // namespace nimbus::dynamodb
