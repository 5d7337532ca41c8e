// S3 PutBucketNotificationConfiguration bodies (s3/notifications.h): parsed and
// validated as S3 does, then written back as GetBucketNotificationConfiguration
// answers and in the stored JSON form, and matched against object events.
// Checked: what was accepted writes back as XML that parses to the same
// configuration, and survives the storage form unchanged.
//
// Input: the XML body.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_input.h"
#include "s3/notifications.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace s3 = nimbus::s3;
  s3::NotificationError error;
  auto config = s3::ParseNotificationXml(nimbus::fuzz::AsText(data, size), error);
  if (!config.has_value()) {
    NIMBUS_FUZZ_CHECK(!error.code.empty(), "a refusal names its S3 error code");
    return 0;
  }
  const std::string stored = s3::EncodeNotificationConfig(*config);
  NIMBUS_FUZZ_CHECK(s3::EncodeNotificationConfig(s3::DecodeNotificationConfig(stored)) == stored,
                    "the stored form reads back the same");

  s3::NotificationError again_error;
  auto again = s3::ParseNotificationXml(s3::NotificationXml(*config), again_error);
  NIMBUS_FUZZ_CHECK(again.has_value(), again_error.message.c_str());
  NIMBUS_FUZZ_CHECK(s3::EncodeNotificationConfig(*again) == stored,
                    "the XML written back parses to the same");

  for (const auto* list : {&config->functions, &config->queues, &config->topics}) {
    for (const s3::NotificationTarget& t : *list) {
      (void)s3::Wants(t, "s3:ObjectCreated:Put", "photos/cat.jpg");
      (void)s3::Wants(t, "s3:ObjectRemoved:Delete", "");
    }
  }
  return 0;
}
