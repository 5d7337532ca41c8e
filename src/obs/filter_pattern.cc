#include "obs/filter_pattern.h"

#include <fmt/format.h>

#include <boost/json.hpp>
#include <cctype>
#include <charconv>
#include <optional>
#include <regex>
#include <string>
#include <vector>

namespace nimbus::obs {
namespace {

namespace json = boost::json;

// AWS allows two regular expressions in one filter pattern, of 1024 characters at most.
constexpr int kMaxRegexes = 2;
constexpr size_t kMaxPatternLength = 1024;

Status Invalid(std::string_view why) {
  return InvalidArgument(fmt::format("Invalid filter pattern: {}", why));
}

bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// The whole of `s` as a number ("12", "-1.5", "+3", "1e3"), or nullopt.
std::optional<double> ParseNumber(std::string_view s) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty()) return std::nullopt;
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// Case-sensitive match of all of `text` against `pattern`, where '*' matches
// any run of characters (the classic two-pointer glob with one backtrack point).
bool WildcardMatch(std::string_view pattern, std::string_view text) {
  size_t p = 0, t = 0, star = std::string_view::npos, resume = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = t;
    } else if (p < pattern.size() && pattern[p] == text[t]) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

// A regular expression of a pattern is compiled by CompileRegex as a whole-text
// match, "[\s\S]*(?:<regex>)[\s\S]*", for libstdc++'s breadth-first executor
// (the `__polynomial` flag, a libstdc++ extension): time linear in the message
// for a given pattern, and no recursion per character. The default depth-first
// executor, with regex_search, recursed once per character of the message (a
// 50 KB message overflowed the stack: found by fuzz/filter_pattern_fuzz) and
// backtracks exponentially on patterns such as a*a*a*a*b.
std::shared_ptr<const std::regex> CompileRegex(std::string_view body) {
  return std::make_shared<const std::regex>(
      "[\\s\\S]*(?:" + std::string(body) + ")[\\s\\S]*",
      std::regex::ECMAScript | std::regex_constants::__polynomial);
}

bool RegexSearch(const std::regex& re, std::string_view text) {
  try {
    return std::regex_match(text.begin(), text.end(), re);
  } catch (const std::regex_error&) {
    return false;  // too complex for this input: no match rather than a failed request
  }
}

// The most one {m,n} may repeat, and all of a regular expression's repetitions
// together: each repetition is a copy of its atom in the automaton, and matching
// costs time proportional to the message length times the automaton's size.
constexpr int kMaxRegexRepetition = 1000;

// Why `body` (of allowed characters only) cannot be compiled safely, or "":
// back-references (there are no groups to refer to, and libstdc++ overflows on
// a long reference number) and repetition counts above kMaxRegexRepetition.
std::string UnsafeRegex(std::string_view body) {
  int repetitions = 0;
  for (size_t i = 0; i < body.size(); ++i) {
    char c = body[i];
    if (c == '\\') {
      if (i + 1 < body.size() && std::isdigit(static_cast<unsigned char>(body[i + 1]))) {
        return "back-references are not supported";
      }
      ++i;
    } else if (c == '[') {
      // A class: its characters are literal up to the closing ']'.
      for (++i; i < body.size() && body[i] != ']'; ++i) {
        if (body[i] == '\\') ++i;
      }
    } else if (c == '{') {
      for (++i; i < body.size() && body[i] != '}'; ++i) {
        if (!std::isdigit(static_cast<unsigned char>(body[i]))) continue;
        int n = 0;
        for (; i < body.size() && std::isdigit(static_cast<unsigned char>(body[i])); ++i) {
          n = n * 10 + (body[i] - '0');
          if (n > kMaxRegexRepetition) return "a repetition count above 1000";
        }
        repetitions += n;
        --i;
      }
      if (repetitions > kMaxRegexRepetition) return "repetition counts adding up to more than 1000";
    }
  }
  return "";
}

// A term of an unstructured pattern: a literal found as a substring, or a regex.
struct Term {
  std::string literal;
  std::shared_ptr<const std::regex> regex;
  bool FoundIn(std::string_view message) const {
    if (regex) return RegexSearch(*regex, message);
    return message.find(literal) != std::string_view::npos;
  }
};

struct TextPattern {
  std::vector<Term> required;
  std::vector<std::vector<Term>> alternatives;  // each: all of its terms
  std::vector<Term> excluded;
};

enum class Op { kEq, kNe, kLt, kLe, kGt, kGe, kIsTrue, kIsFalse, kIsNull, kNotExists };

// The right-hand side of a comparison.
struct Operand {
  enum class Kind { kString, kNumber, kRegex } kind = Kind::kString;
  std::string text;  // kString: may hold '*' wildcards; kNumber: as written
  double number = 0;
  std::shared_ptr<const std::regex> regex;
};

struct PathStep {
  bool is_index = false;
  std::string key;
  size_t index = 0;
};

struct Comparison {
  std::vector<PathStep> path;  // JSON patterns
  std::string field;           // space-delimited patterns
  Op op = Op::kEq;
  Operand value;
};

struct Expr {
  enum class Kind { kCompare, kAnd, kOr } kind = Kind::kCompare;
  Comparison compare;
  std::vector<Expr> children;
};

struct DelimitedField {
  bool ellipsis = false;
  std::string name;
  std::optional<Expr> condition;  // refers to this field only
};

// The left side of a comparison as found in an event.
struct Subject {
  enum class Type { kMissing, kNull, kBool, kNumber, kString, kStructure };
  Type type = Type::kMissing;
  bool boolean = false;
  double number = 0;
  std::string_view text;  // kString, and kNumber's text
  // Space-delimited columns are text that numeric comparisons read as numbers.
  bool numeric_text = false;
};

bool Equals(const Subject& s, const Operand& v) {
  switch (v.kind) {
    case Operand::Kind::kNumber:
      if (s.type == Subject::Type::kNumber) return s.number == v.number;
      if (s.type == Subject::Type::kString) {
        if (s.numeric_text) {
          if (auto n = ParseNumber(s.text)) return *n == v.number;
        }
        return s.text == v.text;
      }
      return false;
    case Operand::Kind::kString:
      switch (s.type) {
        case Subject::Type::kBool:
          return WildcardMatch(v.text, s.boolean ? "true" : "false");
        case Subject::Type::kNumber:
        case Subject::Type::kString:
          return WildcardMatch(v.text, s.text);
        case Subject::Type::kStructure:
          return v.text == "*";
        default:
          return false;
      }
    case Operand::Kind::kRegex:
      if (s.type != Subject::Type::kString && s.type != Subject::Type::kNumber) return false;
      return RegexSearch(*v.regex, s.text);
  }
  return false;
}

bool Compare(const Subject& s, Op op, const Operand& v) {
  const bool exists = s.type != Subject::Type::kMissing;
  switch (op) {
    case Op::kNotExists:
      return !exists;
    case Op::kIsNull:
      return s.type == Subject::Type::kNull;
    case Op::kIsTrue:
      return s.type == Subject::Type::kBool && s.boolean;
    case Op::kIsFalse:
      return s.type == Subject::Type::kBool && !s.boolean;
    case Op::kEq:
      return exists && Equals(s, v);
    case Op::kNe:
      return exists && !Equals(s, v);
    default:
      break;
  }
  std::optional<double> n;
  if (s.type == Subject::Type::kNumber)
    n = s.number;
  else if (s.type == Subject::Type::kString && s.numeric_text)
    n = ParseNumber(s.text);
  if (!n) return false;
  switch (op) {
    case Op::kLt:
      return *n < v.number;
    case Op::kLe:
      return *n <= v.number;
    case Op::kGt:
      return *n > v.number;
    case Op::kGe:
      return *n >= v.number;
    default:
      return false;
  }
}

template <typename Lookup>
bool Evaluate(const Expr& e, const Lookup& lookup) {
  switch (e.kind) {
    case Expr::Kind::kCompare:
      return Compare(lookup(e.compare), e.compare.op, e.compare.value);
    case Expr::Kind::kAnd:
      for (const auto& c : e.children) {
        if (!Evaluate(c, lookup)) return false;
      }
      return true;
    case Expr::Kind::kOr:
      for (const auto& c : e.children) {
        if (Evaluate(c, lookup)) return true;
      }
      return false;
  }
  return false;
}

// Splits a space-delimited message into columns (see filter_pattern.h).
std::vector<std::string_view> SplitColumns(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    if (IsBlank(s[i])) {
      ++i;
      continue;
    }
    char close = s[i] == '"' ? '"' : s[i] == '[' ? ']' : 0;
    if (close != 0) {
      size_t end = s.find(close, i + 1);
      if (end != std::string_view::npos) {
        out.push_back(s.substr(i + 1, end - i - 1));
        i = end + 1;
        continue;
      }
    }
    size_t end = i;
    while (end < s.size() && !IsBlank(s[end])) ++end;
    out.push_back(s.substr(i, end - i));
    i = end;
  }
  return out;
}

// Recursive-descent parser over the pattern text.
class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}

  Result<TextPattern> ParseText() {
    TextPattern p;
    while (SkipBlanks(), i_ < s_.size()) {
      bool alternative = false, exclusion = false;
      if (s_[i_] == '?') {
        alternative = true;
        ++i_;
      } else if (s_[i_] == '-') {
        exclusion = true;
        ++i_;
      }
      if ((alternative || exclusion) && (i_ == s_.size() || IsBlank(s_[i_]))) {
        return Invalid(fmt::format("'{}' must be followed by a term", alternative ? '?' : '-'));
      }
      if (alternative && (s_[i_] == '?' || s_[i_] == '-')) {
        return Invalid("'?' and '-' cannot both prefix a term");
      }
      Term term;
      bool blank_phrase = false;
      if (s_[i_] == '"') {
        NIMBUS_ASSIGN_OR_RETURN(term.literal, Quoted());
        blank_phrase = term.literal.find_first_not_of(" \t") == std::string::npos;
      } else if (s_[i_] == '%') {
        NIMBUS_ASSIGN_OR_RETURN(term.regex, Regex());
      } else {
        size_t end = i_;
        while (end < s_.size() && !IsBlank(s_[end])) ++end;
        term.literal = std::string(s_.substr(i_, end - i_));
        i_ = end;
      }
      if (blank_phrase) {
        // "" and " " match every event (AWS's "match everything" example).
        if (exclusion) return Invalid("an excluded phrase cannot be blank");
        if (alternative) p.alternatives.emplace_back();
        continue;
      }
      if (exclusion) {
        p.excluded.push_back(std::move(term));
      } else if (alternative) {
        p.alternatives.push_back({std::move(term)});
      } else if (!p.alternatives.empty()) {
        p.alternatives.back().push_back(std::move(term));
      } else {
        p.required.push_back(std::move(term));
      }
    }
    return p;
  }

  Result<Expr> ParseJson() {
    SkipBlanks();
    if (!Eat("{")) return Invalid("a JSON pattern starts with '{'");
    NIMBUS_ASSIGN_OR_RETURN(Expr e, Or(/*json=*/true));
    SkipBlanks();
    if (!Eat("}")) return Unexpected("'}', '&&' or '||'");
    NIMBUS_RETURN_IF_ERROR(ExpectEnd());
    return e;
  }

  Result<std::vector<DelimitedField>> ParseDelimited() {
    SkipBlanks();
    if (!Eat("[")) return Invalid("a space-delimited pattern starts with '['");
    std::vector<DelimitedField> fields;
    for (;;) {
      SkipBlanks();
      DelimitedField f;
      if (Eat("...")) {
        f.ellipsis = true;
      } else {
        size_t start = i_;
        f.name = Name();
        if (f.name.empty()) return Unexpected("a field name or '...'");
        SkipBlanks();
        if (i_ < s_.size() && s_[i_] != ',' && s_[i_] != ']') {
          i_ = start;  // the condition starts with the field's own name
          NIMBUS_ASSIGN_OR_RETURN(Expr cond, Or(/*json=*/false));
          NIMBUS_RETURN_IF_ERROR(OnlyNames(cond, f.name));
          f.condition = std::move(cond);
        }
      }
      fields.push_back(std::move(f));
      SkipBlanks();
      if (Eat(",")) continue;
      if (Eat("]")) break;
      return Unexpected("',' or ']'");
    }
    NIMBUS_RETURN_IF_ERROR(ExpectEnd());
    return fields;
  }

 private:
  void SkipBlanks() {
    while (i_ < s_.size() && IsBlank(s_[i_])) ++i_;
  }
  bool Eat(std::string_view token) {
    if (s_.substr(i_, token.size()) != token) return false;
    i_ += token.size();
    return true;
  }
  // Eats `word` only if it is not the start of a longer word.
  bool EatWord(std::string_view word) {
    if (s_.substr(i_, word.size()) != word) return false;
    size_t after = i_ + word.size();
    if (after < s_.size() &&
        (std::isalnum(static_cast<unsigned char>(s_[after])) || s_[after] == '_')) {
      return false;
    }
    i_ = after;
    return true;
  }
  Status Unexpected(std::string_view wanted) {
    if (i_ >= s_.size()) return Invalid(fmt::format("expected {} at the end", wanted));
    return Invalid(fmt::format("expected {} at offset {}, found {:?}", wanted, i_,
                               std::string(s_.substr(i_, 10))));
  }
  Status ExpectEnd() {
    SkipBlanks();
    if (i_ != s_.size()) return Unexpected("the end of the pattern");
    return Status::Ok();
  }

  // "..." with \" and \\ escapes; i_ is on the opening quote.
  Result<std::string> Quoted() {
    std::string out;
    for (size_t j = i_ + 1; j < s_.size(); ++j) {
      char c = s_[j];
      if (c == '"') {
        i_ = j + 1;
        return out;
      }
      if (c == '\\' && j + 1 < s_.size() && (s_[j + 1] == '"' || s_[j + 1] == '\\')) c = s_[++j];
      out.push_back(c);
    }
    return Invalid(fmt::format("unterminated quote at offset {}", i_));
  }

  // %regex%; i_ is on the opening '%'.
  Result<std::shared_ptr<const std::regex>> Regex() {
    size_t end = s_.find('%', i_ + 1);
    if (end == std::string_view::npos) {
      return Invalid(fmt::format("unterminated regular expression at offset {}", i_));
    }
    std::string_view body = s_.substr(i_ + 1, end - i_ - 1);
    if (body.empty()) return Invalid("empty regular expression");
    constexpr std::string_view kAllowed = ":_#=@/;,-^$?[]{}|\\*+.";
    for (char c : body) {
      if (!std::isalnum(static_cast<unsigned char>(c)) &&
          kAllowed.find(c) == std::string_view::npos) {
        return Invalid(
            fmt::format("{:?} is not allowed in a regular expression", std::string(1, c)));
      }
    }
    if (++regexes_ > kMaxRegexes) {
      return Invalid(fmt::format("at most {} regular expressions are allowed", kMaxRegexes));
    }
    if (std::string why = UnsafeRegex(body); !why.empty()) {
      return Invalid(fmt::format("{} in a regular expression", why));
    }
    try {
      auto re = CompileRegex(body);
      i_ = end + 1;
      return re;
    } catch (const std::regex_error&) {
      return Invalid(fmt::format("bad regular expression {:?}", std::string(body)));
    }
  }

  // A space-delimited field name: [A-Za-z0-9_-]+.
  std::string Name() {
    size_t start = i_;
    while (i_ < s_.size() &&
           (std::isalnum(static_cast<unsigned char>(s_[i_])) || s_[i_] == '_' || s_[i_] == '-')) {
      ++i_;
    }
    return std::string(s_.substr(start, i_ - start));
  }

  // $ then .member or [index] steps.
  Result<std::vector<PathStep>> Selector() {
    if (!Eat("$")) return Unexpected("a selector such as $.field");
    std::vector<PathStep> path;
    for (;;) {
      if (Eat(".")) {
        size_t start = i_;
        while (i_ < s_.size() && !IsBlank(s_[i_]) &&
               std::string_view(".[]()=!<>&|}\"%").find(s_[i_]) == std::string_view::npos) {
          ++i_;
        }
        if (i_ == start) return Unexpected("a member name after '.'");
        path.push_back(PathStep{false, std::string(s_.substr(start, i_ - start)), 0});
      } else if (Eat("[")) {
        size_t start = i_;
        while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) ++i_;
        size_t index = 0;
        auto [p, ec] = std::from_chars(s_.data() + start, s_.data() + i_, index);
        if (i_ == start || ec != std::errc() || !Eat("]")) return Unexpected("an array index [n]");
        path.push_back(PathStep{true, "", index});
      } else {
        return path;
      }
    }
  }

  Result<Operand> Value() {
    SkipBlanks();
    Operand v;
    if (i_ < s_.size() && s_[i_] == '"') {
      NIMBUS_ASSIGN_OR_RETURN(v.text, Quoted());
      return v;
    }
    if (i_ < s_.size() && s_[i_] == '%') {
      v.kind = Operand::Kind::kRegex;
      NIMBUS_ASSIGN_OR_RETURN(v.regex, Regex());
      return v;
    }
    size_t start = i_;
    while (i_ < s_.size() && !IsBlank(s_[i_]) &&
           std::string_view("()&|,]}\"").find(s_[i_]) == std::string_view::npos) {
      ++i_;
    }
    if (i_ == start) return Unexpected("a value");
    v.text = std::string(s_.substr(start, i_ - start));
    if (auto n = ParseNumber(v.text)) {
      v.kind = Operand::Kind::kNumber;
      v.number = *n;
    }
    return v;
  }

  Result<Expr> ParseComparison(bool json) {
    Expr e;
    SkipBlanks();
    if (json) {
      NIMBUS_ASSIGN_OR_RETURN(e.compare.path, Selector());
    } else {
      e.compare.field = Name();
      if (e.compare.field.empty()) return Unexpected("a field name");
    }
    SkipBlanks();
    if (json && EatWord("IS")) {
      SkipBlanks();
      if (EatWord("TRUE"))
        e.compare.op = Op::kIsTrue;
      else if (EatWord("FALSE"))
        e.compare.op = Op::kIsFalse;
      else if (EatWord("NULL"))
        e.compare.op = Op::kIsNull;
      else
        return Unexpected("TRUE, FALSE or NULL after IS");
      return e;
    }
    if (json && EatWord("NOT")) {
      SkipBlanks();
      if (!EatWord("EXISTS")) return Unexpected("EXISTS after NOT");
      e.compare.op = Op::kNotExists;
      return e;
    }
    if (Eat("!="))
      e.compare.op = Op::kNe;
    else if (Eat("<="))
      e.compare.op = Op::kLe;
    else if (Eat(">="))
      e.compare.op = Op::kGe;
    else if (Eat("="))
      e.compare.op = Op::kEq;
    else if (Eat("<"))
      e.compare.op = Op::kLt;
    else if (Eat(">"))
      e.compare.op = Op::kGt;
    else
      return Unexpected(json ? "=, !=, <, <=, >, >=, IS or NOT EXISTS" : "=, !=, <, <=, > or >=");
    if (i_ < s_.size() && s_[i_] == '=') return Unexpected("a value ('==' is not an operator)");
    NIMBUS_ASSIGN_OR_RETURN(e.compare.value, Value());
    bool ordering = e.compare.op != Op::kEq && e.compare.op != Op::kNe;
    if (ordering && e.compare.value.kind != Operand::Kind::kNumber) {
      return Invalid(fmt::format("{:?} is not a number; <, <=, > and >= compare numbers",
                                 e.compare.value.text));
    }
    return e;
  }

  Result<Expr> Unary(bool json) {
    SkipBlanks();
    if (Eat("(")) {
      NIMBUS_ASSIGN_OR_RETURN(Expr e, Or(json));
      SkipBlanks();
      if (!Eat(")")) return Unexpected("')'");
      return e;
    }
    return ParseComparison(json);
  }

  Result<Expr> And(bool json) {
    NIMBUS_ASSIGN_OR_RETURN(Expr first, Unary(json));
    Expr all;
    all.kind = Expr::Kind::kAnd;
    all.children.push_back(std::move(first));
    while (SkipBlanks(), Eat("&&")) {
      NIMBUS_ASSIGN_OR_RETURN(Expr next, Unary(json));
      all.children.push_back(std::move(next));
    }
    if (all.children.size() == 1) return std::move(all.children[0]);
    return all;
  }

  Result<Expr> Or(bool json) {
    NIMBUS_ASSIGN_OR_RETURN(Expr first, And(json));
    Expr any;
    any.kind = Expr::Kind::kOr;
    any.children.push_back(std::move(first));
    while (SkipBlanks(), Eat("||")) {
      NIMBUS_ASSIGN_OR_RETURN(Expr next, And(json));
      any.children.push_back(std::move(next));
    }
    if (any.children.size() == 1) return std::move(any.children[0]);
    return any;
  }

  static Status OnlyNames(const Expr& e, const std::string& name) {
    if (e.kind == Expr::Kind::kCompare) {
      if (e.compare.field != name) {
        return Invalid(
            fmt::format("the condition of field {} refers to field {}", name, e.compare.field));
      }
      return Status::Ok();
    }
    for (const auto& c : e.children) NIMBUS_RETURN_IF_ERROR(OnlyNames(c, name));
    return Status::Ok();
  }

  std::string_view s_;
  size_t i_ = 0;
  int regexes_ = 0;
};

Subject FromJson(const json::value* v, std::string& scratch) {
  Subject s;
  if (v == nullptr) return s;
  switch (v->kind()) {
    case json::kind::null:
      s.type = Subject::Type::kNull;
      break;
    case json::kind::bool_:
      s.type = Subject::Type::kBool;
      s.boolean = v->get_bool();
      break;
    case json::kind::int64:
      s.type = Subject::Type::kNumber;
      s.number = static_cast<double>(v->get_int64());
      scratch = std::to_string(v->get_int64());
      s.text = scratch;
      break;
    case json::kind::uint64:
      s.type = Subject::Type::kNumber;
      s.number = static_cast<double>(v->get_uint64());
      scratch = std::to_string(v->get_uint64());
      s.text = scratch;
      break;
    case json::kind::double_:
      s.type = Subject::Type::kNumber;
      s.number = v->get_double();
      scratch = fmt::format("{}", v->get_double());
      s.text = scratch;
      break;
    case json::kind::string:
      s.type = Subject::Type::kString;
      s.text = std::string_view(v->get_string().data(), v->get_string().size());
      break;
    default:
      s.type = Subject::Type::kStructure;
      break;
  }
  return s;
}

const json::value* Resolve(const json::value& root, const std::vector<PathStep>& path) {
  const json::value* v = &root;
  for (const auto& step : path) {
    if (step.is_index) {
      const json::array* a = v->if_array();
      if (a == nullptr || step.index >= a->size()) return nullptr;
      v = &(*a)[step.index];
    } else {
      const json::object* o = v->if_object();
      if (o == nullptr) return nullptr;
      v = o->if_contains(step.key);
      if (v == nullptr) return nullptr;
    }
  }
  return v;
}

}  // namespace

struct FilterPattern::Node {
  enum class Kind { kText, kJson, kDelimited } kind = Kind::kText;
  TextPattern text;
  Expr json;
  std::vector<DelimitedField> fields;

  bool MatchesText(std::string_view m) const {
    for (const auto& t : text.excluded) {
      if (t.FoundIn(m)) return false;
    }
    for (const auto& t : text.required) {
      if (!t.FoundIn(m)) return false;
    }
    if (text.alternatives.empty()) return true;
    for (const auto& group : text.alternatives) {
      bool all = true;
      for (const auto& t : group) {
        if (!t.FoundIn(m)) {
          all = false;
          break;
        }
      }
      if (all) return true;
    }
    return false;
  }

  bool MatchesJson(std::string_view m) const {
    size_t b = 0, e = m.size();
    while (b < e && IsBlank(m[b])) ++b;
    while (e > b && IsBlank(m[e - 1])) --e;
    if (b == e || (m[b] != '{' && m[b] != '[')) return false;
    boost::system::error_code ec;
    json::value doc = json::parse(m.substr(b, e - b), ec);
    if (ec) return false;
    std::string scratch;
    return Evaluate(json,
                    [&](const Comparison& c) { return FromJson(Resolve(doc, c.path), scratch); });
  }

  bool MatchesDelimited(std::string_view m) const {
    std::vector<std::string_view> columns = SplitColumns(m);
    const size_t nf = fields.size(), nc = columns.size();
    // failed[f * (nc + 1) + c]: fields [f, nf) cannot match columns [c, nc).
    std::vector<bool> failed((nf + 1) * (nc + 1), false);
    auto match = [&](auto& self, size_t f, size_t c) -> bool {
      if (f == nf) return c == nc;
      if (failed[f * (nc + 1) + c]) return false;
      const DelimitedField& field = fields[f];
      bool ok = false;
      if (field.ellipsis) {
        for (size_t next = c; next <= nc && !ok; ++next) ok = self(self, f + 1, next);
      } else if (c < nc) {
        ok = true;
        if (field.condition) {
          Subject s;
          s.type = Subject::Type::kString;
          s.text = columns[c];
          s.numeric_text = true;
          ok = Evaluate(*field.condition, [&](const Comparison&) { return s; });
        }
        ok = ok && self(self, f + 1, c + 1);
      }
      if (!ok) failed[f * (nc + 1) + c] = true;
      return ok;
    };
    return match(match, 0, 0);
  }
};

Result<FilterPattern> FilterPattern::Parse(std::string_view pattern) {
  if (pattern.size() > kMaxPatternLength) {
    return Invalid(fmt::format("longer than {} characters", kMaxPatternLength));
  }
  size_t first = 0;
  while (first < pattern.size() && IsBlank(pattern[first])) ++first;
  auto node = std::make_shared<Node>();
  Parser parser(pattern);
  if (first < pattern.size() && pattern[first] == '{') {
    node->kind = Node::Kind::kJson;
    NIMBUS_ASSIGN_OR_RETURN(node->json, parser.ParseJson());
  } else if (first < pattern.size() && pattern[first] == '[') {
    node->kind = Node::Kind::kDelimited;
    NIMBUS_ASSIGN_OR_RETURN(node->fields, parser.ParseDelimited());
  } else {
    NIMBUS_ASSIGN_OR_RETURN(node->text, parser.ParseText());
    const TextPattern& t = node->text;
    bool any_alternative_is_everything = false;
    for (const auto& group : t.alternatives) any_alternative_is_everything |= group.empty();
    if (t.required.empty() && t.excluded.empty() &&
        (t.alternatives.empty() || any_alternative_is_everything)) {
      return FilterPattern(nullptr);
    }
  }
  return FilterPattern(std::move(node));
}

bool FilterPattern::Matches(std::string_view message) const {
  if (!root_) return true;
  switch (root_->kind) {
    case Node::Kind::kText:
      return root_->MatchesText(message);
    case Node::Kind::kJson:
      return root_->MatchesJson(message);
    case Node::Kind::kDelimited:
      return root_->MatchesDelimited(message);
  }
  return false;
}

bool FilterPattern::matches_everything() const { return root_ == nullptr; }

}  // namespace nimbus::obs
