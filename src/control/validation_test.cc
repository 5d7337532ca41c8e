#include "control/validation.h"

#include <gtest/gtest.h>

namespace nimbus::control {
namespace {

TEST(ValidateRuntime, AcceptsTheRuntimesNimbusRunsAndThoseItOnlyValidates) {
  for (const char* r : {"python3.8", "python3.9", "python3.10", "python3.11", "python3.12",
                        "python3.13", "nodejs18.x", "nodejs20.x", "nodejs22.x", "provided.al2",
                        "provided.al2023", "java17", "java21", "ruby3.2", "ruby3.3"}) {
    EXPECT_TRUE(ValidateRuntime(r).ok()) << r;
  }
}

TEST(ValidateRuntime, RejectsAnUnknownRuntimeListingTheEnum) {
  Status s = ValidateRuntime("python9");
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_TRUE(s.message().starts_with(
      "Value python9 at 'runtime' failed to satisfy constraint: Member must satisfy enum value "
      "set: [nodejs, nodejs4.3, "))
      << s.message();
  EXPECT_TRUE(s.message().ends_with("java25, dotnet10, ruby4.0]")) << s.message();
}

TEST(ValidateRuntime, RejectsADeprecatedRuntimeAsLambdaDoes) {
  EXPECT_EQ(ValidateRuntime("python2.7"),
            InvalidArgument("The runtime parameter of python2.7 is no longer supported for "
                            "creating or updating AWS Lambda functions. We recommend you use the "
                            "new runtime (python3.13) while creating or updating functions."));
}

TEST(ValidateRole, FollowsTheModelPattern) {
  EXPECT_TRUE(ValidateRole("arn:aws:iam::123456789012:role/lambda-role").ok());
  EXPECT_TRUE(ValidateRole("arn:aws:iam::123456789012:role/service-role/x+y=z,a.b@c").ok());
  EXPECT_TRUE(ValidateRole("arn:aws-cn:iam::123456789012:role/r").ok());
  EXPECT_TRUE(ValidateRole("arn::iam::123456789012:rolex").ok());
  for (const char* bad : {"", "role", "arn:aws:iam::12345:role/r", "arn:aws:iam::123456789012:role",
                          "arn:aws:iam::123456789012:user/r", "arn:aws:iam::123456789012:role/a b"}) {
    EXPECT_EQ(ValidateRole(bad),
              ValidationFailed(std::string("1 validation error detected: Value '") + bad +
                              "' at 'role' failed to satisfy constraint: Member must satisfy "
                              "regular expression pattern: "
                              "arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+"))
        << bad;
  }
}

TEST(ValidateHandler, RequiresNoWhitespaceAndAtMost128Characters) {
  EXPECT_TRUE(ValidateHandler("app.handler").ok());
  EXPECT_EQ(ValidateHandler("app handler").message(),
            "1 validation error detected: Value 'app handler' at 'handler' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: [^\\s]+");
  EXPECT_EQ(ValidateHandler(std::string(129, 'h')).message(),
            "1 validation error detected: Value '" + std::string(129, 'h') +
                "' at 'handler' failed to satisfy constraint: Member must have length less than "
                "or equal to 128");
}

TEST(ValidateNumbers, EnforceLambdaQuotasWithAwsMessages) {
  EXPECT_TRUE(ValidateMemorySize(128).ok());
  EXPECT_TRUE(ValidateMemorySize(10240).ok());
  EXPECT_EQ(ValidateMemorySize(127).message(),
            "1 validation error detected: Value '127' at 'memorySize' failed to satisfy "
            "constraint: Member must have value greater than or equal to 128");
  EXPECT_EQ(ValidateMemorySize(10241).message(),
            "'MemorySize' value failed to satisfy constraint: Member must have value less than or "
            "equal to 10240");
  EXPECT_TRUE(ValidateTimeout(1).ok());
  EXPECT_TRUE(ValidateTimeout(900).ok());
  EXPECT_EQ(ValidateTimeout(0).message(),
            "1 validation error detected: Value '0' at 'timeout' failed to satisfy constraint: "
            "Member must have value greater than or equal to 1");
  EXPECT_EQ(ValidateTimeout(901).message(),
            "1 validation error detected: Value '901' at 'timeout' failed to satisfy constraint: "
            "Member must have value less than or equal to 900");
  EXPECT_TRUE(ValidateEphemeralStorage(512).ok());
  EXPECT_EQ(ValidateEphemeralStorage(511).message(),
            "1 validation error detected: Value '511' at 'ephemeralStorage.size' failed to "
            "satisfy constraint: Member must have value greater than or equal to 512");
  EXPECT_EQ(ValidateEphemeralStorage(10241).message(),
            "1 validation error detected: Value '10241' at 'ephemeralStorage.size' failed to "
            "satisfy constraint: Member must have value less than or equal to 10240");
  EXPECT_TRUE(ValidateDescription(std::string(256, 'd')).ok());
  EXPECT_FALSE(ValidateDescription(std::string(257, 'd')).ok());
}

TEST(ValidateEnvironment, RejectsReservedKeysNamingThem) {
  EXPECT_EQ(ValidateEnvironment({{"AWS_REGION", "x"}, {"MINE", "1"}}),
            InvalidArgument("Lambda was unable to configure your environment variables because "
                            "the environment variables you have provided contains reserved keys "
                            "that are currently not supported for modification. Reserved keys "
                            "used in this request: AWS_REGION"));
  Status two = ValidateEnvironment({{"_HANDLER", "x"}, {"LAMBDA_TASK_ROOT", "y"}});
  EXPECT_TRUE(two.message().ends_with("Reserved keys used in this request: LAMBDA_TASK_ROOT, _HANDLER"))
      << two.message();
  // Customers may set these.
  EXPECT_TRUE(ValidateEnvironment({{"TZ", "Asia/Tokyo"}, {"AWS_LAMBDA_EXEC_WRAPPER", "/w"}}).ok());
}

TEST(ValidateEnvironment, MeasuresTheJsonOfTheMapAgainst4KB) {
  // {"K1":"<v>"} is 9 bytes plus the value.
  EXPECT_TRUE(ValidateEnvironment({{"K1", std::string(4096 - 9, 'v')}}).ok());
  std::map<std::string, std::string> big = {{"K1", std::string(4096 - 8, 'v')}};
  Status s = ValidateEnvironment(big);
  EXPECT_EQ(s, InvalidArgument("Lambda was unable to configure your environment variables "
                               "because the environment variables you have provided exceeded "
                               "the 4KB limit. String measured: " + EnvironmentJson(big)));
  EXPECT_EQ(EnvironmentJson({{"A", "1"}, {"B", "\""}}), R"({"A":"1","B":"\""})");
}

TEST(ValidateEnvironment, RequiresKeysToMatchThePattern) {
  EXPECT_FALSE(ValidateEnvironment({{"1ABC", "x"}}).ok());
  EXPECT_FALSE(ValidateEnvironment({{"A-B", "x"}}).ok());
  EXPECT_FALSE(ValidateEnvironment({{"A", "x"}}).ok());  // the pattern needs two characters
}

TEST(ValidateEnums, AcceptOnlyTheModelsValues) {
  EXPECT_TRUE(ValidateArchitecture("x86_64").ok());
  EXPECT_TRUE(ValidateArchitecture("arm64").ok());
  EXPECT_FALSE(ValidateArchitecture("mips").ok());
  EXPECT_TRUE(ValidateTracingMode("Active").ok());
  EXPECT_FALSE(ValidateTracingMode("On").ok());
  EXPECT_TRUE(ValidateLogFormat("JSON").ok());
  EXPECT_FALSE(ValidateLogFormat("XML").ok());
}

}  // namespace
}  // namespace nimbus::control
