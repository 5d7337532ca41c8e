// dynamodb expressions: DynamoDB's expression language (condition, filter, key
// condition, update and projection expressions) parsed once per request, with
// ExpressionAttributeNames (#n) and ExpressionAttributeValues (:v) substituted,
// and evaluated against items.
//
// Grammar (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.html):
//   condition  := operand comparator operand | operand BETWEEN operand AND operand
//               | operand IN ( operand, ... ) | function | condition AND condition
//               | condition OR condition | NOT condition | ( condition )
//   comparator := = | <> | < | <= | > | >=
//   function   := attribute_exists(path) | attribute_not_exists(path)
//               | attribute_type(path, :type) | begins_with(path, operand)
//               | contains(path, operand) | size(path) (an operand)
//   path       := name ( .name | [index] )*     (names may be #placeholders)
//   update     := SET a = value, ... | REMOVE path, ... | ADD path :v, ... | DELETE path :v, ...
//   value      := operand | operand + operand | operand - operand
//               | if_not_exists(path, value) | list_append(value, value)
// Keywords are case-insensitive, function names case-sensitive (as in DynamoDB);
// precedence: comparisons, BETWEEN, IN > NOT > AND > OR.
//
// Errors are kInvalidArgument carrying DynamoDB's ValidationException message, e.g.
//   "Invalid ConditionExpression: Syntax error; token: \"=\", near: \"= = b\""
//   "Value provided in ExpressionAttributeValues unused in expressions: keys: {:x}"
//   "An expression attribute name used in the document path is not defined; attribute name: #n"
//   "The provided expression refers to an attribute that does not exist in the item"
// Value types; thread-compatible.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "dynamodb/value.h"

namespace nimbus::dynamodb {

// One step of a document path: a map member or a list element.
struct PathElement {
  std::string name;  // set for a member
  int index = -1;    // >= 0 for a list element
  friend bool operator==(const PathElement&, const PathElement&) = default;
};
using Path = std::vector<PathElement>;

// "a.b[2].c" (for messages).
std::string PathToString(const Path& path);
// The value at `path` in `item`, or nullptr when any step is missing.
const Value* Resolve(const Item& item, const Path& path);

// The ExpressionAttributeNames and ExpressionAttributeValues of one request, and
// which of them the request's expressions used: DynamoDB refuses unused ones.
class Substitutions {
 public:
  Substitutions() = default;
  Substitutions(std::map<std::string, std::string> names, std::map<std::string, Value> values);
  // kInvalidArgument naming the first unused name, then value, as DynamoDB does.
  // Call after parsing every expression of the request.
  Status CheckAllUsed() const;

  // For the parser: the value of #name / :value, marking it used.
  Result<std::string> Name(const std::string& placeholder);
  Result<Value> ValueOf(const std::string& placeholder);

 private:
  std::map<std::string, std::string> names_;
  std::map<std::string, Value> values_;
  std::set<std::string> used_names_, used_values_;
};

// A parsed condition or filter expression.
class Condition {
 public:
  struct Node;
  Condition();
  ~Condition();
  Condition(Condition&&) noexcept;
  Condition& operator=(Condition&&) noexcept;

  // `kind` names the parameter in messages: "ConditionExpression", "FilterExpression".
  static Result<Condition> Parse(std::string_view text, std::string_view kind, Substitutions& subs);
  // True when `item` satisfies it (a missing item is the empty item). kInvalidArgument
  // for evaluation errors DynamoDB reports (e.g. an operand of size() that has no size
  // is simply false, not an error; see the AWS docs).
  // A default-constructed Condition holds for every item.
  Result<bool> Evaluate(const Item& item) const;
  // The top-level attribute names the condition reads (a Query's FilterExpression
  // may not name key attributes).
  std::set<std::string> TopLevelNames() const;

 private:
  std::unique_ptr<Node> root_;
};

// A parsed KeyConditionExpression against a table's or index's key schema.
struct KeyCondition {
  std::string hash_name;
  Value hash_value;
  // The condition on the range key, if any.
  enum class Op { kNone, kEq, kLt, kLe, kGt, kGe, kBetween, kBeginsWith };
  Op op = Op::kNone;
  std::string range_name;
  Value low, high;  // low: the operand; high: BETWEEN's upper bound

  // Parses `text`: "hash = :v [AND range <op> :w | range BETWEEN :a AND :b |
  // begins_with(range, :p)]", either order. Errors as DynamoDB gives them, e.g.
  // "Query condition missed key schema element: id", "Query key condition not
  // supported". `range_name` is empty for a hash-only schema.
  static Result<KeyCondition> Parse(std::string_view text, const std::string& hash_name,
                                    const std::string& range_name, Substitutions& subs);
  // Whether `range` (the item's range key value) satisfies the range condition.
  bool RangeMatches(const Value& range) const;
};

// A parsed UpdateExpression.
class Update {
 public:
  struct Action;
  Update();
  ~Update();
  Update(Update&&) noexcept;
  Update& operator=(Update&&) noexcept;

  static Result<Update> Parse(std::string_view text, Substitutions& subs);
  // Applies every action to `item` (in DynamoDB's order: the values are computed
  // from the item as it was before the update). Errors as DynamoDB gives them, e.g.
  // "An operand in the update expression has an incorrect data type",
  // "The document path provided in the update expression is invalid for update",
  // "Two document paths overlap with each other; must remove or rewrite one of
  // these paths; path one: [a], path two: [a, b]" (reported by Parse).
  Status Apply(Item& item) const;
  // The top-level attribute names the update writes or removes (to refuse key updates:
  // "Cannot update attribute id. This attribute is part of the key").
  std::set<std::string> TopLevelNames() const;
  // The document paths the update writes or removes, in the expression's order
  // (ReturnValues UPDATED_OLD / UPDATED_NEW return what is at them).
  std::vector<Path> Paths() const;

 private:
  std::vector<Action> actions_;
};

// A parsed ProjectionExpression.
struct Projection {
  std::vector<Path> paths;
  static Result<Projection> Parse(std::string_view text, Substitutions& subs);
  // The parts of `item` the paths select (list elements selected by index keep
  // their order, compacted, as DynamoDB returns them).
  Item Apply(const Item& item) const;
};

}  // namespace nimbus::dynamodb
