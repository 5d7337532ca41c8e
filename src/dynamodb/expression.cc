#include "dynamodb/expression.h"

#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <iterator>
#include <span>
#include <utility>

#include "base/encoding.h"

// How this file is organised: a lexer shared by all five expression kinds; a
// recursive-descent parser per kind that builds a tree with placeholders still
// unresolved and reports syntax errors as DynamoDB does (the furthest token the
// parser could not use, with the tokens around it); a checking pass per kind that
// resolves #names and :values and finds the semantic errors, reported in
// DynamoDB's order of precedence (a tree may have several); and the evaluators.

namespace nimbus::dynamodb {

// ===== Parsed pieces shared by the expression kinds =====

namespace expr_detail {

enum class Fn {
  kUnknown,
  kAttributeExists,
  kAttributeNotExists,
  kAttributeType,
  kBeginsWith,
  kContains,
  kSize,
  kIfNotExists,
  kListAppend,
};

// An operand: a document path, a :value, or a function call.
struct Operand {
  enum class Kind { kPath, kValue, kFunction };
  Kind kind = Kind::kPath;
  // kPath. Until checked, an element naming a #placeholder holds the placeholder
  // ("#n"); a literal name never starts with '#'.
  Path path;
  std::string text;  // kValue: the placeholder (":v"); kFunction: the name as written
  Fn fn = Fn::kUnknown;
  Value value;                // kValue, once resolved
  std::vector<Operand> args;  // kFunction
  int parens = 0;             // parentheses directly around this operand
  bool redundant_parens = false;
};

enum class CompareOp { kEq, kNe, kLt, kLe, kGt, kGe };

// SET's right-hand side: lhs, or lhs + rhs, or lhs - rhs.
struct SetValue {
  char arith = 0;  // '+', '-' or 0
  Operand lhs, rhs;
};

}  // namespace expr_detail

using expr_detail::CompareOp;
using expr_detail::Fn;
using expr_detail::Operand;
using expr_detail::SetValue;

struct Condition::Node {
  enum class Kind { kCompare, kBetween, kIn, kFunction, kAnd, kOr, kNot };
  Kind kind = Kind::kCompare;
  CompareOp op = CompareOp::kEq;  // kCompare
  // kCompare: two; kBetween: three (operand, low, high); kIn: the operand then the
  // list; kFunction: the call.
  std::vector<Operand> operands;
  std::unique_ptr<Node> lhs, rhs;  // kAnd, kOr; kNot uses lhs
  int parens = 0;
  bool redundant_parens = false;
};

struct Update::Action {
  enum class Kind { kSet, kRemove, kAdd, kDelete };
  Kind kind = Kind::kSet;
  Path path;
  SetValue set;     // kSet
  Operand operand;  // kAdd, kDelete: a :value
};

namespace {

using Node = Condition::Node;

// ===== Reserved words =====

// https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ReservedWords.html
// clang-format off
constexpr std::string_view kReservedWords[] = {
    "ABORT", "ABSOLUTE", "ACTION", "ADD", "AFTER", "AGENT", "AGGREGATE", "ALL", "ALLOCATE", "ALTER",
    "ANALYZE", "AND", "ANY", "ARCHIVE", "ARE", "ARRAY", "AS", "ASC", "ASCII", "ASENSITIVE",
    "ASSERTION", "ASYMMETRIC", "AT", "ATOMIC", "ATTACH", "ATTRIBUTE", "AUTH", "AUTHORIZATION",
    "AUTHORIZE", "AUTO", "AVG", "BACK", "BACKUP", "BASE", "BATCH", "BEFORE", "BEGIN", "BETWEEN",
    "BIGINT", "BINARY", "BIT", "BLOB", "BLOCK", "BOOLEAN", "BOTH", "BREADTH", "BUCKET", "BULK",
    "BY", "BYTE", "CALL", "CALLED", "CALLING", "CAPACITY", "CASCADE", "CASCADED", "CASE", "CAST",
    "CATALOG", "CHAR", "CHARACTER", "CHECK", "CLASS", "CLOB", "CLOSE", "CLUSTER", "CLUSTERED",
    "CLUSTERING", "CLUSTERS", "COALESCE", "COLLATE", "COLLATION", "COLLECTION", "COLUMN", "COLUMNS",
    "COMBINE", "COMMENT", "COMMIT", "COMPACT", "COMPILE", "COMPRESS", "CONDITION", "CONFLICT",
    "CONNECT", "CONNECTION", "CONSISTENCY", "CONSISTENT", "CONSTRAINT", "CONSTRAINTS",
    "CONSTRUCTOR", "CONSUMED", "CONTINUE", "CONVERT", "COPY", "CORRESPONDING", "COUNT", "COUNTER",
    "CREATE", "CROSS", "CUBE", "CURRENT", "CURSOR", "CYCLE", "DATA", "DATABASE", "DATE", "DATETIME",
    "DAY", "DEALLOCATE", "DEC", "DECIMAL", "DECLARE", "DEFAULT", "DEFERRABLE", "DEFERRED", "DEFINE",
    "DEFINED", "DEFINITION", "DELETE", "DELIMITED", "DEPTH", "DEREF", "DESC", "DESCRIBE",
    "DESCRIPTOR", "DETACH", "DETERMINISTIC", "DIAGNOSTICS", "DIRECTORIES", "DISABLE", "DISCONNECT",
    "DISTINCT", "DISTRIBUTE", "DO", "DOMAIN", "DOUBLE", "DROP", "DUMP", "DURATION", "DYNAMIC",
    "EACH", "ELEMENT", "ELSE", "ELSEIF", "EMPTY", "ENABLE", "END", "EQUAL", "EQUALS", "ERROR",
    "ESCAPE", "ESCAPED", "EVAL", "EVALUATE", "EXCEEDED", "EXCEPT", "EXCEPTION", "EXCEPTIONS",
    "EXCLUSIVE", "EXEC", "EXECUTE", "EXISTS", "EXIT", "EXPLAIN", "EXPLODE", "EXPORT", "EXPRESSION",
    "EXTENDED", "EXTERNAL", "EXTRACT", "FAIL", "FALSE", "FAMILY", "FETCH", "FIELDS", "FILE",
    "FILTER", "FILTERING", "FINAL", "FINISH", "FIRST", "FIXED", "FLATTERN", "FLOAT", "FOR", "FORCE",
    "FOREIGN", "FORMAT", "FORWARD", "FOUND", "FREE", "FROM", "FULL", "FUNCTION", "FUNCTIONS",
    "GENERAL", "GENERATE", "GET", "GLOB", "GLOBAL", "GO", "GOTO", "GRANT", "GREATER", "GROUP",
    "GROUPING", "HANDLER", "HASH", "HAVE", "HAVING", "HEAP", "HIDDEN", "HOLD", "HOUR", "IDENTIFIED",
    "IDENTITY", "IF", "IGNORE", "IMMEDIATE", "IMPORT", "IN", "INCLUDING", "INCLUSIVE", "INCREMENT",
    "INCREMENTAL", "INDEX", "INDEXED", "INDEXES", "INDICATOR", "INFINITE", "INITIALLY", "INLINE",
    "INNER", "INNTER", "INOUT", "INPUT", "INSENSITIVE", "INSERT", "INSTEAD", "INT", "INTEGER",
    "INTERSECT", "INTERVAL", "INTO", "INVALIDATE", "IS", "ISOLATION", "ITEM", "ITEMS", "ITERATE",
    "JOIN", "KEY", "KEYS", "LAG", "LANGUAGE", "LARGE", "LAST", "LATERAL", "LEAD", "LEADING",
    "LEAVE", "LEFT", "LENGTH", "LESS", "LEVEL", "LIKE", "LIMIT", "LIMITED", "LINES", "LIST", "LOAD",
    "LOCAL", "LOCALTIME", "LOCALTIMESTAMP", "LOCATION", "LOCATOR", "LOCK", "LOCKS", "LOG", "LOGED",
    "LONG", "LOOP", "LOWER", "MAP", "MATCH", "MATERIALIZED", "MAX", "MAXLEN", "MEMBER", "MERGE",
    "METHOD", "METRICS", "MIN", "MINUS", "MINUTE", "MISSING", "MOD", "MODE", "MODIFIES", "MODIFY",
    "MODULE", "MONTH", "MULTI", "MULTISET", "NAME", "NAMES", "NATIONAL", "NATURAL", "NCHAR",
    "NCLOB", "NEW", "NEXT", "NO", "NONE", "NOT", "NULL", "NULLIF", "NUMBER", "NUMERIC", "OBJECT",
    "OF", "OFFLINE", "OFFSET", "OLD", "ON", "ONLINE", "ONLY", "OPAQUE", "OPEN", "OPERATOR",
    "OPTION", "OR", "ORDER", "ORDINALITY", "OTHER", "OTHERS", "OUT", "OUTER", "OUTPUT", "OVER",
    "OVERLAPS", "OVERRIDE", "OWNER", "PAD", "PARALLEL", "PARAMETER", "PARAMETERS", "PARTIAL",
    "PARTITION", "PARTITIONED", "PARTITIONS", "PATH", "PERCENT", "PERCENTILE", "PERMISSION",
    "PERMISSIONS", "PIPE", "PIPELINED", "PLAN", "POOL", "POSITION", "PRECISION", "PREPARE",
    "PRESERVE", "PRIMARY", "PRIOR", "PRIVATE", "PRIVILEGES", "PROCEDURE", "PROCESSED", "PROJECT",
    "PROJECTION", "PROPERTY", "PROVISIONING", "PUBLIC", "PUT", "QUERY", "QUIT", "QUORUM", "RAISE",
    "RANDOM", "RANGE", "RANK", "RAW", "READ", "READS", "REAL", "REBUILD", "RECORD", "RECURSIVE",
    "REDUCE", "REF", "REFERENCE", "REFERENCES", "REFERENCING", "REGEXP", "REGION", "REINDEX",
    "RELATIVE", "RELEASE", "REMAINDER", "RENAME", "REPEAT", "REPLACE", "REQUEST", "RESET",
    "RESIGNAL", "RESOURCE", "RESPONSE", "RESTORE", "RESTRICT", "RESULT", "RETURN", "RETURNING",
    "RETURNS", "REVERSE", "REVOKE", "RIGHT", "ROLE", "ROLES", "ROLLBACK", "ROLLUP", "ROUTINE",
    "ROW", "ROWS", "RULE", "RULES", "SAMPLE", "SATISFIES", "SAVE", "SAVEPOINT", "SCAN", "SCHEMA",
    "SCOPE", "SCROLL", "SEARCH", "SECOND", "SECTION", "SEGMENT", "SEGMENTS", "SELECT", "SELF",
    "SEMI", "SENSITIVE", "SEPARATE", "SEQUENCE", "SERIALIZABLE", "SESSION", "SET", "SETS", "SHARD",
    "SHARE", "SHARED", "SHORT", "SHOW", "SIGNAL", "SIMILAR", "SIZE", "SKEWED", "SMALLINT",
    "SNAPSHOT", "SOME", "SOURCE", "SPACE", "SPACES", "SPARSE", "SPECIFIC", "SPECIFICTYPE", "SPLIT",
    "SQL", "SQLCODE", "SQLERROR", "SQLEXCEPTION", "SQLSTATE", "SQLWARNING", "START", "STATE",
    "STATIC", "STATUS", "STORAGE", "STORE", "STORED", "STREAM", "STRING", "STRUCT", "STYLE", "SUB",
    "SUBMULTISET", "SUBPARTITION", "SUBSTRING", "SUBTYPE", "SUM", "SUPER", "SYMMETRIC", "SYNONYM",
    "SYSTEM", "TABLE", "TABLESAMPLE", "TEMP", "TEMPORARY", "TERMINATED", "TEXT", "THAN", "THEN",
    "THROUGHPUT", "TIME", "TIMESTAMP", "TIMEZONE", "TINYINT", "TO", "TOKEN", "TOTAL", "TOUCH",
    "TRAILING", "TRANSACTION", "TRANSFORM", "TRANSLATE", "TRANSLATION", "TREAT", "TRIGGER", "TRIM",
    "TRUE", "TRUNCATE", "TTL", "TUPLE", "TYPE", "UNDER", "UNDO", "UNION", "UNIQUE", "UNIT",
    "UNKNOWN", "UNLOGGED", "UNNEST", "UNPROCESSED", "UNSIGNED", "UNTIL", "UPDATE", "UPPER", "URL",
    "USAGE", "USE", "USER", "USERS", "USING", "UUID", "VACUUM", "VALUE", "VALUED", "VALUES",
    "VARCHAR", "VARIABLE", "VARIANCE", "VARINT", "VARYING", "VIEW", "VIEWS", "VIRTUAL", "VOID",
    "WAIT", "WHEN", "WHENEVER", "WHERE", "WHILE", "WINDOW", "WITH", "WITHIN", "WITHOUT", "WORK",
    "WRAPPED", "WRITE", "YEAR", "ZONE",
};
// clang-format on
static_assert(std::is_sorted(std::begin(kReservedWords), std::end(kReservedWords)));

char AsciiUpper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (AsciiUpper(a[i]) != AsciiUpper(b[i])) return false;
  }
  return true;
}

bool IsReservedWord(std::string_view word) {
  std::string upper(word);
  for (char& c : upper) c = AsciiUpper(c);
  return std::binary_search(std::begin(kReservedWords), std::end(kReservedWords), upper);
}

// ===== Messages =====

// "[a, b, [2]]", as DynamoDB writes paths in its messages.
std::string PathList(const Path& path) {
  std::string out = "[";
  for (size_t i = 0; i < path.size(); ++i) {
    if (i > 0) out += ", ";
    out += path[i].index >= 0 ? fmt::format("[{}]", path[i].index) : path[i].name;
  }
  return out + "]";
}


// ADD and DELETE name operand types in words.
std::string_view LongTypeName(Type t) {
  switch (t) {
    case Type::kS:
      return "STRING";
    case Type::kN:
      return "NUMBER";
    case Type::kB:
      return "BINARY";
    case Type::kBool:
      return "BOOLEAN";
    case Type::kNull:
      return "NULL";
    case Type::kM:
      return "MAP";
    case Type::kL:
      return "LIST";
    case Type::kSS:
      return "STRING_SET";
    case Type::kNS:
      return "NUMBER_SET";
    case Type::kBS:
      return "BINARY_SET";
  }
  return "?";
}

Status DocumentPathInvalid() {
  return InvalidArgument(
      "The document path provided in the update expression is invalid for update");
}
Status IncorrectDataType() {
  return InvalidArgument("An operand in the update expression has an incorrect data type");
}
Status AttributeMissing() {
  return InvalidArgument(
      "The provided expression refers to an attribute that does not exist in the item");
}

std::string IncorrectOperandType(std::string_view fn, std::string_view type) {
  return fmt::format(
      "Incorrect operand type for operator or function; operator or function: {}, operand type: {}",
      fn, type);
}

bool IsSetType(Type t) { return t == Type::kSS || t == Type::kNS || t == Type::kBS; }
bool IsOrderedType(Type t) { return t == Type::kS || t == Type::kN || t == Type::kB; }

// ===== Functions =====

struct FunctionInfo {
  std::string_view name;
  Fn fn;
  size_t arity;
};

// Function names are case-sensitive, as in DynamoDB.
constexpr FunctionInfo kFunctions[] = {
    {"attribute_exists", Fn::kAttributeExists, 1},
    {"attribute_not_exists", Fn::kAttributeNotExists, 1},
    {"attribute_type", Fn::kAttributeType, 2},
    {"begins_with", Fn::kBeginsWith, 2},
    {"contains", Fn::kContains, 2},
    {"size", Fn::kSize, 1},
    {"if_not_exists", Fn::kIfNotExists, 2},
    {"list_append", Fn::kListAppend, 2},
};

const FunctionInfo* LookupFunction(std::string_view name) {
  for (const auto& f : kFunctions) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

// Functions that are conditions by themselves (the others compute values).
bool IsConditionFunction(Fn fn) {
  return fn == Fn::kAttributeExists || fn == Fn::kAttributeNotExists || fn == Fn::kAttributeType ||
         fn == Fn::kBeginsWith || fn == Fn::kContains;
}

// The type an operand is known to have before evaluation (a :value, or a
// function's result), or empty.
std::string_view StaticType(const Operand& op) {
  if (op.kind == Operand::Kind::kValue) return TypeName(op.value.type);
  if (op.kind == Operand::Kind::kFunction) {
    if (op.fn == Fn::kSize) return "N";
    if (op.fn == Fn::kListAppend) return "L";
    if (IsConditionFunction(op.fn)) return "BOOL";
  }
  return "";
}

// ===== Tokens =====

enum class Tok {
  kName,      // attribute_name, SET, begins_with: [A-Za-z][A-Za-z0-9_]*
  kNameRef,   // #name
  kValueRef,  // :value
  kNumber,    // 12 (list indexes)
  kLParen,
  kRParen,
  kLBracket,
  kRBracket,
  kComma,
  kDot,
  kEq,
  kNe,
  kLt,
  kLe,
  kGt,
  kGe,
  kPlus,
  kMinus,
  kOther,  // any other character (a lone '#' or ':' too): always a syntax error
  kEof,
};

struct Token {
  Tok kind = Tok::kEof;
  size_t begin = 0, end = 0;
};

constexpr std::pair<char, Tok> kPunctuation[] = {
    {'(', Tok::kLParen},   {')', Tok::kRParen}, {'[', Tok::kLBracket},
    {']', Tok::kRBracket}, {',', Tok::kComma},  {'.', Tok::kDot},
    {'=', Tok::kEq},       {'+', Tok::kPlus},   {'-', Tok::kMinus},
};

bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsWordChar(char c) { return IsAlpha(c) || IsDigit(c) || c == '_'; }
bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::vector<Token> Lex(std::string_view s) {
  std::vector<Token> tokens;
  size_t i = 0;
  while (true) {
    while (i < s.size() && IsSpace(s[i])) ++i;
    Token t;
    t.begin = i;
    if (i == s.size()) {
      t.end = i;
      tokens.push_back(t);
      return tokens;
    }
    const char c = s[i];
    auto word_end = [&](size_t from) {
      while (from < s.size() && IsWordChar(s[from])) ++from;
      return from;
    };
    if (IsAlpha(c)) {
      t.kind = Tok::kName;
      i = word_end(i + 1);
    } else if ((c == '#' || c == ':') && i + 1 < s.size() && IsWordChar(s[i + 1])) {
      t.kind = c == '#' ? Tok::kNameRef : Tok::kValueRef;
      i = word_end(i + 1);
    } else if (IsDigit(c)) {
      t.kind = Tok::kNumber;
      while (i < s.size() && IsDigit(s[i])) ++i;
    } else if (c == '<' || c == '>') {
      const char next = i + 1 < s.size() ? s[i + 1] : '\0';
      if (c == '<' && next == '>') {
        t.kind = Tok::kNe;
      } else if (next == '=') {
        t.kind = c == '<' ? Tok::kLe : Tok::kGe;
      } else {
        t.kind = c == '<' ? Tok::kLt : Tok::kGt;
      }
      i += t.kind == Tok::kLt || t.kind == Tok::kGt ? 1 : 2;
    } else {
      t.kind = Tok::kOther;
      for (const auto& [ch, kind] : kPunctuation) {
        if (ch == c) t.kind = kind;
      }
      ++i;
      // Of another character, the whole UTF-8 sequence, so that messages stay valid UTF-8.
      while (t.kind == Tok::kOther && i < s.size() &&
             (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) {
        ++i;
      }
    }
    t.end = i;
    tokens.push_back(t);
  }
}

// ===== Parser base =====

constexpr std::string_view kConditionKeywords[] = {"AND", "BETWEEN", "IN", "NOT", "OR"};
constexpr std::string_view kUpdateKeywords[] = {"ADD", "DELETE", "REMOVE", "SET"};

// Nesting deeper than this (parentheses, NOT, function calls) is a syntax error
// rather than a deep recursion.
constexpr int kMaxDepth = 100;

// Recursive descent over the tokens, PEG style: a rule that fails leaves the
// position where it started (callers backtrack by saving pos_), and the furthest
// position at which any rule failed is where the syntax error is reported.
class Parser {
 public:
  Parser(std::string_view text, std::string_view kind, std::span<const std::string_view> keywords)
      : text_(text), kind_(kind), keywords_(keywords), tokens_(Lex(text)) {}

  bool empty() const { return tokens_.size() == 1; }

  Status Error(std::string_view message) const {
    return InvalidArgument(fmt::format("Invalid {}: {}", kind_, message));
  }

  // DynamoDB's message: the offending token and the text from the token before it
  // to the token after it.
  Status SyntaxError() const {
    const size_t at = std::min(fail_pos_, tokens_.size() - 1);
    const Token& t = tokens_[at];
    std::string token, near;
    if (t.kind == Tok::kEof) {
      token = "<EOF>";
      if (at > 0) near = std::string(TextOf(tokens_[at - 1]));
    } else {
      token = std::string(TextOf(t));
      const size_t begin = at > 0 ? tokens_[at - 1].begin : t.begin;
      const size_t end = tokens_[at + 1].kind != Tok::kEof ? tokens_[at + 1].end : t.end;
      near = std::string(text_.substr(begin, end - begin));
    }
    return Error(fmt::format("Syntax error; token: \"{}\", near: \"{}\"", token, near));
  }

 protected:
  const Token& Peek(size_t ahead = 0) const {
    return tokens_[std::min(pos_ + ahead, tokens_.size() - 1)];
  }
  std::string_view TextOf(const Token& t) const { return text_.substr(t.begin, t.end - t.begin); }
  bool At(Tok kind) const { return Peek().kind == kind; }
  bool IsKeyword(const Token& t) const {
    if (t.kind != Tok::kName) return false;
    for (std::string_view k : keywords_) {
      if (EqualsIgnoreCase(TextOf(t), k)) return true;
    }
    return false;
  }
  bool AtKeyword(std::string_view keyword) const {
    return At(Tok::kName) && EqualsIgnoreCase(TextOf(Peek()), keyword);
  }
  // An attribute name or a function name: a word that is not one of the grammar's keywords.
  bool AtWord() const { return At(Tok::kName) && !IsKeyword(Peek()); }

  void Fail() { fail_pos_ = std::max(fail_pos_, pos_); }
  bool Accept(Tok kind) {
    if (At(kind)) {
      ++pos_;
      return true;
    }
    Fail();
    return false;
  }
  bool AcceptKeyword(std::string_view keyword) {
    if (AtKeyword(keyword)) {
      ++pos_;
      return true;
    }
    Fail();
    return false;
  }

  // Counts nesting; Enter() fails past kMaxDepth.
  class Nesting {
   public:
    explicit Nesting(Parser* p) : p_(p) { ++p_->depth_; }
    ~Nesting() { --p_->depth_; }
    bool ok() const { return p_->depth_ <= kMaxDepth; }

   private:
    Parser* p_;
  };

  // name ( .name | [index] )*; names may be #placeholders.
  bool ParsePath(Path* path) {
    if (!AtWord() && !At(Tok::kNameRef)) {
      Fail();
      return false;
    }
    path->push_back(PathElement{std::string(TextOf(Peek())), -1});
    ++pos_;
    return ParsePathSuffix(path);
  }

  bool ParsePathSuffix(Path* path) {
    while (true) {
      if (At(Tok::kDot)) {
        ++pos_;
        if (!AtWord() && !At(Tok::kNameRef)) {
          Fail();
          return false;
        }
        path->push_back(PathElement{std::string(TextOf(Peek())), -1});
        ++pos_;
      } else if (At(Tok::kLBracket)) {
        ++pos_;
        if (!At(Tok::kNumber)) {
          Fail();
          return false;
        }
        std::string_view digits = TextOf(Peek());
        long long index = 0;
        for (char c : digits) {
          index = index * 10 + (c - '0');
          if (index > INT_MAX) break;
        }
        if (index > INT_MAX) {
          Fail();
          return false;
        }
        ++pos_;
        if (!Accept(Tok::kRBracket)) return false;
        path->push_back(PathElement{"", static_cast<int>(index)});
      } else {
        Fail();  // a suffix could have followed
        return true;
      }
    }
  }

  std::string_view text_;
  std::string_view kind_;
  std::span<const std::string_view> keywords_;
  std::vector<Token> tokens_;
  size_t pos_ = 0;
  size_t fail_pos_ = 0;
  int depth_ = 0;
};

// ===== Condition grammar =====
//
//   or      := and (OR and)*
//   and     := not (AND not)*
//   not     := NOT not | primary
//   primary := comparison | '(' or ')'
//   comparison := operand comparator operand | operand BETWEEN operand AND operand
//               | operand IN '(' operand (',' operand)* ')' | function-call
//   operand := '(' operand ')' [path-suffix if a path] | name '(' operand, ... ')'
//            | path | :value

class ConditionParser : public Parser {
 public:
  ConditionParser(std::string_view text, std::string_view kind)
      : Parser(text, kind, kConditionKeywords) {}

  Result<std::unique_ptr<Node>> Parse() {
    if (empty()) return Error("The expression can not be empty;");
    std::unique_ptr<Node> root;
    if (!ParseOr(&root)) return SyntaxError();
    if (!At(Tok::kEof)) {
      Fail();
      return SyntaxError();
    }
    return root;
  }

 private:
  bool ParseOr(std::unique_ptr<Node>* out) {
    if (!ParseAnd(out)) return false;
    while (AcceptKeyword("OR")) {
      auto node = std::make_unique<Node>();
      node->kind = Node::Kind::kOr;
      node->lhs = std::move(*out);
      if (!ParseAnd(&node->rhs)) return false;
      *out = std::move(node);
    }
    return true;
  }

  bool ParseAnd(std::unique_ptr<Node>* out) {
    if (!ParseNot(out)) return false;
    while (AcceptKeyword("AND")) {
      auto node = std::make_unique<Node>();
      node->kind = Node::Kind::kAnd;
      node->lhs = std::move(*out);
      if (!ParseNot(&node->rhs)) return false;
      *out = std::move(node);
    }
    return true;
  }

  bool ParseNot(std::unique_ptr<Node>* out) {
    Nesting nesting(this);
    if (!nesting.ok()) {
      Fail();
      return false;
    }
    if (!AcceptKeyword("NOT")) return ParsePrimary(out);
    auto node = std::make_unique<Node>();
    node->kind = Node::Kind::kNot;
    if (!ParseNot(&node->lhs)) return false;
    *out = std::move(node);
    return true;
  }

  bool ParsePrimary(std::unique_ptr<Node>* out) {
    const size_t start = pos_;
    if (ParseComparison(out)) return true;
    pos_ = start;
    if (!Accept(Tok::kLParen)) return false;
    std::unique_ptr<Node> inner;
    if (!ParseOr(&inner) || !Accept(Tok::kRParen)) return false;
    if (inner->parens > 0) inner->redundant_parens = true;
    ++inner->parens;
    *out = std::move(inner);
    return true;
  }

  std::optional<CompareOp> Comparator() const {
    switch (Peek().kind) {
      case Tok::kEq:
        return CompareOp::kEq;
      case Tok::kNe:
        return CompareOp::kNe;
      case Tok::kLt:
        return CompareOp::kLt;
      case Tok::kLe:
        return CompareOp::kLe;
      case Tok::kGt:
        return CompareOp::kGt;
      case Tok::kGe:
        return CompareOp::kGe;
      default:
        return std::nullopt;
    }
  }

  bool ParseComparison(std::unique_ptr<Node>* out) {
    Operand first;
    if (!ParseOperand(&first)) return false;
    auto node = std::make_unique<Node>();
    node->operands.push_back(std::move(first));
    if (auto op = Comparator()) {
      ++pos_;
      node->kind = Node::Kind::kCompare;
      node->op = *op;
      if (!ParseOperandInto(&node->operands)) return false;
    } else if (AtKeyword("BETWEEN")) {
      ++pos_;
      node->kind = Node::Kind::kBetween;
      if (!ParseOperandInto(&node->operands) || !AcceptKeyword("AND") ||
          !ParseOperandInto(&node->operands)) {
        return false;
      }
    } else if (AtKeyword("IN")) {
      ++pos_;
      node->kind = Node::Kind::kIn;
      if (!Accept(Tok::kLParen) || !ParseOperandInto(&node->operands)) return false;
      while (Accept(Tok::kComma)) {
        if (!ParseOperandInto(&node->operands)) return false;
      }
      if (!Accept(Tok::kRParen)) return false;
    } else {
      Fail();  // a comparator could have followed
      if (node->operands[0].kind != Operand::Kind::kFunction) return false;
      node->kind = Node::Kind::kFunction;
    }
    *out = std::move(node);
    return true;
  }

  bool ParseOperandInto(std::vector<Operand>* operands) {
    Operand op;
    if (!ParseOperand(&op)) return false;
    operands->push_back(std::move(op));
    return true;
  }

  bool ParseOperand(Operand* out) {
    Nesting nesting(this);
    if (!nesting.ok()) {
      Fail();
      return false;
    }
    if (At(Tok::kLParen)) {
      ++pos_;
      if (!ParseOperand(out) || !Accept(Tok::kRParen)) return false;
      if (out->parens > 0) out->redundant_parens = true;
      ++out->parens;
      if (out->kind == Operand::Kind::kPath && (At(Tok::kDot) || At(Tok::kLBracket))) {
        if (!ParsePathSuffix(&out->path)) return false;
        out->parens = 0;
      }
      return true;
    }
    if (AtWord() && Peek(1).kind == Tok::kLParen) {
      out->kind = Operand::Kind::kFunction;
      out->text = std::string(TextOf(Peek()));
      pos_ += 2;
      if (!ParseOperandInto(&out->args)) return false;
      while (Accept(Tok::kComma)) {
        if (!ParseOperandInto(&out->args)) return false;
      }
      return Accept(Tok::kRParen);
    }
    if (At(Tok::kValueRef)) {
      out->kind = Operand::Kind::kValue;
      out->text = std::string(TextOf(Peek()));
      ++pos_;
      return true;
    }
    out->kind = Operand::Kind::kPath;
    return ParsePath(&out->path);
  }
};

// ===== Checking: placeholders, reserved words, functions =====

// Resolves the #names of a path (first unresolvable one recorded in *error) and
// finds its first reserved literal name.
void ResolvePath(Path& path, Substitutions& subs, std::optional<std::string>* name_error,
                 std::optional<std::string>* reserved) {
  for (PathElement& e : path) {
    if (e.index >= 0) continue;
    if (!e.name.empty() && e.name[0] == '#') {
      if (*name_error) continue;
      auto name = subs.Name(e.name);
      if (!name.has_value()) {
        *name_error = name.error().message();
      } else {
        e.name = std::move(*name);
      }
    } else if (!*reserved && IsReservedWord(e.name)) {
      *reserved = "Attribute name is a reserved keyword; reserved keyword: " + e.name;
    }
  }
}

void ResolveValue(Operand& op, Substitutions& subs, std::optional<std::string>* value_error) {
  if (*value_error) return;
  auto v = subs.ValueOf(op.text);
  if (!v.has_value()) {
    *value_error = v.error().message();
  } else {
    op.value = std::move(*v);
  }
}

template <typename... Opts>
const std::optional<std::string>* FirstOf(const Opts&... opts) {
  const std::optional<std::string>* found = nullptr;
  ((found = found == nullptr && opts ? &opts : found), ...);
  return found;
}

// The semantic errors of a condition (also a filter or key condition), found in
// one pass and reported as DynamoDB does: redundant parentheses, then unknown
// functions, misused functions and reserved words anywhere; then the first atomic
// condition with a problem, naming its undefined placeholder, else its operand
// count, else its repeated operand, else its operand types.
class ConditionChecker {
 public:
  explicit ConditionChecker(Substitutions& subs) : subs_(subs) {}

  std::optional<std::string> Check(Node& node) {
    Walk(node);
    if (auto* p = FirstOf(redundant_, unknown_, misused_, reserved_, atom_)) return *p;
    return std::nullopt;
  }

 private:
  // Problems of one atomic condition, by category.
  struct Atom {
    std::optional<std::string> placeholder, count, distinct, types;
  };

  // Where an operand appears, for what functions are allowed there.
  enum class Place { kCondition, kOperand, kArgument };

  void Walk(Node& node) {
    if (node.redundant_parens && !redundant_)
      redundant_ = "The expression has redundant parentheses;";
    switch (node.kind) {
      case Node::Kind::kAnd:
      case Node::Kind::kOr:
        Walk(*node.lhs);
        Walk(*node.rhs);
        return;
      case Node::Kind::kNot:
        Walk(*node.lhs);
        return;
      default:
        break;
    }
    Atom atom;
    const Place place = node.kind == Node::Kind::kFunction ? Place::kCondition : Place::kOperand;
    for (Operand& op : node.operands) WalkOperand(op, place, atom);
    auto& ops = node.operands;
    if (node.kind == Node::Kind::kCompare) {
      static constexpr std::string_view kOpText[] = {"=", "<>", "<", "<=", ">", ">="};
      const std::string_view op_text = kOpText[static_cast<int>(node.op)];
      CheckDistinct(op_text, ops[0], ops[1], atom);
      if (node.op != CompareOp::kEq && node.op != CompareOp::kNe) {
        for (const Operand& o : ops) CheckOrderable(op_text, o, atom);
      }
    } else if (node.kind == Node::Kind::kBetween) {
      for (const Operand& o : ops) CheckOrderable("BETWEEN", o, atom);
      const Operand& low = ops[1];
      const Operand& high = ops[2];
      if (!atom.types && !atom.placeholder && low.kind == Operand::Kind::kValue &&
          high.kind == Operand::Kind::kValue) {
        if (low.value.type != high.value.type) {
          atom.types = fmt::format(
              "The BETWEEN operator requires same data type for lower and upper bounds; lower "
              "bound operand: "
              "AttributeValue: {}, upper bound operand: AttributeValue: {}",
              ValueForMessage(low.value), ValueForMessage(high.value));
        } else if (CompareScalars(low.value, high.value).value_or(0) > 0) {
          atom.types = fmt::format(
              "The BETWEEN operator requires upper bound to be greater than or equal to lower "
              "bound; lower bound "
              "operand: AttributeValue: {}, upper bound operand: AttributeValue: {}",
              ValueForMessage(low.value), ValueForMessage(high.value));
        }
      }
    } else if (node.kind == Node::Kind::kIn && ops.size() > 100) {
      if (!atom.count) {
        atom.count = fmt::format(
            "The IN operator is provided with too many operands; number of operands: {}",
            ops.size());
      }
    }
    if (!atom_) {
      if (auto* p = FirstOf(atom.placeholder, atom.count, atom.distinct, atom.types)) atom_ = *p;
    }
  }

  void WalkOperand(Operand& op, Place place, Atom& atom) {
    if (op.redundant_parens && !redundant_)
      redundant_ = "The expression has redundant parentheses;";
    switch (op.kind) {
      case Operand::Kind::kPath:
        ResolvePath(op.path, subs_, &atom.placeholder, &reserved_);
        return;
      case Operand::Kind::kValue:
        ResolveValue(op, subs_, &atom.placeholder);
        return;
      case Operand::Kind::kFunction:
        break;
    }
    for (Operand& arg : op.args) WalkOperand(arg, Place::kArgument, atom);
    const FunctionInfo* info = LookupFunction(op.text);
    if (info == nullptr) {
      if (!unknown_) unknown_ = "Invalid function name; function: " + op.text;
      return;
    }
    op.fn = info->fn;
    const bool allowed =
        place == Place::kCondition ? IsConditionFunction(op.fn) : op.fn == Fn::kSize;
    if (!allowed) {
      if (!misused_)
        misused_ = "The function is not allowed to be used this way in an expression; function: " +
                   op.text;
      return;
    }
    if (op.args.size() != info->arity) {
      if (!atom.count) {
        atom.count = fmt::format(
            "Incorrect number of operands for operator or function; operator or function: {}, "
            "number of operands: {}",
            op.text, op.args.size());
      }
      return;
    }
    if (op.args.size() == 2) CheckDistinct(op.text, op.args[0], op.args[1], atom);
    if (atom.types) return;
    switch (op.fn) {
      case Fn::kAttributeExists:
      case Fn::kAttributeNotExists:
        if (op.args[0].kind != Operand::Kind::kPath) {
          atom.types =
              "Operator or function requires a document path; operator or function: " + op.text;
        }
        break;
      case Fn::kAttributeType: {
        const Operand& type = op.args[1];
        std::string_view t = StaticType(type);
        if (t != "S") {
          atom.types =
              IncorrectOperandType(op.text, t.empty() ? "{NS,SS,L,BS,N,M,B,BOOL,NULL,S}" : t);
        } else if (type.kind == Operand::Kind::kValue) {
          static constexpr std::string_view kTypes[] = {"S", "N", "B",  "BOOL", "NULL",
                                                        "M", "L", "SS", "NS",   "BS"};
          if (std::find(std::begin(kTypes), std::end(kTypes), type.value.scalar) ==
              std::end(kTypes)) {
            atom.types = fmt::format(
                "Invalid attribute type name found; type: {}, valid types: "
                "{{B,NULL,SS,BOOL,L,BS,N,NS,S,M}}",
                type.value.scalar);
          }
        }
        break;
      }
      case Fn::kBeginsWith:
        for (const Operand& arg : op.args) {
          std::string_view t = StaticType(arg);
          if (!t.empty() && t != "S" && t != "B") {
            atom.types = IncorrectOperandType(op.text, t);
            break;
          }
        }
        break;
      case Fn::kSize: {
        std::string_view t = StaticType(op.args[0]);
        if (t == "N" || t == "BOOL" || t == "NULL") atom.types = IncorrectOperandType(op.text, t);
        break;
      }
      default:
        break;
    }
  }

  static void CheckDistinct(std::string_view op, const Operand& a, const Operand& b, Atom& atom) {
    if (atom.distinct || a.kind != Operand::Kind::kPath || b.kind != Operand::Kind::kPath ||
        a.path != b.path)
      return;
    atom.distinct = fmt::format(
        "The first operand must be distinct from the remaining operands for this operator or "
        "function; operator: {}, "
        "first operand: {}",
        op, PathList(a.path));
  }

  // <, <=, >, >= and BETWEEN order S, N and B only: a :value of another type is an error.
  static void CheckOrderable(std::string_view op, const Operand& o, Atom& atom) {
    if (atom.types || o.kind != Operand::Kind::kValue) return;
    if (!IsOrderedType(o.value.type)) atom.types = IncorrectOperandType(op, TypeName(o.value.type));
  }

  Substitutions& subs_;
  std::optional<std::string> redundant_, unknown_, misused_, reserved_, atom_;
};

Result<std::unique_ptr<Node>> ParseConditionTree(std::string_view text, std::string_view kind,
                                                 Substitutions& subs) {
  ConditionParser parser(text, kind);
  NIMBUS_ASSIGN_OR_RETURN(std::unique_ptr<Node> root, parser.Parse());
  ConditionChecker checker(subs);
  if (auto problem = checker.Check(*root)) return parser.Error(*problem);
  return root;
}

// ===== Condition evaluation =====

size_t SizeOf(const Value& v, bool* has_size) {
  *has_size = true;
  switch (v.type) {
    case Type::kS:
    case Type::kB:
      return v.scalar.size();
    case Type::kSS:
    case Type::kNS:
    case Type::kBS:
      return v.set.size();
    case Type::kL:
      return v.list.size();
    case Type::kM:
      return v.map.size();
    default:
      *has_size = false;
      return 0;
  }
}

// The operand's value in `item`, or nullptr when it has none (a missing path, the
// size of something without one). `scratch` holds computed values.
const Value* EvalOperand(const Operand& op, const Item& item, Value& scratch) {
  switch (op.kind) {
    case Operand::Kind::kPath:
      return Resolve(item, op.path);
    case Operand::Kind::kValue:
      return &op.value;
    case Operand::Kind::kFunction:
      break;
  }
  // Checking admits only size() as an operand.
  Value inner_scratch;
  const Value* arg = EvalOperand(op.args[0], item, inner_scratch);
  if (arg == nullptr) return nullptr;
  bool has_size = false;
  const size_t n = SizeOf(*arg, &has_size);
  if (!has_size) return nullptr;
  scratch = Value::N(Number::FromInt(static_cast<int64_t>(n)));
  return &scratch;
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.substr(0, prefix.size()) == prefix;
}

bool EvalFunction(const Operand& call, const Item& item) {
  const auto& args = call.args;
  switch (call.fn) {
    case Fn::kAttributeExists:
      return Resolve(item, args[0].path) != nullptr;
    case Fn::kAttributeNotExists:
      return Resolve(item, args[0].path) == nullptr;
    default:
      break;
  }
  Value s1, s2;
  const Value* a = EvalOperand(args[0], item, s1);
  const Value* b = EvalOperand(args[1], item, s2);
  if (a == nullptr || b == nullptr) return false;
  switch (call.fn) {
    case Fn::kAttributeType:
      return TypeName(a->type) == b->scalar;
    case Fn::kBeginsWith:
      return a->type == b->type && (a->type == Type::kS || a->type == Type::kB) &&
             StartsWith(a->scalar, b->scalar);
    case Fn::kContains:
      switch (a->type) {
        case Type::kS:
        case Type::kB:
          return b->type == a->type && a->scalar.find(b->scalar) != std::string::npos;
        case Type::kSS:
        case Type::kNS:
        case Type::kBS: {
          const Type element = a->type == Type::kSS   ? Type::kS
                               : a->type == Type::kNS ? Type::kN
                                                      : Type::kB;
          return b->type == element &&
                 std::find(a->set.begin(), a->set.end(), b->scalar) != a->set.end();
        }
        case Type::kL:
          return std::find(a->list.begin(), a->list.end(), *b) != a->list.end();
        default:
          return false;
      }
    default:
      return false;
  }
}

bool EvalNode(const Node& node, const Item& item) {
  switch (node.kind) {
    case Node::Kind::kAnd:
      return EvalNode(*node.lhs, item) && EvalNode(*node.rhs, item);
    case Node::Kind::kOr:
      return EvalNode(*node.lhs, item) || EvalNode(*node.rhs, item);
    case Node::Kind::kNot:
      return !EvalNode(*node.lhs, item);
    case Node::Kind::kFunction:
      return EvalFunction(node.operands[0], item);
    case Node::Kind::kCompare: {
      Value s1, s2;
      const Value* a = EvalOperand(node.operands[0], item, s1);
      const Value* b = EvalOperand(node.operands[1], item, s2);
      // A missing operand equals nothing and differs from everything.
      if (node.op == CompareOp::kEq) return a != nullptr && b != nullptr && *a == *b;
      if (node.op == CompareOp::kNe) return a == nullptr || b == nullptr || !(*a == *b);
      if (a == nullptr || b == nullptr) return false;
      const std::optional<int> c = CompareScalars(*a, *b);
      if (!c) return false;
      switch (node.op) {
        case CompareOp::kLt:
          return *c < 0;
        case CompareOp::kLe:
          return *c <= 0;
        case CompareOp::kGt:
          return *c > 0;
        case CompareOp::kGe:
          return *c >= 0;
        default:
          return false;
      }
    }
    case Node::Kind::kBetween: {
      Value s1, s2, s3;
      const Value* v = EvalOperand(node.operands[0], item, s1);
      const Value* low = EvalOperand(node.operands[1], item, s2);
      const Value* high = EvalOperand(node.operands[2], item, s3);
      if (v == nullptr || low == nullptr || high == nullptr) return false;
      const std::optional<int> above_low = CompareScalars(*v, *low);
      const std::optional<int> below_high = CompareScalars(*v, *high);
      return above_low && below_high && *above_low >= 0 && *below_high <= 0;
    }
    case Node::Kind::kIn: {
      Value s1;
      const Value* v = EvalOperand(node.operands[0], item, s1);
      if (v == nullptr) return false;
      for (size_t i = 1; i < node.operands.size(); ++i) {
        Value s2;
        const Value* candidate = EvalOperand(node.operands[i], item, s2);
        if (candidate != nullptr && *candidate == *v) return true;
      }
      return false;
    }
  }
  return false;
}

void CollectTopLevelNames(const Operand& op, std::set<std::string>* names) {
  if (op.kind == Operand::Kind::kPath && !op.path.empty()) names->insert(op.path[0].name);
  for (const Operand& arg : op.args) CollectTopLevelNames(arg, names);
}

void CollectTopLevelNames(const Node& node, std::set<std::string>* names) {
  for (const Operand& op : node.operands) CollectTopLevelNames(op, names);
  if (node.lhs) CollectTopLevelNames(*node.lhs, names);
  if (node.rhs) CollectTopLevelNames(*node.rhs, names);
}

// ===== Path relations (update and projection) =====

// DynamoDB refuses two paths of one expression where one contains the other
// ("overlap") or where one indexes what the other names a member of ("conflict").
// Each message names the earlier path first.
struct PathRelations {
  std::optional<std::string> overlap, conflict;  // the first of each
};

PathRelations CheckPathRelations(const std::vector<const Path*>& paths) {
  PathRelations r;
  for (size_t j = 0; j < paths.size() && !r.overlap; ++j) {
    for (size_t i = 0; i < j && !r.overlap; ++i) {
      const Path& one = *paths[i];
      const Path& two = *paths[j];
      bool related = true;
      for (size_t k = 0; k < one.size() && k < two.size() && related; ++k) {
        if ((one[k].index >= 0) != (two[k].index >= 0)) {
          if (!r.conflict) {
            r.conflict = fmt::format(
                "Two document paths conflict with each other; must remove or rewrite one of these "
                "paths; path one: "
                "{}, path two: {}",
                PathList(one), PathList(two));
          }
          related = false;
        } else if (!(one[k] == two[k])) {
          related = false;
        }
      }
      if (related) {
        r.overlap = fmt::format(
            "Two document paths overlap with each other; must remove or rewrite one of these "
            "paths; path one: {}, "
            "path two: {}",
            PathList(one), PathList(two));
      }
    }
  }
  return r;
}

// ===== Update grammar =====
//
//   update  := section+            (each of SET, REMOVE, ADD, DELETE at most once)
//   section := SET path '=' value (',' ...)* | REMOVE path (',' path)*
//            | ADD path :value (',' ...)* | DELETE path :value (',' ...)*
//   value   := term [('+' | '-') operand] | '(' value ')'
//   operand := '(' operand ')' | name '(' operand, ... ')' | path | :value

class UpdateParser : public Parser {
 public:
  explicit UpdateParser(std::string_view text)
      : Parser(text, "UpdateExpression", kUpdateKeywords) {}

  // The actions, and the first section keyword used twice (empty if none).
  Result<std::vector<Update::Action>> Parse(std::string* repeated_section) {
    if (empty()) return Error("The expression can not be empty;");
    std::vector<Update::Action> actions;
    bool seen[4] = {false, false, false, false};
    if (!AtSection()) {
      Fail();
      return SyntaxError();
    }
    while (AtSection()) {
      const auto kind = SectionKind();
      const int k = static_cast<int>(kind);
      if (seen[k] && repeated_section->empty()) {
        static constexpr std::string_view kNames[] = {"SET", "REMOVE", "ADD", "DELETE"};
        *repeated_section = std::string(kNames[k]);
      }
      seen[k] = true;
      ++pos_;
      do {
        Update::Action action;
        action.kind = kind;
        if (!ParseAction(&action)) return SyntaxError();
        actions.push_back(std::move(action));
      } while (Accept(Tok::kComma));
    }
    if (!At(Tok::kEof)) {
      Fail();
      return SyntaxError();
    }
    return actions;
  }

 private:
  bool AtSection() const { return At(Tok::kName) && IsKeyword(Peek()); }

  Update::Action::Kind SectionKind() const {
    std::string_view word = TextOf(Peek());
    if (EqualsIgnoreCase(word, "SET")) return Update::Action::Kind::kSet;
    if (EqualsIgnoreCase(word, "REMOVE")) return Update::Action::Kind::kRemove;
    if (EqualsIgnoreCase(word, "ADD")) return Update::Action::Kind::kAdd;
    return Update::Action::Kind::kDelete;
  }

  bool ParseAction(Update::Action* action) {
    if (!ParsePath(&action->path)) return false;
    switch (action->kind) {
      case Update::Action::Kind::kSet:
        return Accept(Tok::kEq) && ParseSetValue(&action->set);
      case Update::Action::Kind::kRemove:
        return true;
      case Update::Action::Kind::kAdd:
      case Update::Action::Kind::kDelete:
        if (!At(Tok::kValueRef)) {
          Fail();
          return false;
        }
        action->operand.kind = Operand::Kind::kValue;
        action->operand.text = std::string(TextOf(Peek()));
        ++pos_;
        return true;
    }
    return false;
  }

  bool ParseSetValue(SetValue* out) {
    Nesting nesting(this);
    if (!nesting.ok()) {
      Fail();
      return false;
    }
    if (At(Tok::kLParen)) {
      ++pos_;
      SetValue inner;
      if (!ParseSetValue(&inner) || !Accept(Tok::kRParen)) return false;
      if (inner.arith != 0) {
        *out = std::move(inner);
        return true;  // "(a + b)" takes no further operator
      }
      out->lhs = std::move(inner.lhs);
    } else if (!ParseOperand(&out->lhs)) {
      return false;
    }
    if (At(Tok::kPlus) || At(Tok::kMinus)) {
      out->arith = At(Tok::kPlus) ? '+' : '-';
      ++pos_;
      return ParseOperand(&out->rhs);
    }
    Fail();  // an operator could have followed
    return true;
  }

  bool ParseOperand(Operand* out) {
    Nesting nesting(this);
    if (!nesting.ok()) {
      Fail();
      return false;
    }
    if (At(Tok::kLParen)) {
      ++pos_;
      if (!ParseOperand(out) || !Accept(Tok::kRParen)) return false;
      ++out->parens;
      return true;
    }
    if (AtWord() && Peek(1).kind == Tok::kLParen) {
      out->kind = Operand::Kind::kFunction;
      out->text = std::string(TextOf(Peek()));
      pos_ += 2;
      do {
        Operand arg;
        if (!ParseOperand(&arg)) return false;
        out->args.push_back(std::move(arg));
      } while (Accept(Tok::kComma));
      return Accept(Tok::kRParen);
    }
    if (At(Tok::kValueRef)) {
      out->kind = Operand::Kind::kValue;
      out->text = std::string(TextOf(Peek()));
      ++pos_;
      return true;
    }
    out->kind = Operand::Kind::kPath;
    return ParsePath(&out->path);
  }
};

// The semantic errors of an update expression, reported in DynamoDB's order:
// reserved words, unknown functions, misused functions, a repeated section,
// undefined #names, undefined :values, overlapping paths, conflicting paths,
// ADD/DELETE operand types, then function operands.
class UpdateChecker {
 public:
  explicit UpdateChecker(Substitutions& subs) : subs_(subs) {}

  std::optional<std::string> Check(std::vector<Update::Action>& actions,
                                   const std::string& repeated_section) {
    if (!repeated_section.empty()) {
      section_ = fmt::format("The \"{}\" section can only be used once in an update expression;",
                             repeated_section);
    }
    std::vector<const Path*> targets;
    for (Update::Action& a : actions) {
      ResolvePath(a.path, subs_, &name_, &reserved_);
      targets.push_back(&a.path);
      switch (a.kind) {
        case Update::Action::Kind::kSet:
          WalkOperand(a.set.lhs, false);
          if (a.set.arith != 0) {
            WalkOperand(a.set.rhs, false);
            const std::string_view op = a.set.arith == '+' ? "+" : "-";
            for (const Operand* o : {&a.set.lhs, &a.set.rhs}) {
              if (!function_ && o->kind == Operand::Kind::kValue && o->value.type != Type::kN) {
                function_ = IncorrectOperandType(op, TypeName(o->value.type));
              }
            }
          }
          break;
        case Update::Action::Kind::kRemove:
          break;
        case Update::Action::Kind::kAdd:
        case Update::Action::Kind::kDelete: {
          ResolveValue(a.operand, subs_, &value_);
          const bool add = a.kind == Update::Action::Kind::kAdd;
          const Type t = a.operand.value.type;
          const bool ok = IsSetType(t) || (add && t == Type::kN);
          if (!operand_ && !value_ && !ok) {
            operand_ = fmt::format(
                "Incorrect operand type for operator or function; operator: {}, operand type: {}",
                add ? "ADD" : "DELETE", LongTypeName(t));
          }
          break;
        }
      }
    }
    if (!name_) {  // paths compare by the names they resolve to
      PathRelations relations = CheckPathRelations(targets);
      overlap_ = std::move(relations.overlap);
      conflict_ = std::move(relations.conflict);
    }
    if (auto* p = FirstOf(reserved_, unknown_, misused_, section_, name_, value_, overlap_,
                          conflict_, operand_, function_)) {
      return *p;
    }
    return std::nullopt;
  }

 private:
  void WalkOperand(Operand& op, bool in_list_append) {
    switch (op.kind) {
      case Operand::Kind::kPath:
        ResolvePath(op.path, subs_, &name_, &reserved_);
        return;
      case Operand::Kind::kValue:
        ResolveValue(op, subs_, &value_);
        return;
      case Operand::Kind::kFunction:
        break;
    }
    const FunctionInfo* info = LookupFunction(op.text);
    if (info != nullptr) op.fn = info->fn;
    for (Operand& arg : op.args) WalkOperand(arg, op.fn == Fn::kListAppend);
    if (info == nullptr) {
      if (!unknown_) unknown_ = "Invalid function name; function: " + op.text;
      return;
    }
    const bool allowed = (op.fn == Fn::kIfNotExists || op.fn == Fn::kListAppend) &&
                         !(in_list_append && op.fn == Fn::kListAppend);
    if (!allowed) {
      if (!misused_)
        misused_ = "The function is not allowed to be used this way in an expression; function: " +
                   op.text;
      return;
    }
    if (function_) return;
    if (op.args.size() != info->arity) {
      function_ = fmt::format(
          "Incorrect number of operands for operator or function; operator or function: {}, number "
          "of operands: {}",
          op.text, op.args.size());
    } else if (op.fn == Fn::kIfNotExists && op.args[0].kind != Operand::Kind::kPath) {
      function_ = "Operator or function requires a document path; operator or function: " + op.text;
    } else if (op.fn == Fn::kListAppend) {
      for (const Operand& arg : op.args) {
        if (arg.kind == Operand::Kind::kValue && arg.value.type != Type::kL) {
          function_ = IncorrectOperandType(op.text, TypeName(arg.value.type));
          break;
        }
      }
    }
  }

  Substitutions& subs_;
  std::optional<std::string> reserved_, unknown_, misused_, section_, name_, value_, overlap_,
      conflict_, operand_, function_;
};

// ===== Update evaluation =====

// The value at the first `length` steps of `path`, or nullptr.
const Value* ResolvePrefix(const Item& item, const Path& path, size_t length) {
  if (path.empty()) return nullptr;
  auto it = item.find(path[0].name);
  if (it == item.end()) return nullptr;
  const Value* v = &it->second;
  for (size_t i = 1; i < length && v != nullptr; ++i) {
    const PathElement& e = path[i];
    if (e.index >= 0) {
      v = v->type == Type::kL && static_cast<size_t>(e.index) < v->list.size() ? &v->list[e.index]
                                                                               : nullptr;
    } else {
      v = v->type == Type::kM ? v->Member(e.name) : nullptr;
    }
  }
  return v;
}

// Whether `path`'s last step has a container to go into: an existing map for a
// member, an existing list for an index. Else an update cannot address it.
bool HasParent(const Item& item, const Path& path) {
  if (path.size() == 1) return true;
  const Value* parent = ResolvePrefix(item, path, path.size() - 1);
  return parent != nullptr &&
         (path.back().index >= 0 ? parent->type == Type::kL : parent->type == Type::kM);
}

// The container of `path`'s last step. REQUIRES: HasParent(item, path), path.size() > 1.
Value* MutableParent(Item& item, const Path& path) {
  return const_cast<Value*>(ResolvePrefix(item, path, path.size() - 1));
}

// Sets the value at `path`; an index past the end of a list appends.
Status WriteAt(Item& item, const Path& path, Value v) {
  if (path.size() == 1) {
    item[path[0].name] = std::move(v);
    return Status::Ok();
  }
  if (!HasParent(item, path)) return DocumentPathInvalid();
  Value* parent = MutableParent(item, path);
  const PathElement& last = path.back();
  if (last.index < 0) {
    parent->SetMember(last.name, std::move(v));
  } else if (static_cast<size_t>(last.index) < parent->list.size()) {
    parent->list[last.index] = std::move(v);
  } else {
    parent->list.push_back(std::move(v));
  }
  return Status::Ok();
}

// Removes the value at `path`, if there is one; later list elements move up.
Status RemoveAt(Item& item, const Path& path) {
  if (path.size() == 1) {
    item.erase(path[0].name);
    return Status::Ok();
  }
  if (!HasParent(item, path)) return DocumentPathInvalid();
  Value* parent = MutableParent(item, path);
  const PathElement& last = path.back();
  if (last.index < 0) {
    parent->RemoveMember(last.name);
  } else if (static_cast<size_t>(last.index) < parent->list.size()) {
    parent->list.erase(parent->list.begin() + last.index);
  }
  return Status::Ok();
}

// Document order of paths: list elements by index.
bool PathLess(const Path& a, const Path& b) {
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    const PathElement& x = a[i];
    const PathElement& y = b[i];
    if ((x.index >= 0) != (y.index >= 0)) return x.index < 0;
    if (x.index >= 0 && x.index != y.index) return x.index < y.index;
    if (x.index < 0 && x.name != y.name) return x.name < y.name;
  }
  return a.size() < b.size();
}

// Keeps a set's elements in Value's order: numbers numerically, the others bytewise.
void SortSet(Value& set) {
  if (set.type == Type::kNS) {
    std::vector<std::pair<Number, std::string>> numbers;
    for (std::string& e : set.set) numbers.emplace_back(Number::Parse(e).value(), std::move(e));
    std::sort(numbers.begin(), numbers.end(),
              [](const auto& x, const auto& y) { return x.first < y.first; });
    set.set.clear();
    for (auto& [n, text] : numbers) set.set.push_back(std::move(text));
  } else {
    std::sort(set.set.begin(), set.set.end());
  }
  set.set.erase(std::unique(set.set.begin(), set.set.end()), set.set.end());
}

Result<Value> EvalUpdateOperand(const Operand& op, const Item& item) {
  switch (op.kind) {
    case Operand::Kind::kPath: {
      const Value* v = Resolve(item, op.path);
      if (v == nullptr) return AttributeMissing();
      return *v;
    }
    case Operand::Kind::kValue:
      return op.value;
    case Operand::Kind::kFunction:
      break;
  }
  if (op.fn == Fn::kIfNotExists) {
    if (const Value* v = Resolve(item, op.args[0].path)) return *v;
    return EvalUpdateOperand(op.args[1], item);
  }
  // list_append
  NIMBUS_ASSIGN_OR_RETURN(Value a, EvalUpdateOperand(op.args[0], item));
  NIMBUS_ASSIGN_OR_RETURN(Value b, EvalUpdateOperand(op.args[1], item));
  if (a.type != Type::kL || b.type != Type::kL) return IncorrectDataType();
  for (Value& e : b.list) a.list.push_back(std::move(e));
  return a;
}

Result<Value> EvalSetValue(const SetValue& value, const Item& item) {
  NIMBUS_ASSIGN_OR_RETURN(Value lhs, EvalUpdateOperand(value.lhs, item));
  if (value.arith == 0) return lhs;
  NIMBUS_ASSIGN_OR_RETURN(Value rhs, EvalUpdateOperand(value.rhs, item));
  if (lhs.type != Type::kN || rhs.type != Type::kN) return IncorrectDataType();
  const Number b = value.arith == '+' ? rhs.number() : rhs.number().Negated();
  NIMBUS_ASSIGN_OR_RETURN(Number sum, Number::Add(lhs.number(), b));
  return Value::N(sum);
}

// ===== Projection =====

// The selected parts of one value, keyed by member name or original list index.
struct Selection {
  const Value* whole = nullptr;  // selected entirely
  std::map<std::string, Selection> members;
  std::map<int, Selection> elements;
};

Value Materialize(const Value& source, const Selection& s) {
  if (s.whole != nullptr) return *s.whole;
  Value out;
  out.type = source.type;
  if (source.type == Type::kM) {
    for (const auto& [name, child] : s.members)
      out.map.emplace_back(name, Materialize(*source.Member(name), child));
  } else {
    for (const auto& [index, child] : s.elements)
      out.list.push_back(Materialize(source.list[index], child));
  }
  return out;
}

}  // namespace

// ===== Public API =====

std::string PathToString(const Path& path) {
  std::string out;
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i].index >= 0) {
      out += fmt::format("[{}]", path[i].index);
    } else {
      if (i > 0) out += '.';
      out += path[i].name;
    }
  }
  return out;
}

const Value* Resolve(const Item& item, const Path& path) {
  return ResolvePrefix(item, path, path.size());
}

// ----- Substitutions -----

Substitutions::Substitutions(std::map<std::string, std::string> names,
                             std::map<std::string, Value> values)
    : names_(std::move(names)), values_(std::move(values)) {}

Status Substitutions::CheckAllUsed() const {
  auto unused = [](const auto& all, const std::set<std::string>& used) {
    std::string keys;
    for (const auto& [key, v] : all) {
      if (used.count(key) == 0) keys += (keys.empty() ? "" : ", ") + key;
    }
    return keys;
  };
  if (std::string keys = unused(names_, used_names_); !keys.empty()) {
    return InvalidArgument(
        "Value provided in ExpressionAttributeNames unused in expressions: keys: {" + keys + "}");
  }
  if (std::string keys = unused(values_, used_values_); !keys.empty()) {
    return InvalidArgument(
        "Value provided in ExpressionAttributeValues unused in expressions: keys: {" + keys + "}");
  }
  return Status::Ok();
}

Result<std::string> Substitutions::Name(const std::string& placeholder) {
  auto it = names_.find(placeholder);
  if (it == names_.end()) {
    return InvalidArgument(
        "An expression attribute name used in the document path is not defined; attribute name: " +
        placeholder);
  }
  used_names_.insert(placeholder);
  return it->second;
}

Result<Value> Substitutions::ValueOf(const std::string& placeholder) {
  auto it = values_.find(placeholder);
  if (it == values_.end()) {
    return InvalidArgument(
        "An expression attribute value used in expression is not defined; attribute value: " +
        placeholder);
  }
  used_values_.insert(placeholder);
  return it->second;
}

// ----- Condition -----

Condition::Condition() = default;
Condition::~Condition() = default;
Condition::Condition(Condition&&) noexcept = default;
Condition& Condition::operator=(Condition&&) noexcept = default;

Result<Condition> Condition::Parse(std::string_view text, std::string_view kind,
                                   Substitutions& subs) {
  NIMBUS_ASSIGN_OR_RETURN(std::unique_ptr<Node> root, ParseConditionTree(text, kind, subs));
  Condition c;
  c.root_ = std::move(root);
  return c;
}

Result<bool> Condition::Evaluate(const Item& item) const {
  if (root_ == nullptr) return true;
  return EvalNode(*root_, item);
}

std::set<std::string> Condition::TopLevelNames() const {
  std::set<std::string> names;
  if (root_ != nullptr) CollectTopLevelNames(*root_, &names);
  return names;
}

// ----- KeyCondition -----

namespace {

struct KeyTerm {
  std::string name;
  const Node* node;
  bool key_first;  // the key is the first operand (else `:v < key`)
};

Status KeyConditionError(std::string message) { return InvalidArgument(std::move(message)); }

// The key conditions ANDed in `node`, or the error DynamoDB gives for a shape a
// key condition cannot have.
Status CollectKeyTerms(const Node& node, std::vector<KeyTerm>* terms) {
  switch (node.kind) {
    case Node::Kind::kAnd: {
      NIMBUS_RETURN_IF_ERROR(CollectKeyTerms(*node.lhs, terms));
      return CollectKeyTerms(*node.rhs, terms);
    }
    case Node::Kind::kOr:
      return KeyConditionError("Invalid operator used in KeyConditionExpression: OR");
    case Node::Kind::kNot:
      return KeyConditionError("Invalid operator used in KeyConditionExpression: NOT");
    case Node::Kind::kIn:
      return KeyConditionError("Invalid operator used in KeyConditionExpression: IN");
    default:
      break;
  }
  if (node.kind == Node::Kind::kCompare && node.op == CompareOp::kNe) {
    return KeyConditionError("Invalid operator used in KeyConditionExpression: <>");
  }
  const std::vector<Operand>* operands = &node.operands;
  if (node.kind == Node::Kind::kFunction) {
    const Operand& call = node.operands[0];
    if (call.fn != Fn::kBeginsWith) {
      return KeyConditionError("Invalid operator used in KeyConditionExpression: " + call.text);
    }
    operands = &call.args;
  }
  if ((node.kind == Node::Kind::kBetween || node.kind == Node::Kind::kFunction) &&
      (*operands)[0].kind != Operand::Kind::kPath) {
    return KeyConditionError(
        fmt::format("Invalid condition in KeyConditionExpression: {} operator must have the key "
                    "attribute as its first operand",
                    node.kind == Node::Kind::kBetween ? "BETWEEN" : "begins_with"));
  }
  const Path* key = nullptr;
  bool key_first = true;
  for (size_t i = 0; i < operands->size(); ++i) {
    const Operand& op = (*operands)[i];
    if (op.kind == Operand::Kind::kPath) {
      if (key != nullptr) {
        return KeyConditionError(
            "Invalid condition in KeyConditionExpression: Multiple attribute names used in one "
            "condition");
      }
      if (op.path.size() > 1) {
        return KeyConditionError(
            "KeyConditionExpressions cannot have conditions on nested attributes");
      }
      key = &op.path;
      key_first = i == 0;
    } else if (op.kind == Operand::Kind::kFunction) {
      return KeyConditionError("KeyConditionExpressions cannot contain nested operations");
    }
  }
  if (key == nullptr) {
    return KeyConditionError(
        "Invalid condition in KeyConditionExpression: No key attribute specified");
  }
  for (const KeyTerm& t : *terms) {
    if (t.name == (*key)[0].name) {
      return KeyConditionError("KeyConditionExpressions must only contain one condition per key");
    }
  }
  terms->push_back(KeyTerm{(*key)[0].name, &node, key_first});
  return Status::Ok();
}

// `:v < key` is `key > :v`.
CompareOp Mirrored(CompareOp op) {
  switch (op) {
    case CompareOp::kLt:
      return CompareOp::kGt;
    case CompareOp::kLe:
      return CompareOp::kGe;
    case CompareOp::kGt:
      return CompareOp::kLt;
    case CompareOp::kGe:
      return CompareOp::kLe;
    default:
      return op;
  }
}

}  // namespace

Result<KeyCondition> KeyCondition::Parse(std::string_view text, const std::string& hash_name,
                                         const std::string& range_name, Substitutions& subs) {
  NIMBUS_ASSIGN_OR_RETURN(std::unique_ptr<Node> root,
                          ParseConditionTree(text, "KeyConditionExpression", subs));
  std::vector<KeyTerm> terms;
  NIMBUS_RETURN_IF_ERROR(CollectKeyTerms(*root, &terms));

  auto find = [&](const std::string& name) -> const KeyTerm* {
    for (const KeyTerm& t : terms) {
      if (t.name == name) return &t;
    }
    return nullptr;
  };
  if (range_name.empty() && terms.size() > 1)
    return KeyConditionError("Query key condition not supported");
  const KeyTerm* hash = find(hash_name);
  if (hash == nullptr)
    return KeyConditionError("Query condition missed key schema element: " + hash_name);
  if (hash->node->kind != Node::Kind::kCompare || hash->node->op != CompareOp::kEq) {
    return KeyConditionError("Query key condition not supported");
  }
  const KeyTerm* range = range_name.empty() ? nullptr : find(range_name);
  if (!range_name.empty() && range == nullptr && terms.size() > 1) {
    return KeyConditionError("Query condition missed key schema element: " + range_name);
  }
  if (terms.size() > (range != nullptr ? 2u : 1u))
    return KeyConditionError("Query key condition not supported");

  KeyCondition kc;
  kc.hash_name = hash_name;
  kc.hash_value = hash->node->operands[hash->key_first ? 1 : 0].value;
  if (range != nullptr) {
    kc.range_name = range_name;
    const Node& n = *range->node;
    switch (n.kind) {
      case Node::Kind::kCompare: {
        const CompareOp op = range->key_first ? n.op : Mirrored(n.op);
        static constexpr Op kOps[] = {Op::kEq, Op::kNone, Op::kLt, Op::kLe, Op::kGt, Op::kGe};
        kc.op = kOps[static_cast<int>(op)];
        kc.low = n.operands[range->key_first ? 1 : 0].value;
        break;
      }
      case Node::Kind::kBetween:
        kc.op = Op::kBetween;
        kc.low = n.operands[1].value;
        kc.high = n.operands[2].value;
        break;
      default:  // begins_with
        kc.op = Op::kBeginsWith;
        kc.low = n.operands[0].args[1].value;
        break;
    }
  }
  return kc;
}

bool KeyCondition::RangeMatches(const Value& range) const {
  if (op == Op::kNone) return true;
  if (op == Op::kBeginsWith) {
    return range.type == low.type && (range.type == Type::kS || range.type == Type::kB) &&
           StartsWith(range.scalar, low.scalar);
  }
  const std::optional<int> c = CompareScalars(range, low);
  if (!c) return false;
  switch (op) {
    case Op::kEq:
      return *c == 0;
    case Op::kLt:
      return *c < 0;
    case Op::kLe:
      return *c <= 0;
    case Op::kGt:
      return *c > 0;
    case Op::kGe:
      return *c >= 0;
    case Op::kBetween: {
      const std::optional<int> h = CompareScalars(range, high);
      return *c >= 0 && h && *h <= 0;
    }
    default:
      return false;
  }
}

// ----- Update -----

Update::Update() = default;
Update::~Update() = default;
Update::Update(Update&&) noexcept = default;
Update& Update::operator=(Update&&) noexcept = default;

Result<Update> Update::Parse(std::string_view text, Substitutions& subs) {
  UpdateParser parser(text);
  std::string repeated_section;
  NIMBUS_ASSIGN_OR_RETURN(std::vector<Action> actions, parser.Parse(&repeated_section));
  UpdateChecker checker(subs);
  if (auto problem = checker.Check(actions, repeated_section)) return parser.Error(*problem);
  Update u;
  u.actions_ = std::move(actions);
  return u;
}

Status Update::Apply(Item& item) const {
  // Every value is computed from the item as it was; then the writes go in in
  // document order (so that SETs past the end of a list append in index order),
  // then the removals from the last path to the first (so that list indexes in
  // the expression keep meaning the original elements).
  struct Write {
    const Path* path;
    Value value;
  };
  std::vector<Write> writes;
  std::vector<const Path*> removals;
  for (const Action& a : actions_) {
    switch (a.kind) {
      case Action::Kind::kSet: {
        NIMBUS_ASSIGN_OR_RETURN(Value v, EvalSetValue(a.set, item));
        writes.push_back(Write{&a.path, std::move(v)});
        break;
      }
      case Action::Kind::kRemove:
        removals.push_back(&a.path);
        break;
      case Action::Kind::kAdd: {
        const Value& operand = a.operand.value;
        const Value* current = Resolve(item, a.path);
        if (current == nullptr) {
          writes.push_back(Write{&a.path, operand});  // as if added to 0 or to the empty set
        } else if (operand.type == Type::kN) {
          if (current->type != Type::kN) return IncorrectDataType();
          NIMBUS_ASSIGN_OR_RETURN(Number sum, Number::Add(current->number(), operand.number()));
          writes.push_back(Write{&a.path, Value::N(sum)});
        } else {
          if (current->type != operand.type) return IncorrectDataType();
          Value merged = *current;
          merged.set.insert(merged.set.end(), operand.set.begin(), operand.set.end());
          SortSet(merged);
          writes.push_back(Write{&a.path, std::move(merged)});
        }
        break;
      }
      case Action::Kind::kDelete: {
        const Value& operand = a.operand.value;
        const Value* current = Resolve(item, a.path);
        if (current == nullptr) {
          // Nothing to delete from, but the path must still be one an update can address.
          if (!HasParent(item, a.path)) return DocumentPathInvalid();
          break;
        }
        if (current->type != operand.type) return IncorrectDataType();
        Value rest = *current;
        std::erase_if(rest.set, [&](const std::string& e) {
          return std::find(operand.set.begin(), operand.set.end(), e) != operand.set.end();
        });
        if (rest.set.empty()) {
          removals.push_back(&a.path);  // an empty set is no value: the attribute goes
        } else {
          writes.push_back(Write{&a.path, std::move(rest)});
        }
        break;
      }
    }
  }
  std::stable_sort(writes.begin(), writes.end(),
                   [](const Write& x, const Write& y) { return PathLess(*x.path, *y.path); });
  std::stable_sort(removals.begin(), removals.end(),
                   [](const Path* x, const Path* y) { return PathLess(*y, *x); });
  Item out = item;
  for (Write& w : writes) NIMBUS_RETURN_IF_ERROR(WriteAt(out, *w.path, std::move(w.value)));
  for (const Path* p : removals) NIMBUS_RETURN_IF_ERROR(RemoveAt(out, *p));
  item = std::move(out);
  return Status::Ok();
}

std::set<std::string> Update::TopLevelNames() const {
  std::set<std::string> names;
  for (const Action& a : actions_) names.insert(a.path[0].name);
  return names;
}

std::vector<Path> Update::Paths() const {
  std::vector<Path> paths;
  for (const Action& a : actions_) paths.push_back(a.path);
  return paths;
}

// ----- Projection -----

Result<Projection> Projection::Parse(std::string_view text, Substitutions& subs) {
  class ProjectionParser : public Parser {
   public:
    explicit ProjectionParser(std::string_view text) : Parser(text, "ProjectionExpression", {}) {}
    Result<std::vector<Path>> ParsePaths() {
      if (empty()) return Error("The expression can not be empty;");
      std::vector<Path> paths;
      do {
        Path p;
        if (!ParsePath(&p)) return SyntaxError();
        paths.push_back(std::move(p));
      } while (Accept(Tok::kComma));
      if (!At(Tok::kEof)) {
        Fail();
        return SyntaxError();
      }
      return paths;
    }
  };
  ProjectionParser parser(text);
  Projection projection;
  NIMBUS_ASSIGN_OR_RETURN(projection.paths, parser.ParsePaths());
  std::optional<std::string> reserved, name;
  std::vector<const Path*> all;
  for (Path& p : projection.paths) {
    ResolvePath(p, subs, &name, &reserved);
    all.push_back(&p);
  }
  if (reserved) return parser.Error(*reserved);
  if (name) return parser.Error(*name);
  PathRelations relations = CheckPathRelations(all);
  if (relations.overlap) return parser.Error(*relations.overlap);
  if (relations.conflict) return parser.Error(*relations.conflict);
  return projection;
}

Item Projection::Apply(const Item& item) const {
  std::map<std::string, Selection> top;
  for (const Path& path : paths) {
    if (Resolve(item, path) == nullptr) continue;
    const Value* v = &item.at(path[0].name);
    Selection* s = &top[path[0].name];
    for (size_t i = 1; i < path.size(); ++i) {
      if (path[i].index >= 0) {
        s = &s->elements[path[i].index];
        v = &v->list[path[i].index];
      } else {
        s = &s->members[path[i].name];
        v = v->Member(path[i].name);
      }
    }
    s->whole = v;
  }
  Item out;
  for (const auto& [name, selection] : top)
    out.emplace(name, Materialize(item.at(name), selection));
  return out;
}

}  // namespace nimbus::dynamodb
