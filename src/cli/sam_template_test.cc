#include "cli/sam_template.h"

#include <gtest/gtest.h>

#include "base/encoding.h"

namespace nimbus::cli {
namespace {

PlanOptions Options(std::map<std::string, std::string> overrides = {}) {
  PlanOptions o;
  o.stack_name = "shop";
  o.template_dir = "/work/shop";
  o.parameter_overrides = std::move(overrides);
  o.endpoint = "http://127.0.0.1:9000";
  return o;
}

StackPlan Plan(std::string_view text, PlanOptions options = Options()) {
  auto plan = PlanStack(text, options);
  EXPECT_TRUE(plan.has_value()) << plan.error().message();
  return plan.has_value() ? *plan : StackPlan{};
}

std::string PlanError(std::string_view text, PlanOptions options = Options()) {
  auto plan = PlanStack(text, options);
  EXPECT_FALSE(plan.has_value());
  return plan.has_value() ? "" : plan.error().message();
}

constexpr char kThreeFunctions[] = R"(
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage:
    Type: String
    Default: dev
    AllowedValues: [dev, prod]
Globals:
  Function:
    Timeout: 10
    MemorySize: 256
    Environment:
      Variables:
        STAGE: !Ref Stage
        SHARED: global
Resources:
  Uploads:
    Type: AWS::S3::Bucket
  Jobs:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 60
  Orders:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions:
        - AttributeName: pk
          AttributeType: S
      KeySchema:
        - AttributeName: pk
          KeyType: HASH
      BillingMode: PAY_PER_REQUEST
      StreamSpecification:
        StreamViewType: NEW_IMAGE
  Shared:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layers/shared
      CompatibleRuntimes: [python3.12]
  OnUpload:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/on_upload/
      Handler: app.handler
      Runtime: python3.12
      Layers:
        - !Ref Shared
      Environment:
        Variables:
          SHARED: mine
          QUEUE_URL: !Ref Jobs
          TABLE: !Ref Orders
      Events:
        Upload:
          Type: S3
          Properties:
            Bucket: !Ref Uploads
            Events: s3:ObjectCreated:*
            Filter:
              S3Key:
                Rules:
                  - Name: prefix
                    Value: incoming/
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: !Sub "${AWS::StackName}-worker-${Stage}"
      CodeUri: src/worker
      Handler: index.handler
      Runtime: nodejs20.x
      Timeout: 30
      Events:
        Job:
          Type: SQS
          Properties:
            Queue: !GetAtt Jobs.Arn
            BatchSize: 5
        Changes:
          Type: DynamoDB
          Properties:
            Stream: !GetAtt Orders.StreamArn
            StartingPosition: TRIM_HORIZON
  Api:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/api
      Handler: app.handler
      Runtime: python3.12
      Events:
        Get:
          Type: HttpApi
          Properties:
            Path: /items/{id}
            Method: get
        Legacy:
          Type: Api
          Properties:
            Path: /legacy
            Method: POST
        Tick:
          Type: Schedule
          Properties:
            Schedule: rate(1 minute)
            Input: '{"tick": true}'
)";

TEST(SamTemplate, ResolvesAThreeFunctionTemplateIntoAPlan) {
  StackPlan plan = Plan(kThreeFunctions);
  EXPECT_TRUE(plan.warnings.empty()) << plan.warnings.at(0);
  ASSERT_EQ(plan.buckets.size(), 1u);
  EXPECT_EQ(plan.buckets[0].name, "shop-uploads");
  ASSERT_EQ(plan.queues.size(), 1u);
  EXPECT_EQ(plan.queues[0].name, "shop-Jobs");
  EXPECT_EQ(plan.queues[0].attributes,
            (std::map<std::string, std::string>{{"VisibilityTimeout", "60"}}));
  ASSERT_EQ(plan.tables.size(), 1u);
  EXPECT_EQ(plan.tables[0].name, "shop-Orders");
  EXPECT_EQ(plan.tables[0].hash_key, "pk");
  EXPECT_EQ(plan.tables[0].stream_view_type, "NEW_IMAGE");
  ASSERT_EQ(plan.layers.size(), 1u);
  EXPECT_EQ(plan.layers[0].name, "shop-Shared");
  EXPECT_EQ(plan.layers[0].content_path, "/work/shop/layers/shared");
  ASSERT_EQ(plan.functions.size(), 3u);

  const FunctionPlan& up = plan.functions[0];
  EXPECT_EQ(up.name, "shop-OnUpload");
  EXPECT_EQ(up.code_path, "/work/shop/src/on_upload/");
  EXPECT_EQ(up.timeout_s, 10);
  EXPECT_EQ(up.memory_mb, 256);
  EXPECT_EQ(up.environment, (std::map<std::string, std::string>{
                                {"STAGE", "dev"},
                                {"SHARED", "mine"},
                                {"QUEUE_URL", "http://127.0.0.1:9000/000000000000/shop-Jobs"},
                                {"TABLE", "shop-Orders"}}));
  EXPECT_EQ(up.layers, (std::vector<LayerRef>{{"Shared", ""}}));
  ASSERT_EQ(up.events.size(), 1u);
  const auto& s3 = std::get<S3EventPlan>(up.events[0].source);
  EXPECT_EQ(s3.bucket_logical_id, "Uploads");
  EXPECT_EQ(s3.bucket, "shop-uploads");
  EXPECT_EQ(s3.events, std::vector<std::string>{"s3:ObjectCreated:*"});
  EXPECT_EQ(s3.prefix, "incoming/");

  const FunctionPlan& worker = plan.functions[1];
  EXPECT_EQ(worker.name, "shop-worker-dev");
  EXPECT_EQ(worker.timeout_s, 30);
  ASSERT_EQ(worker.events.size(), 2u);
  const auto& sqs = std::get<QueueEventPlan>(worker.events[0].source);
  EXPECT_EQ(sqs.queue_arn, "arn:aws:sqs:us-east-1:000000000000:shop-Jobs");
  EXPECT_EQ(sqs.batch_size, 5);
  const auto& stream = std::get<StreamEventPlan>(worker.events[1].source);
  EXPECT_EQ(stream.table_logical_id, "Orders");
  EXPECT_EQ(stream.table, "shop-Orders");
  EXPECT_EQ(stream.starting_position, "TRIM_HORIZON");
  EXPECT_EQ(stream.batch_size, 100);

  const FunctionPlan& api = plan.functions[2];
  ASSERT_EQ(api.events.size(), 3u);
  EXPECT_EQ(std::get<HttpEventPlan>(api.events[0].source).route_key, "GET /items/{id}");
  EXPECT_EQ(std::get<HttpEventPlan>(api.events[0].source).payload_version, "2.0");
  EXPECT_EQ(std::get<HttpEventPlan>(api.events[1].source).route_key, "POST /legacy");
  EXPECT_EQ(std::get<HttpEventPlan>(api.events[1].source).payload_version, "1.0");
  const auto& tick = std::get<RuleEventPlan>(api.events[2].source);
  EXPECT_EQ(tick.rule_name, "shop-Api-Tick");
  EXPECT_EQ(tick.schedule, "rate(1 minute)");
  EXPECT_EQ(tick.input, R"({"tick": true})");
  EXPECT_TRUE(tick.enabled);
  EXPECT_TRUE(plan.HasHttpEvents());
}

TEST(SamTemplate, ParameterOverridesReplaceDefaultsAndAreChecked) {
  StackPlan plan = Plan(kThreeFunctions, Options({{"Stage", "prod"}}));
  EXPECT_EQ(plan.functions[1].name, "shop-worker-prod");
  EXPECT_EQ(plan.functions[0].environment.at("STAGE"), "prod");
  EXPECT_EQ(PlanError(kThreeFunctions, Options({{"Stage", "qa"}})),
            "Parameters.Stage: 'qa' is not one of the AllowedValues (dev, prod)");
  EXPECT_EQ(PlanError(kThreeFunctions, Options({{"Nope", "1"}})),
            "--parameter-overrides: Nope is not a parameter of the template");
}

TEST(SamTemplate, AParameterWithoutDefaultNeedsAnOverride) {
  constexpr char kText[] = R"(
Parameters:
  Bucket: {Type: String}
Resources:
  B:
    Type: AWS::S3::Bucket
    Properties: {BucketName: !Ref Bucket}
)";
  EXPECT_EQ(PlanError(kText),
            "Parameters.Bucket: has no Default; give it with --parameter-overrides Bucket=VALUE");
  EXPECT_EQ(Plan(kText, Options({{"Bucket", "my-data"}})).buckets.at(0).name, "my-data");
}

TEST(SamTemplate, LongFormsOfIntrinsicFunctionsWorkLikeShortForms) {
  constexpr char kText[] = R"(
Mappings:
  Sizes:
    dev: {Memory: 512}
Resources:
  Q:
    Type: AWS::SQS::Queue
  F:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: /abs/code.zip
      Handler: a.b
      Runtime: python3.12
      MemorySize: {"Fn::FindInMap": [Sizes, dev, Memory]}
      Environment:
        Variables:
          A: {"Ref": "Q"}
          B: {"Fn::GetAtt": ["Q", "Arn"]}
          C: {"Fn::Sub": ["${X}-${AWS::Region}-${AWS::AccountId}-${Q.QueueName}-${!Literal}", {X: {"Fn::Join": ["+", [a, b]]}}]}
          D: !Select [1, !Split [",", "x,y,z"]]
          E: !Base64 hi
          F: !Join ["", [!Ref AWS::StackName, "-", !GetAtt [F, Arn]]]
          G: !If [Cond, a, b]
)";
  std::string error = PlanError(kText);
  EXPECT_EQ(error,
            "Resources.F.Properties.Environment.Variables.G (Fn::If): conditions are not supported "
            "by nimbus deploy");
  std::string text = kText;
  text.erase(text.find("          G:"));
  StackPlan plan = Plan(text);
  const FunctionPlan& f = plan.functions.at(0);
  EXPECT_EQ(f.memory_mb, 512);
  EXPECT_EQ(f.code_path, "/abs/code.zip");
  EXPECT_EQ(f.environment,
            (std::map<std::string, std::string>{
                {"A", "http://127.0.0.1:9000/000000000000/shop-Q"},
                {"B", "arn:aws:sqs:us-east-1:000000000000:shop-Q"},
                {"C", "a+b-us-east-1-000000000000-shop-Q-${Literal}"},
                {"D", "y"},
                {"E", "aGk="},
                {"F", "shop-arn:aws:lambda:us-east-1:000000000000:function:shop-F"}}));
}

TEST(SamTemplate, NoValueRemovesAProperty) {
  constexpr char kText[] = R"(
Resources:
  F:
    Type: AWS::Serverless::Function
    Properties:
      InlineCode: "def handler(e, c): return 1"
      Handler: index.handler
      Runtime: python3.12
      Description: !Ref AWS::NoValue
      Environment:
        Variables:
          KEEP: "1"
          DROP: !Ref AWS::NoValue
)";
  StackPlan plan = Plan(kText);
  const FunctionPlan& f = plan.functions.at(0);
  EXPECT_EQ(f.description, "");
  EXPECT_EQ(f.environment, (std::map<std::string, std::string>{{"KEEP", "1"}}));
  EXPECT_EQ(f.inline_file, "index.py");
  EXPECT_EQ(f.inline_code, "def handler(e, c): return 1");
}

TEST(SamTemplate, UnknownResourceTypesAreErrorsNamingTheResource) {
  EXPECT_EQ(
      PlanError(R"(
Resources:
  Topic:
    Type: AWS::SNS::Topic
)"),
      "Resources.Topic: resource type AWS::SNS::Topic is not supported by nimbus deploy "
      "(supported: "
      "AWS::Serverless::Function, AWS::Serverless::LayerVersion, AWS::S3::Bucket, AWS::SQS::Queue, "
      "AWS::DynamoDB::Table, AWS::Serverless::SimpleTable)");
}

TEST(SamTemplate, UnknownEventTypesAreErrorsNamingTheFunctionAndEvent) {
  EXPECT_EQ(PlanError(R"(
Resources:
  F:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src
      Handler: a.b
      Runtime: python3.12
      Events:
        OnTopic:
          Type: SNS
          Properties: {Topic: arn:aws:sns:us-east-1:000000000000:t}
)"),
            "Resources.F.Properties.Events.OnTopic: event type SNS is not supported by nimbus "
            "deploy (supported: "
            "S3, SQS, DynamoDB, HttpApi, Api, Schedule, EventBridgeRule)");
}

TEST(SamTemplate, RequiredPropertiesAndWrongTypesAreNamed) {
  EXPECT_EQ(PlanError(R"(
Resources:
  F:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: src, Runtime: python3.12}
)"),
            "Resources.F.Properties.Handler: is required");
  EXPECT_EQ(PlanError(R"(
Resources:
  F:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: src, Runtime: python3.12, Handler: a.b, Timeout: soon}
)"),
            "Resources.F.Properties.Timeout: expected an integer, got 'soon'");
  EXPECT_EQ(PlanError(R"(
Resources:
  F:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: s3://bucket/key.zip, Runtime: python3.12, Handler: a.b}
)"),
            "Resources.F.Properties.CodeUri: only a local directory or .zip file is supported (not "
            "an S3 location)");
  EXPECT_EQ(PlanError(R"(
Resources:
  F:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: src, Runtime: python3.12, Handler: a.b, Environment: {Variables: {X: !Ref Nope}}}
)"),
            "Resources.F.Properties.Environment.Variables.X (Ref): Nope is not a parameter, pseudo "
            "parameter or "
            "resource of the template");
}

TEST(SamTemplate, MalformedYamlIsReportedWithItsLine) {
  EXPECT_EQ(PlanError("Resources:\n  F: [1, 2\n"),
            "the template is not valid YAML: line 3, column 1: end of sequence flow not found");
}

TEST(SamTemplate, ValuesKnownOnlyAfterCreationAreRefusedOutsideTheirPlace) {
  constexpr char kText[] = R"(
Resources:
  L:
    Type: AWS::Serverless::LayerVersion
    Properties: {ContentUri: layer}
  T:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: k, AttributeType: S}]
      KeySchema: [{AttributeName: k, KeyType: HASH}]
      StreamSpecification: {StreamViewType: KEYS_ONLY}
  F:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src
      Handler: a.b
      Runtime: python3.12
      Environment:
        Variables:
          X: VALUE
)";
  std::string text = kText;
  EXPECT_EQ(PlanError(text.replace(text.find("VALUE"), 5, "!Ref L")),
            "Resources.F.Properties.Environment.Variables.X: the ARN of layer version L is known "
            "only once it is "
            "published; use it in a function's Layers");
  text = kText;
  EXPECT_EQ(PlanError(text.replace(text.find("VALUE"), 5, "!Sub 'x-${T.StreamArn}'")),
            "Resources.F.Properties.Environment.Variables.X (Fn::Sub): T.StreamArn is known only "
            "once the table "
            "exists; use it as a DynamoDB event's Stream");
}

TEST(SamTemplate, GeneratedNamesFitTheirLimitsAndStayTheSame) {
  PlanOptions o = Options();
  o.stack_name = "a-very-long-stack-name-for-a-project-with-many-functions";
  constexpr char kText[] = R"(
Resources:
  ProcessIncomingOrdersFromTheWarehouse:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: src, Handler: a.b, Runtime: python3.12}
  UploadedInvoiceDocumentsForTheAccountingTeam:
    Type: AWS::S3::Bucket
  Fifo:
    Type: AWS::SQS::Queue
    Properties: {FifoQueue: true}
)";
  StackPlan a = Plan(kText, o);
  StackPlan b = Plan(kText, o);
  const std::string& fn = a.functions.at(0).name;
  EXPECT_EQ(fn.size(), 64u);
  EXPECT_TRUE(fn.starts_with("a-very-long-stack-name-for-a-project-with-many-function-")) << fn;
  EXPECT_EQ(fn, b.functions.at(0).name);
  const std::string& bucket = a.buckets.at(0).name;
  EXPECT_EQ(bucket.size(), 63u);
  EXPECT_EQ(bucket, AsciiLower(bucket));
  EXPECT_EQ(a.queues.at(0).name,
            "a-very-long-stack-name-for-a-project-with-many-functions-Fifo.fifo");
  EXPECT_EQ(a.queues.at(0).attributes.at("FifoQueue"), "true");
}

TEST(SamTemplate, TwoEventsCannotShareAnHttpRoute) {
  EXPECT_EQ(PlanError(R"(
Resources:
  A:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: a
      Handler: a.b
      Runtime: python3.12
      Events:
        Get: {Type: HttpApi, Properties: {Path: /x, Method: GET}}
  B:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: b
      Handler: a.b
      Runtime: python3.12
      Events:
        Get: {Type: HttpApi, Properties: {Path: /x, Method: get}}
)"),
            "Resources.B.Properties.Events.Get: the route GET /x is also the route of A.Get");
}

TEST(SamTemplate, EventBridgeRulePatternsBecomeJsonAndIgnoredPropertiesAreWarned) {
  StackPlan plan = Plan(R"(
Resources:
  F:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src
      Handler: a.b
      Runtime: python3.12
      Tracing: Active
      Policies: [AWSLambdaBasicExecutionRole]
      Events:
        Orders:
          Type: EventBridgeRule
          Properties:
            Pattern:
              source: [shop]
              detail:
                total: [{numeric: [">", 100]}]
                label: ["100"]
            State: DISABLED
)");
  const auto& rule = std::get<RuleEventPlan>(plan.functions.at(0).events.at(0).source);
  EXPECT_EQ(rule.pattern,
            R"({"source":["shop"],"detail":{"total":[{"numeric":[">",100]}],"label":["100"]}})");
  EXPECT_FALSE(rule.enabled);
  EXPECT_EQ(rule.rule_name, "shop-F-Orders");
  EXPECT_EQ(
      plan.warnings,
      std::vector<std::string>{
          "Resources.F.Properties.Tracing is not supported by nimbus deploy and was ignored"});
}

TEST(SamTemplate, SimpleTablesDefaultToAnIdStringKeyOnDemand) {
  StackPlan plan = Plan(R"(
Resources:
  Users:
    Type: AWS::Serverless::SimpleTable
  Counts:
    Type: AWS::Serverless::SimpleTable
    Properties:
      TableName: counts
      PrimaryKey: {Name: n, Type: Number}
      ProvisionedThroughput: {ReadCapacityUnits: 2, WriteCapacityUnits: 3}
)");
  ASSERT_EQ(plan.tables.size(), 2u);
  EXPECT_EQ(plan.tables[0].name, "shop-Users");
  EXPECT_EQ(plan.tables[0].attributes,
            (std::vector<std::pair<std::string, std::string>>{{"id", "S"}}));
  EXPECT_EQ(plan.tables[0].billing_mode, "PAY_PER_REQUEST");
  EXPECT_EQ(plan.tables[1].name, "counts");
  EXPECT_EQ(plan.tables[1].hash_key, "n");
  EXPECT_EQ(plan.tables[1].billing_mode, "PROVISIONED");
  EXPECT_EQ(plan.tables[1].write_capacity, 3);
}

TEST(SamTemplate, GlobalListsComeBeforeTheFunctionsOwn) {
  StackPlan plan = Plan(R"(
Globals:
  Function:
    Runtime: python3.12
    Handler: app.handler
    Layers: [arn:aws:lambda:us-east-1:000000000000:layer:common:3]
Resources:
  F:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src
      Layers: [arn:aws:lambda:us-east-1:000000000000:layer:mine:1]
)");
  EXPECT_EQ(plan.functions.at(0).layers,
            (std::vector<LayerRef>{{"", "arn:aws:lambda:us-east-1:000000000000:layer:common:3"},
                                   {"", "arn:aws:lambda:us-east-1:000000000000:layer:mine:1"}}));
  EXPECT_EQ(plan.functions.at(0).runtime, "python3.12");
}

TEST(SamTemplate, S3EventsMustNameABucketOfTheTemplate) {
  EXPECT_EQ(PlanError(R"(
Resources:
  F:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src
      Handler: a.b
      Runtime: python3.12
      Events:
        Up: {Type: S3, Properties: {Bucket: somebody-elses, Events: s3:ObjectCreated:*}}
)"),
            "Resources.F.Properties.Events.Up.Properties.Bucket: must reference an AWS::S3::Bucket "
            "of the template "
            "(!Ref)");
}

TEST(SamTemplate, StackNamesComeFromTheDirectoryAndAreValidated) {
  EXPECT_EQ(StackNameFromDirectory("/home/me/sam-app"), "sam-app");
  EXPECT_EQ(StackNameFromDirectory("/home/me/my_app.v2/"), "my-app-v2");
  EXPECT_EQ(StackNameFromDirectory("/tmp/2024-demo"), "stack-2024-demo");
  EXPECT_TRUE(ValidStackName("sam-app"));
  EXPECT_FALSE(ValidStackName("1app"));
  EXPECT_FALSE(ValidStackName("my_app"));
  EXPECT_FALSE(ValidStackName(""));
}

TEST(SamTemplate, ParameterOverridesAreKeyValuePairs) {
  auto ok = ParseParameterOverrides({"A=1", "B=x=y", "C="});
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(*ok, (std::map<std::string, std::string>{{"A", "1"}, {"B", "x=y"}, {"C", ""}}));
  EXPECT_EQ(ParseParameterOverrides({"A"}).error().message(),
            "--parameter-overrides A: expected Key=Value");
  EXPECT_EQ(ParseParameterOverrides({"A=1", "A=2"}).error().message(),
            "--parameter-overrides: A is given twice");
}

}  // namespace
}  // namespace nimbus::cli
