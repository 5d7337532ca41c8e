#include "s3/notifications.h"

#include <gtest/gtest.h>

namespace nimbus::s3 {
namespace {

constexpr const char* kConfig = R"(<NotificationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <LambdaFunctionConfiguration>
    <Id>images</Id>
    <CloudFunction>arn:aws:lambda:us-east-1:000000000000:function:thumbs</CloudFunction>
    <Event>s3:ObjectCreated:*</Event>
    <Filter><S3Key><FilterRule><Name>Prefix</Name><Value>images/</Value></FilterRule>
      <FilterRule><Name>suffix</Name><Value>.jpg</Value></FilterRule></S3Key></Filter>
  </LambdaFunctionConfiguration>
  <LambdaFunctionConfiguration>
    <CloudFunction>arn:aws:lambda:us-east-1:000000000000:function:audit</CloudFunction>
    <Event>s3:ObjectRemoved:Delete</Event>
  </LambdaFunctionConfiguration>
</NotificationConfiguration>)";

TEST(NotificationsTest, ParsesFiltersAndMatchesEventsAndKeys) {
  NotificationError error;
  auto c = ParseNotificationXml(kConfig, error);
  ASSERT_TRUE(c.has_value()) << error.message;
  ASSERT_EQ(c->functions.size(), 2u);
  const auto& images = c->functions[0];
  EXPECT_EQ(images.id, "images");
  EXPECT_TRUE(Wants(images, "s3:ObjectCreated:Put", "images/cat.jpg"));
  EXPECT_TRUE(Wants(images, "s3:ObjectCreated:Copy", "images/a/b.jpg"));
  EXPECT_FALSE(Wants(images, "s3:ObjectCreated:Put", "images/cat.png"));
  EXPECT_FALSE(Wants(images, "s3:ObjectCreated:Put", "docs/cat.jpg"));
  EXPECT_FALSE(Wants(images, "s3:ObjectRemoved:Delete", "images/cat.jpg"));
  EXPECT_FALSE(c->functions[1].id.empty()) << "an Id is generated";
  EXPECT_TRUE(Wants(c->functions[1], "s3:ObjectRemoved:Delete", "anything"));
  // Stored and read back, and rendered as S3 renders it.
  NotificationConfig back = DecodeNotificationConfig(EncodeNotificationConfig(*c));
  ASSERT_EQ(back.functions.size(), 2u);
  EXPECT_EQ(back.functions[0].rules.size(), 2u);
  std::string xml = NotificationXml(back);
  EXPECT_NE(xml.find("<CloudFunctionConfiguration><Id>images</Id><CloudFunction>arn:aws:lambda:us-east-1:"
                     "000000000000:function:thumbs</CloudFunction><Event>s3:ObjectCreated:*</Event>"),
            std::string::npos)
      << xml;
  EXPECT_NE(xml.find("<FilterRule><Name>Prefix</Name><Value>images/</Value></FilterRule>"),
            std::string::npos);
  EXPECT_TRUE(DecodeNotificationConfig("").empty());
}

TEST(NotificationsTest, RefusesWhatS3Refuses) {
  NotificationError error;
  EXPECT_FALSE(ParseNotificationXml("<NotificationConfiguration><Lambda", error).has_value());
  EXPECT_EQ(error.code, "MalformedXML");
  EXPECT_FALSE(ParseNotificationXml(
                   "<NotificationConfiguration><LambdaFunctionConfiguration><CloudFunction>arn"
                   "</CloudFunction><Event>s3:ObjectCreated:Nope</Event></LambdaFunctionConfiguration>"
                   "</NotificationConfiguration>",
                   error)
                   .has_value());
  EXPECT_EQ(error.code, "InvalidArgument");
  EXPECT_EQ(error.argument_value, "s3:ObjectCreated:Nope");
  EXPECT_FALSE(ParseNotificationXml(
                   "<NotificationConfiguration><LambdaFunctionConfiguration><CloudFunction>arn"
                   "</CloudFunction><Event>s3:ObjectCreated:*</Event><Filter><S3Key><FilterRule><Name>"
                   "middle</Name><Value>x</Value></FilterRule></S3Key></Filter>"
                   "</LambdaFunctionConfiguration></NotificationConfiguration>",
                   error)
                   .has_value());
  EXPECT_EQ(error.message, "filter rule name must be either prefix or suffix");
  // Two configurations for s3:ObjectCreated:Put on overlapping keys.
  EXPECT_FALSE(ParseNotificationXml(
                   "<NotificationConfiguration>"
                   "<LambdaFunctionConfiguration><CloudFunction>a</CloudFunction><Event>s3:ObjectCreated:*"
                   "</Event></LambdaFunctionConfiguration>"
                   "<LambdaFunctionConfiguration><CloudFunction>b</CloudFunction><Event>s3:ObjectCreated:Put"
                   "</Event><Filter><S3Key><FilterRule><Name>prefix</Name><Value>x/</Value></FilterRule>"
                   "</S3Key></Filter></LambdaFunctionConfiguration></NotificationConfiguration>",
                   error)
                   .has_value());
  EXPECT_NE(error.message.find("Configurations overlap"), std::string::npos);
  // Disjoint prefixes do not overlap.
  EXPECT_TRUE(ParseNotificationXml(
                  "<NotificationConfiguration>"
                  "<LambdaFunctionConfiguration><CloudFunction>a</CloudFunction><Event>s3:ObjectCreated:*"
                  "</Event><Filter><S3Key><FilterRule><Name>prefix</Name><Value>a/</Value></FilterRule>"
                  "</S3Key></Filter></LambdaFunctionConfiguration>"
                  "<LambdaFunctionConfiguration><CloudFunction>b</CloudFunction><Event>s3:ObjectCreated:Put"
                  "</Event><Filter><S3Key><FilterRule><Name>prefix</Name><Value>b/</Value></FilterRule>"
                  "</S3Key></Filter></LambdaFunctionConfiguration></NotificationConfiguration>",
                  error)
                  .has_value())
      << error.message;
}

// Found by fuzz/s3_notification_fuzz: a configuration holding bytes that are not
// UTF-8 was accepted, then lost, because its stored JSON could not be read back.
TEST(NotificationsTest, RefusesTextThatIsNotUtf8AsMalformed) {
  auto config = [](std::string id, std::string prefix) {
    return "<NotificationConfiguration><LambdaFunctionConfiguration><Id>" + id +
           "</Id><CloudFunction>arn:aws:lambda:us-east-1:000000000000:function:f</CloudFunction>"
           "<Event>s3:ObjectCreated:*</Event><Filter><S3Key><FilterRule><Name>prefix</Name><Value>" +
           prefix + "</Value></FilterRule></S3Key></Filter></LambdaFunctionConfiguration>"
                    "</NotificationConfiguration>";
  };
  NotificationError error;
  EXPECT_FALSE(ParseNotificationXml(config("t\xf7humbs", "a/"), error).has_value());
  EXPECT_EQ(error.code, "MalformedXML");
  error = {};
  // A character reference to a surrogate: pugixml writes it as ill-formed UTF-8.
  EXPECT_FALSE(ParseNotificationXml(config("thumbs", "&#xD800;/"), error).has_value());
  EXPECT_EQ(error.code, "MalformedXML");
  // Well-formed UTF-8 is kept, and survives storage.
  auto ok = ParseNotificationXml(config("caf\xc3\xa9", "\xe2\x82\xac/"), error);
  ASSERT_TRUE(ok.has_value()) << error.message;
  NotificationConfig back = DecodeNotificationConfig(EncodeNotificationConfig(*ok));
  ASSERT_EQ(back.functions.size(), 1u);
  EXPECT_EQ(back.functions[0].id, "caf\xc3\xa9");
  EXPECT_EQ(back.functions[0].rules[0].value, "\xe2\x82\xac/");
}

TEST(NotificationsTest, TheEventRecordHasS3sShape) {
  ObjectEvent e;
  e.event_name = "ObjectCreated:Put";
  e.region = "us-east-1";
  e.time = std::chrono::system_clock::time_point(std::chrono::milliseconds(1714564800000));
  e.principal = "AKID";
  e.source_ip = "127.0.0.1";
  e.request_id = "C3D13FE58DE4C810";
  e.configuration_id = "on-upload";
  e.bucket = "my-bucket";
  e.key = "photos/my cat.jpg";
  e.size = 1024;
  e.etag = "d41d8cd98f00b204e9800998ecf8427e";
  e.sequencer = "0055AED6DCD90281E5";
  EXPECT_EQ(S3EventDocument(e),
            R"({"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1",)"
            R"("eventTime":"2024-05-01T12:00:00.000Z","eventName":"ObjectCreated:Put",)"
            R"("userIdentity":{"principalId":"AWS:AKID"},"requestParameters":{"sourceIPAddress":"127.0.0.1"},)"
            R"("responseElements":{"x-amz-request-id":"C3D13FE58DE4C810","x-amz-id-2":"C3D13FE58DE4C810"},)"
            R"("s3":{"s3SchemaVersion":"1.0","configurationId":"on-upload","bucket":{"name":"my-bucket",)"
            R"("ownerIdentity":{"principalId":"nimbus"},"arn":"arn:aws:s3:::my-bucket"},)"
            R"("object":{"key":"photos/my+cat.jpg","sequencer":"0055AED6DCD90281E5","size":1024,)"
            R"("eTag":"d41d8cd98f00b204e9800998ecf8427e"}}}]})");
}

}  // namespace
}  // namespace nimbus::s3
