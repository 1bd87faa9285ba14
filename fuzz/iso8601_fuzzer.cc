// libFuzzer: batch's ISO 8601 repeating-interval parser must never crash,
// and what it accepts must give fire times that move strictly forward and
// stop after its repetitions.
#include <cstddef>
#include <cstdint>
#include <string>

#include "model/schedule.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static const char* const kZones[] = {"UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"};
  static absl::TimeZone zones[4];
  static bool loaded = [] {
    for (int i = 0; i < 4; ++i) zones[i] = *corral::batch::LoadZone(kZones[i]);
    return true;
  }();
  (void)loaded;
  const absl::TimeZone& zone = zones[data[0] % 4];
  std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  absl::Time now = absl::FromUnixSeconds(1796000000);
  auto iso = corral::batch::IsoSchedule::Parse(text, zone, now);
  if (!iso.ok()) {
    if (iso.status().message().empty()) __builtin_trap();
    return 0;
  }
  absl::Time t = iso->start() - absl::Seconds(1);
  int fires = 0;
  for (int i = 0; i < 8; ++i) {
    auto next = iso->NextAfter(t);
    if (!next) break;
    if (*next <= t) __builtin_trap();
    t = *next;
    ++fires;
  }
  if (iso->repetitions() >= 0 && fires > iso->repetitions()) __builtin_trap();
  return 0;
}
