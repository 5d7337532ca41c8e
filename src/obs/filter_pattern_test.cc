#include "obs/filter_pattern.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace nimbus::obs {
namespace {

// The messages of `corpus` that `pattern` matches.
std::vector<std::string> Matching(std::string_view pattern,
                                  const std::vector<std::string>& corpus) {
  auto p = FilterPattern::Parse(pattern);
  EXPECT_TRUE(p.has_value()) << pattern << ": " << p.status().ToString();
  std::vector<std::string> out;
  if (!p.has_value()) return out;
  for (const auto& m : corpus) {
    if (p->Matches(m)) out.push_back(m);
  }
  return out;
}

bool Match(std::string_view pattern, std::string_view message) {
  auto p = FilterPattern::Parse(pattern);
  EXPECT_TRUE(p.has_value()) << pattern << ": " << p.status().ToString();
  return p.has_value() && p->Matches(message);
}

using Strings = std::vector<std::string>;

// AWS's examples for unstructured events.
const Strings kAwsLines = {
    "[ERROR 400] BAD REQUEST",           "[ERROR 401] UNAUTHORIZED REQUEST",
    "[ERROR 419] MISSING ARGUMENTS",     "[ERROR 420] INVALID ARGUMENTS",
    "[WARNING 412] MISSING ARGUMENTS",   "[SUCCESS 200] AUTHORIZED REQUEST",
    "[ERROR 500] INTERNAL SERVER ERROR",
};

TEST(FilterPattern, AnEmptyOrBlankPatternMatchesEveryEvent) {
  for (std::string pattern : {"", "   ", "\"\"", "\" \""}) {
    auto p = FilterPattern::Parse(pattern);
    ASSERT_TRUE(p.has_value()) << pattern;
    EXPECT_TRUE(p->matches_everything()) << pattern;
    EXPECT_TRUE(p->Matches("anything")) << pattern;
    EXPECT_TRUE(p->Matches("")) << pattern;
  }
  EXPECT_FALSE(FilterPattern::Parse("ERROR")->matches_everything());
}

TEST(FilterPattern, ASingleTermMatchesEventsContainingIt) {
  EXPECT_EQ(Matching("ERROR", kAwsLines),
            (Strings{"[ERROR 400] BAD REQUEST", "[ERROR 401] UNAUTHORIZED REQUEST",
                     "[ERROR 419] MISSING ARGUMENTS", "[ERROR 420] INVALID ARGUMENTS",
                     "[ERROR 500] INTERNAL SERVER ERROR"}));
}

TEST(FilterPattern, TermsAreCaseSensitive) {
  EXPECT_TRUE(Match("ERROR", "an ERROR here"));
  EXPECT_FALSE(Match("ERROR", "an error here"));
  EXPECT_FALSE(Match("error", "an ERROR here"));
}

TEST(FilterPattern, SeveralTermsMustAllAppear) {
  EXPECT_EQ(Matching("ERROR ARGUMENTS", kAwsLines),
            (Strings{"[ERROR 419] MISSING ARGUMENTS", "[ERROR 420] INVALID ARGUMENTS"}));
}

TEST(FilterPattern, QuestionMarkTermsMatchWhenAnyOfThemAppears) {
  EXPECT_EQ(Matching("?WARNING ?SUCCESS", kAwsLines),
            (Strings{"[WARNING 412] MISSING ARGUMENTS", "[SUCCESS 200] AUTHORIZED REQUEST"}));
}

TEST(FilterPattern, EachQuestionMarkStartsAnAlternativeThatRunsToTheNextOne) {
  // (ERROR and ARGUMENTS) or SUCCESS, as the AWS CDK's anyTermGroup writes it.
  EXPECT_EQ(Matching("?ERROR ARGUMENTS ?SUCCESS", kAwsLines),
            (Strings{"[ERROR 419] MISSING ARGUMENTS", "[ERROR 420] INVALID ARGUMENTS",
                     "[SUCCESS 200] AUTHORIZED REQUEST"}));
  // Terms before the first ? are required by every alternative.
  EXPECT_EQ(Matching("MISSING ?ERROR ?WARNING", kAwsLines),
            (Strings{"[ERROR 419] MISSING ARGUMENTS", "[WARNING 412] MISSING ARGUMENTS"}));
}

TEST(FilterPattern, MinusTermsExcludeEventsContainingThem) {
  EXPECT_EQ(Matching("ERROR -ARGUMENTS", kAwsLines),
            (Strings{"[ERROR 400] BAD REQUEST", "[ERROR 401] UNAUTHORIZED REQUEST",
                     "[ERROR 500] INTERNAL SERVER ERROR"}));
  EXPECT_EQ(Matching("-ERROR", kAwsLines),
            (Strings{"[WARNING 412] MISSING ARGUMENTS", "[SUCCESS 200] AUTHORIZED REQUEST"}));
  // Exclusions apply whichever alternative matched.
  EXPECT_EQ(Matching("?WARNING ?SUCCESS -MISSING", kAwsLines),
            (Strings{"[SUCCESS 200] AUTHORIZED REQUEST"}));
  EXPECT_EQ(Matching("ERROR -\"MISSING ARGUMENTS\"", kAwsLines).size(), 4u);
}

TEST(FilterPattern, QuotedPhrasesMatchExactlyAsWritten) {
  EXPECT_EQ(Matching("\"INTERNAL SERVER ERROR\"", kAwsLines),
            (Strings{"[ERROR 500] INTERNAL SERVER ERROR"}));
  EXPECT_FALSE(Match("\"request failed\"", "request  failed"));
  EXPECT_TRUE(Match("\"[ERROR 4\"", "[ERROR 419] MISSING ARGUMENTS"));
  // Backslash escapes a quote or a backslash inside quotes.
  EXPECT_TRUE(Match(R"("say \"hi\" to C:\\dir")", R"(please say "hi" to C:\dir now)"));
  EXPECT_TRUE(Match("?\"BAD REQUEST\" ?\"INVALID ARGUMENTS\"", "[ERROR 400] BAD REQUEST"));
}

TEST(FilterPattern, PercentDelimitedTermsAreRegularExpressions) {
  EXPECT_EQ(Matching("%AUTHORIZED%", kAwsLines),
            (Strings{"[ERROR 401] UNAUTHORIZED REQUEST", "[SUCCESS 200] AUTHORIZED REQUEST"}));
  EXPECT_EQ(Matching("%^\\[ERROR.4[0-9]{2}\\]%", kAwsLines).size(), 4u);
  EXPECT_EQ(Matching("%ERROR$%", kAwsLines), (Strings{"[ERROR 500] INTERNAL SERVER ERROR"}));
  EXPECT_EQ(Matching("ERROR -%4[12][0-9]%", kAwsLines),
            (Strings{"[ERROR 400] BAD REQUEST", "[ERROR 401] UNAUTHORIZED REQUEST",
                     "[ERROR 500] INTERNAL SERVER ERROR"}));
}

TEST(FilterPattern, RegularExpressionsAreLimitedToTheCharactersAwsAllows) {
  for (std::string pattern :
       {"%something!%", "%(a|b)%", "%a b%", "%caf\xc3\xa9%", "%%", "%unterminated", "%[a-%"}) {
    auto p = FilterPattern::Parse(pattern);
    ASSERT_FALSE(p.has_value()) << pattern;
    EXPECT_EQ(p.error().code(), Code::kInvalidArgument) << pattern;
    EXPECT_EQ(p.error().message().rfind("Invalid filter pattern", 0), 0u) << p.error().message();
  }
  EXPECT_FALSE(FilterPattern::Parse("%a% %b% %c%").has_value()) << "at most two regexes";
  EXPECT_TRUE(FilterPattern::Parse("%a% %b%").has_value());
}

// Found by fuzz/filter_pattern_fuzz: the regular expressions ran on std::regex's
// depth-first executor, which recursed once per character of the message (a log
// event of 50 KB overflowed the stack and took the daemon down) and backtracked
// exponentially; a long back-reference or repetition count overflowed inside it.
TEST(FilterPattern, RegularExpressionsRunInTimeLinearInTheMessageWithoutDeepRecursion) {
  const std::string long_event(100 * 1024, 'a');
  EXPECT_FALSE(Match("%a.*b%", long_event));
  EXPECT_TRUE(Match("%a.*a$%", long_event));
  EXPECT_TRUE(Match("{ $.m = %^a+$% }", "{\"m\":\"" + long_event + "\"}"));
  // Exponential for a backtracking matcher: 40 stars against 5,000 characters.
  std::string stars;
  for (int i = 0; i < 40; ++i) stars += "a*";
  EXPECT_FALSE(Match("%" + stars + "b%", std::string(5000, 'a')));
  EXPECT_TRUE(Match("%" + stars + "$%", std::string(5000, 'a')));
}

TEST(FilterPattern, RegularExpressionsWithBackReferencesOrHugeRepetitionsAreInvalid) {
  for (std::string pattern : {"%a\\1%", "%\\4444444444444444444%", "%a{4444444444444444444}%",
                              "%a{1001}%", "%a{2,1001}%", "%a{600}b{600}%"}) {
    auto p = FilterPattern::Parse(pattern);
    ASSERT_FALSE(p.has_value()) << pattern;
    EXPECT_EQ(p.error().code(), Code::kInvalidArgument) << pattern;
  }
  EXPECT_TRUE(Match("%^a{3}$%", "aaa"));
  EXPECT_TRUE(Match("%^[{]{2}\\{%", "{{{"));
  EXPECT_FALSE(Match("%^a{2,3}$%", "aaaa"));
  EXPECT_TRUE(Match("%x\\d{1000}%", "x" + std::string(1000, '7')));
}

// JSON patterns.

const std::string kEvent = R"({
  "eventType": "UpdateTrail",
  "sourceIPAddress": "123.123.123.123",
  "arrayKey": ["value", "another value"],
  "objectList": [{"name": "a", "id": 1}, {"name": "b", "id": 2, "tags": null}],
  "SomeObject": null,
  "ThisFlag": true,
  "OtherFlag": false,
  "latency": 1500,
  "ratio": 0.25,
  "negative": -3,
  "code": "200",
  "user": {"id": 2, "email": "John.Doe@example.com"},
  "actions": ["GET", "PUT", "DELETE"]
})";

TEST(FilterPattern, JsonStringEqualityIsExactAndCaseSensitive) {
  EXPECT_TRUE(Match(R"({ $.eventType = "UpdateTrail" })", kEvent));
  EXPECT_TRUE(Match("{ $.eventType = UpdateTrail }", kEvent));
  EXPECT_FALSE(Match(R"({ $.eventType = "Update" })", kEvent));
  EXPECT_FALSE(Match(R"({ $.eventType = "updatetrail" })", kEvent));
  EXPECT_TRUE(Match(R"({ $.eventType != "CreateTrail" })", kEvent));
  EXPECT_FALSE(Match(R"({ $.eventType != "UpdateTrail" })", kEvent));
}

TEST(FilterPattern, JsonStringValuesTakeStarWildcards) {
  EXPECT_TRUE(Match("{ $.sourceIPAddress = 123.123.* }", kEvent));
  EXPECT_FALSE(Match("{ $.sourceIPAddress != 123.123.* }", kEvent));
  EXPECT_TRUE(Match(R"({ $.eventType = "*Trail" })", kEvent));
  EXPECT_TRUE(Match(R"({ $.eventType = "U*e*l" })", kEvent));
  EXPECT_FALSE(Match(R"({ $.eventType = "*Bucket*" })", kEvent));
  // "*" alone: the field exists and is not null (the CDK's FilterPattern.exists).
  EXPECT_TRUE(Match(R"({ $.user = "*" })", kEvent));
  EXPECT_TRUE(Match(R"({ $.latency = "*" })", kEvent));
  EXPECT_FALSE(Match(R"({ $.SomeObject = "*" })", kEvent));
  EXPECT_FALSE(Match(R"({ $.missing = "*" })", kEvent));
}

TEST(FilterPattern, JsonNumbersCompareNumerically) {
  EXPECT_TRUE(Match("{ $.latency > 1000 }", kEvent));
  EXPECT_TRUE(Match("{ $.latency >= 1500 }", kEvent));
  EXPECT_FALSE(Match("{ $.latency < 1500 }", kEvent));
  EXPECT_TRUE(Match("{ $.latency <= 1500 }", kEvent));
  EXPECT_TRUE(Match("{ $.latency = 1500 }", kEvent));
  EXPECT_TRUE(Match("{ $.latency = 1.5e3 }", kEvent));
  EXPECT_TRUE(Match("{ $.latency != 1499 }", kEvent));
  EXPECT_TRUE(Match("{ $.ratio < 0.3 }", kEvent));
  EXPECT_TRUE(Match("{ $.negative = -3 }", kEvent));
  EXPECT_TRUE(Match("{ $.negative > -3.5 }", kEvent));
  // A string that looks like a number is not a number...
  EXPECT_FALSE(Match("{ $.code > 100 }", kEvent));
  // ...but equality compares its text, and a number's text compares with strings.
  EXPECT_TRUE(Match("{ $.code = 200 }", kEvent));
  EXPECT_TRUE(Match(R"({ $.latency = "15*" })", kEvent));
}

TEST(FilterPattern, JsonPostfixOperatorsTestTruthNullAndExistence) {
  EXPECT_TRUE(Match("{ $.ThisFlag IS TRUE }", kEvent));
  EXPECT_FALSE(Match("{ $.ThisFlag IS FALSE }", kEvent));
  EXPECT_TRUE(Match("{ $.OtherFlag IS FALSE }", kEvent));
  EXPECT_FALSE(Match("{ $.latency IS TRUE }", kEvent));
  EXPECT_TRUE(Match("{ $.SomeObject IS NULL }", kEvent));
  EXPECT_TRUE(Match("{ $.objectList[1].tags IS NULL }", kEvent));
  EXPECT_FALSE(Match("{ $.missing IS NULL }", kEvent));
  EXPECT_TRUE(Match("{ $.missing NOT EXISTS }", kEvent));
  EXPECT_TRUE(Match("{ $.user.phone NOT EXISTS }", kEvent));
  EXPECT_FALSE(Match("{ $.SomeObject NOT EXISTS }", kEvent));
  EXPECT_FALSE(Match("{ $.user.id NOT EXISTS }", kEvent));
}

TEST(FilterPattern, JsonSelectorsReachNestedMembersAndArrayElements) {
  EXPECT_TRUE(Match("{ $.user.id = 2 }", kEvent));
  EXPECT_TRUE(Match(R"({ $.user.email = "John.Doe@example.com" })", kEvent));
  EXPECT_TRUE(Match(R"({ $.arrayKey[0] = "value" })", kEvent));
  EXPECT_TRUE(Match(R"({ $.arrayKey[1] = "another value" })", kEvent));
  EXPECT_FALSE(Match(R"({ $.arrayKey[2] = "*" })", kEvent));
  EXPECT_TRUE(Match(R"({ $.objectList[1].name = "b" })", kEvent));
  EXPECT_TRUE(Match(R"({ $[0] = "first" })", R"(["first", 2])"));
  // Walking through a non-object or past an array's end finds nothing.
  EXPECT_TRUE(Match("{ $.eventType.inner NOT EXISTS }", kEvent));
  EXPECT_TRUE(Match("{ $.arrayKey[9] NOT EXISTS }", kEvent));
  EXPECT_FALSE(Match("{ $.user[0] = 2 }", kEvent));
}

TEST(FilterPattern, JsonAndOrAndParenthesesCombineComparisons) {
  // AWS's compound example.
  EXPECT_TRUE(Match(
      R"({ ($.user.id = 2 && $.user.email = "John.Doe@example.com") || $.actions[2] = "GET" })",
      kEvent));
  EXPECT_TRUE(
      Match(R"({ ($.user.id = 1 && $.user.email = "x") || $.actions[2] = "DELETE" })", kEvent));
  EXPECT_FALSE(
      Match(R"({ ($.user.id = 1 && $.user.email = "x") || $.actions[2] = "GET" })", kEvent));
  // && binds tighter than ||.
  EXPECT_TRUE(Match("{ $.latency = 1 && $.user.id = 5 || $.ThisFlag IS TRUE }", kEvent));
  EXPECT_FALSE(Match("{ $.latency = 1 && ($.user.id = 5 || $.ThisFlag IS TRUE) }", kEvent));
  EXPECT_TRUE(Match("{ (($.latency > 1000)) && $.ratio < 1 && $.negative < 0 }", kEvent));
}

TEST(FilterPattern, JsonRegularExpressionValuesSearchStrings) {
  EXPECT_TRUE(Match("{ $.eventType = %Update.*% }", kEvent));
  EXPECT_TRUE(Match("{ $.sourceIPAddress = %^123\\.123% }", kEvent));
  EXPECT_TRUE(Match("{ $.eventType != %^Create% }", kEvent));
  EXPECT_FALSE(Match("{ $.user = %id% }", kEvent));
}

TEST(FilterPattern, AnEventThatIsNotJsonNeverMatchesAJsonPattern) {
  for (std::string message : {"UpdateTrail", "eventType = UpdateTrail", "{not json}",
                              "2024-05-01T12:00:00Z\tabc\tINFO\t{\"eventType\":\"UpdateTrail\"}",
                              "", "\"UpdateTrail\""}) {
    EXPECT_FALSE(Match("{ $.eventType = \"*\" }", message)) << message;
    EXPECT_FALSE(Match("{ $.eventType NOT EXISTS }", message)) << message;
  }
  // Surrounding blanks, as in Lambda's "...}\n" lines, are fine.
  EXPECT_TRUE(Match("{ $.level = \"ERROR\" }", "  {\"level\":\"ERROR\"}\n"));
}

TEST(FilterPattern, AComparisonOnAMissingFieldIsFalseEvenWithNotEquals) {
  EXPECT_FALSE(Match(R"({ $.missing != "x" })", kEvent));
  EXPECT_FALSE(Match("{ $.missing != 5 }", kEvent));
  EXPECT_FALSE(Match("{ $.missing < 5 }", kEvent));
}

// Space-delimited patterns.

const std::string kAccessLine =
    R"(127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /apache_pb.gif HTTP/1.0" 404 1534)";

TEST(FilterPattern, SpaceDelimitedFieldsNameColumnsAndConditionsTestThem) {
  EXPECT_TRUE(Match("[ip, user, username, timestamp, request, status_code, bytes]", kAccessLine));
  EXPECT_TRUE(Match("[ip, user, username, timestamp, request = \"*gif*\", status_code = 4*, bytes]",
                    kAccessLine));
  EXPECT_TRUE(Match("[ip, user, username, timestamp, request, status_code = 404, bytes > 1000]",
                    kAccessLine));
  EXPECT_FALSE(
      Match("[ip, user, username, timestamp, request, status_code = 5*, bytes]", kAccessLine));
  EXPECT_FALSE(
      Match("[ip, user, username, timestamp, request, status_code, bytes < 1000]", kAccessLine));
  EXPECT_TRUE(Match("[ip = 127.0.0.*, ...]", kAccessLine));
  EXPECT_TRUE(Match("[ip != 10.*, user = -, ...]", kAccessLine));
  // Bracketed and quoted columns are one column each, without their delimiters.
  EXPECT_TRUE(Match("[ip, user, username, timestamp = 10/Oct/2000*, request = \"GET *\", ...]",
                    kAccessLine));
}

TEST(FilterPattern, SpaceDelimitedColumnCountsMustMatchUnlessAnEllipsisAbsorbsThem) {
  EXPECT_FALSE(Match("[ip, user, username]", kAccessLine));
  EXPECT_FALSE(Match("[a, b, c, d, e, f, g, h]", kAccessLine));
  EXPECT_TRUE(Match("[..., status_code = 404, bytes]", kAccessLine));
  EXPECT_TRUE(Match("[ip, ..., bytes = 1534]", kAccessLine));
  EXPECT_TRUE(Match("[..., status_code = 404, ...]", kAccessLine));
  EXPECT_FALSE(Match("[..., status_code = 200, ...]", kAccessLine));
  EXPECT_TRUE(Match("[...]", kAccessLine));
  EXPECT_TRUE(Match("[a, b]", "x y\n"));
}

TEST(FilterPattern, SpaceDelimitedConditionsCombineWithAndOr) {
  EXPECT_TRUE(Match("[..., status_code >= 400 && status_code < 500, bytes]", kAccessLine));
  EXPECT_FALSE(Match("[..., status_code >= 500 && status_code < 600, bytes]", kAccessLine));
  EXPECT_TRUE(Match("[..., status_code = 4* || status_code = 5*, bytes]", kAccessLine));
  EXPECT_TRUE(Match("[..., status_code = %^40[0-9]$%, bytes]", kAccessLine));
}

TEST(FilterPattern, MalformedPatternsAreInvalidFilterPatterns) {
  for (std::string pattern : {
           "\"unterminated",        // quote never closed
           "ERROR ?",               // ? without a term
           "ERROR - x",             // - without a term
           "?-ERROR",               // both prefixes
           "-\"\"",                 // excluding nothing
           "{ $.a = 1",             // no closing brace
           "{ }",                   // no comparison
           "{ a = 1 }",             // selector without $
           "{ $.a == 1 }",          // not an operator
           "{ $.a > abc }",         // ordering needs a number
           "{ $.a IS MAYBE }",      // unknown postfix
           "{ $.a NOT THERE }",     // NOT without EXISTS
           "{ $.a = 1 && }",        // dangling &&
           "{ ($.a = 1 }",          // unbalanced parenthesis
           "{ $.a = 1 } trailing",  // text after the pattern
           "{ $.a[x] = 1 }",        // bad index
           "{ $.a = }",             // no value
           "{ $. = 1 }",            // empty member
           "[a, b",                 // no closing bracket
           "[]",                    // no fields
           "[a,, b]",               // empty field
           "[a = ]",                // condition without value
           "[a, b = 1 && a = 2]",   // condition about another field
           "[a, b] c",              // text after the pattern
           "[a > x]",               // ordering needs a number
       }) {
    auto p = FilterPattern::Parse(pattern);
    ASSERT_FALSE(p.has_value()) << pattern;
    EXPECT_EQ(p.error().code(), Code::kInvalidArgument) << pattern;
    EXPECT_EQ(p.error().message().rfind("Invalid filter pattern: ", 0), 0u)
        << pattern << " -> " << p.error().message();
  }
}

TEST(FilterPattern, APatternMayBeAtMost1024CharactersLongAsInAws) {
  EXPECT_TRUE(FilterPattern::Parse(std::string(1024, 'x')).has_value());
  auto p = FilterPattern::Parse(std::string(1025, 'x'));
  ASSERT_FALSE(p.has_value());
  EXPECT_EQ(p.error().message(), "Invalid filter pattern: longer than 1024 characters");
}

TEST(FilterPattern, ErrorsSayWhereThePatternWentWrong) {
  auto p = FilterPattern::Parse("{ $.a = 1 && }");
  ASSERT_FALSE(p.has_value());
  EXPECT_EQ(
      p.error().message(),
      "Invalid filter pattern: expected a selector such as $.field at offset 13, found \"}\"");
  p = FilterPattern::Parse("ERROR \"open");
  EXPECT_EQ(p.error().message(), "Invalid filter pattern: unterminated quote at offset 6");
}

TEST(FilterPattern, CopiesShareTheParsedPattern) {
  auto p = FilterPattern::Parse("{ $.a = 1 }");
  ASSERT_TRUE(p.has_value());
  FilterPattern copy = *p;
  EXPECT_TRUE(copy.Matches(R"({"a":1})"));
  EXPECT_FALSE(copy.Matches(R"({"a":2})"));
}

}  // namespace
}  // namespace nimbus::obs
