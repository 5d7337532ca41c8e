#include "control/function_name.h"

#include <gtest/gtest.h>

namespace nimbus::control {
namespace {

struct NameCase {
  const char* text;
  const char* name;
  const char* qualifier;  // nullptr: none
};

class ParseFunctionRefAccepts : public ::testing::TestWithParam<NameCase> {};

TEST_P(ParseFunctionRefAccepts, EveryFormOfTheModelsPattern) {
  auto ref = ParseFunctionRef(GetParam().text);
  ASSERT_TRUE(ref.has_value()) << ref.error().ToString();
  EXPECT_EQ(ref->name, GetParam().name);
  if (GetParam().qualifier == nullptr) {
    EXPECT_FALSE(ref->qualifier.has_value());
  } else {
    EXPECT_EQ(ref->qualifier, GetParam().qualifier);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Forms, ParseFunctionRefAccepts,
    ::testing::Values(
        NameCase{"my-function_1", "my-function_1", nullptr},
        NameCase{"my-function:live", "my-function", "live"},
        NameCase{"f:$LATEST", "f", "$LATEST"},
        NameCase{"123456789012:function:f", "f", nullptr},
        NameCase{"123456789012:function:f:7", "f", "7"},
        NameCase{"arn:aws:lambda:us-east-1:123456789012:function:f", "f", nullptr},
        NameCase{"arn:aws:lambda:us-gov-west-1:123456789012:function:f:$LATEST", "f", "$LATEST"},
        NameCase{"arn:aws-cn:lambda:cn-north-1:123456789012:function:f", "f", nullptr},
        NameCase{"123456789012", "123456789012", nullptr},
        NameCase{"function:f", "f", nullptr}));

TEST(ParseFunctionRef, RejectsValuesOutsideThePatternWithAwsWording) {
  for (const char* bad : {"", "has space", "f:1:2", "a.b", "arn:aws:s3:::bucket",
                          "arn:aws:lambda:us-east-1:123456789012:function:", "f:bad qualifier"}) {
    auto ref = ParseFunctionRef(bad);
    ASSERT_FALSE(ref.has_value()) << bad;
    EXPECT_EQ(ref.error().code(), Code::kValidationFailed);
    EXPECT_EQ(ref.error().message(),
              std::string("1 validation error detected: Value '") + bad +
                  "' at 'functionName' failed to satisfy constraint: Member must satisfy regular "
                  "expression pattern: " + std::string(kFunctionNamePattern));
  }
}

TEST(ParseFunctionRef, LimitsTheNameTo64Characters) {
  EXPECT_TRUE(ParseFunctionRef(std::string(64, 'a')).has_value());
  auto ref = ParseFunctionRef(std::string(65, 'a'));
  ASSERT_FALSE(ref.has_value());
  EXPECT_EQ(ref.error().message(),
            "1 validation error detected: Value '" + std::string(65, 'a') +
                "' at 'functionName' failed to satisfy constraint: Member must have length less "
                "than or equal to 64");
}

TEST(ParseFunctionRef, MergesAQueryQualifierThatAgreesAndRejectsOneThatDoesNot) {
  auto same = ParseFunctionRef("f:live", "live");
  ASSERT_TRUE(same.has_value());
  EXPECT_EQ(same->qualifier, "live");
  auto from_query = ParseFunctionRef("f", "$LATEST");
  ASSERT_TRUE(from_query.has_value());
  EXPECT_EQ(from_query->qualifier, "$LATEST");
  auto conflict = ParseFunctionRef("f:live", "7");
  ASSERT_FALSE(conflict.has_value());
  EXPECT_EQ(conflict.error(),
            InvalidArgument("The derived qualifier from the function name does not match the "
                            "specified qualifier."));
}

}  // namespace
}  // namespace nimbus::control
