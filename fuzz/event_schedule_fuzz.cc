// EventBridge schedule expressions (events/event_pattern.h): "rate(5 minutes)"
// and "cron(0 12 * * ? *)" as PutRule's ScheduleExpression, then asked whether
// they fire, as the minute tick does.
//
// Input: the expression text.
#include <cstddef>
#include <cstdint>

#include "events/event_pattern.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto s = nimbus::events::ParseSchedule(nimbus::fuzz::AsText(data, size));
  if (!s.has_value()) return 0;
  NIMBUS_FUZZ_CHECK(s->rate_minutes >= 0, "a rate is positive or absent");
  if (s->rate_minutes == 0) {
    NIMBUS_FUZZ_CHECK(s->minutes != 0 && s->hours != 0 && s->months != 0,
                      "a cron schedule allows some minute");
    NIMBUS_FUZZ_CHECK((s->minutes >> 60) == 0 && (s->hours >> 24) == 0 && (s->months >> 13) == 0 &&
                          (s->days_of_month >> 32) == 0 && (s->days_of_week >> 8) == 0,
                      "cron fields hold values in their ranges");
  }
  // 2024-01-01T00:00Z as minutes since the epoch, and a week of its minutes.
  constexpr int64_t kOrigin = 28401120;
  for (int64_t m = kOrigin; m < kOrigin + 7 * 1440; m += 7)
    (void)nimbus::events::FiresAt(*s, m, kOrigin);
  return 0;
}
