// libFuzzer: batch's cron parser must never crash, and what it accepts
// must give fire times that move strictly forward, in any zone.
#include <cstddef>
#include <cstdint>
#include <string>

#include "model/schedule.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static const char* const kZones[] = {"UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"};
  static absl::TimeZone zones[4];
  static bool loaded = [] {
    for (int i = 0; i < 4; ++i) zones[i] = *corral::batch::LoadZone(kZones[i]);
    return true;
  }();
  (void)loaded;
  const absl::TimeZone& zone = zones[data[0] % 4];
  std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  auto cron = corral::batch::CronExpression::Parse(text);
  if (!cron.ok()) {
    if (cron.status().message().empty()) __builtin_trap();  // an error says what is wrong
    return 0;
  }
  // Around a daylight-saving change in each zone and a leap day.
  absl::Time t = absl::FromUnixSeconds(1803945600 + (data[0] / 4) * 86400);  // 2027-03-01 on
  for (int i = 0; i < 8; ++i) {
    auto next = cron->NextAfter(t, zone);
    if (!next) break;
    if (*next <= t) __builtin_trap();
    t = *next;
  }
  return 0;
}
