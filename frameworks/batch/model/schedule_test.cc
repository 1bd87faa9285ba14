#include "model/schedule.h"

#include <gtest/gtest.h>

namespace corral::batch {
namespace {

absl::Time T(const std::string& rfc3339) {
  absl::Time t;
  std::string err;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, rfc3339, &t, &err)) << rfc3339 << ": " << err;
  return t;
}

std::string Next(const std::string& expr, const std::string& zone, const std::string& after) {
  auto e = ScheduleExpression::Parse(expr, zone, T("2026-01-01T00:00:00Z"));
  EXPECT_TRUE(e.ok()) << expr << ": " << e.status();
  if (!e.ok()) return "error";
  auto n = e->NextAfter(T(after));
  return n ? absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", *n, absl::UTCTimeZone()) : "none";
}

struct Case {
  const char* expr;
  const char* zone;
  const char* after;
  const char* next;
};

// Each row: the first fire time strictly after `after`.
const Case kCases[] = {
    // cron basics
    {"*/15 * * * *", "UTC", "2026-12-07T12:07:00Z", "2026-12-07T12:15:00Z"},
    {"0 2 * * *", "UTC", "2026-12-07T02:00:00Z", "2026-12-08T02:00:00Z"},
    {"@hourly", "UTC", "2026-12-07T12:00:30Z", "2026-12-07T13:00:00Z"},
    {"0 9 * JAN-MAR MON-FRI", "UTC", "2026-12-07T10:00:00Z", "2027-01-01T09:00:00Z"},
    {"0 0 * * 7", "UTC", "2026-12-07T00:00:00Z", "2026-12-13T00:00:00Z"},  // 7 is Sunday
    {"5/20 * * * *", "UTC", "2026-12-07T12:06:00Z", "2026-12-07T12:25:00Z"},
    // day of month OR day of week when both are restricted (the 13th or a Friday)
    {"0 0 13 * 5", "UTC", "2026-12-01T00:00:00Z", "2026-12-04T00:00:00Z"},
    // leap days
    {"0 0 29 2 *", "UTC", "2026-01-01T00:00:00Z", "2028-02-29T00:00:00Z"},
    {"0 0 30 2 *", "UTC", "2026-01-01T00:00:00Z", "none"},
    // Europe/Berlin, spring forward 2026-03-29 02:00 CET -> 03:00 CEST (01:00Z):
    // the skipped 02:30 runs once, at the transition.
    {"30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z", "2026-03-29T01:00:00Z"},
    {"30 2 * * *", "Europe/Berlin", "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"},
    // ...fall back 2026-10-25 03:00 CEST -> 02:00 CET: 02:30 happens twice, runs at the first.
    {"30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z", "2026-10-25T00:30:00Z"},
    {"30 2 * * *", "Europe/Berlin", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"},
    // ...every minute: the repeated hour is not run again.
    {"* * * * *", "Europe/Berlin", "2026-10-25T00:59:00Z", "2026-10-25T02:00:00Z"},
    // America/New_York, spring forward 2026-03-08 02:00 EST -> 03:00 EDT (07:00Z).
    {"0 2 * * *", "America/New_York", "2026-03-07T12:00:00Z", "2026-03-08T07:00:00Z"},
    // ...fall back 2026-11-01 02:00 EDT -> 01:00 EST: 01:30 runs once, in EDT.
    {"30 1 * * *", "America/New_York", "2026-10-31T12:00:00Z", "2026-11-01T05:30:00Z"},
    {"30 1 * * *", "America/New_York", "2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"},
    // ISO 8601: a local start in the zone, a calendar day keeps the wall clock.
    {"R/2026-03-28T02:30:00/P1D", "Europe/Berlin", "2026-03-27T00:00:00Z", "2026-03-28T01:30:00Z"},
    {"R/2026-03-28T02:30:00/P1D", "Europe/Berlin", "2026-03-28T01:30:00Z", "2026-03-29T01:00:00Z"},
    {"R/2026-03-28T02:30:00/P1D", "Europe/Berlin", "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"},
    // ...hours are exact: PT24H across the change is not P1D.
    {"R/2026-03-28T02:30:00/PT24H", "Europe/Berlin", "2026-03-28T01:30:00Z", "2026-03-29T01:30:00Z"},
    {"R/2026-11-01T00:30:00/P1D", "America/New_York", "2026-11-01T04:30:00Z", "2026-11-02T05:30:00Z"},
    // ...repetitions count fires: R3 is 00:00, 01:00, 02:00.
    {"R3/2026-01-01T00:00:00Z/PT1H", "UTC", "2026-01-01T01:30:00Z", "2026-01-01T02:00:00Z"},
    {"R3/2026-01-01T00:00:00Z/PT1H", "UTC", "2026-01-01T02:00:00Z", "none"},
    {"R0/2026-01-01T00:00:00Z/PT1H", "UTC", "2025-01-01T00:00:00Z", "none"},
    // ...months clamp to the month's end, leap years included.
    {"R/2024-01-31T00:00:00Z/P1M", "UTC", "2024-02-01T00:00:00Z", "2024-02-29T00:00:00Z"},
    {"R/2024-01-31T00:00:00Z/P1M", "UTC", "2024-02-29T00:00:00Z", "2024-03-31T00:00:00Z"},
    {"R/2024-02-29T12:00:00Z/P1Y", "UTC", "2024-03-01T00:00:00Z", "2025-02-28T12:00:00Z"},
    // ...an offset fixes the instant; the zone still rules calendar steps.
    {"R/2026-12-07T02:00:00+01:00/PT2H", "UTC", "2026-12-07T00:00:00Z", "2026-12-07T01:00:00Z"},
    {"R/2026-12-07T02:00:00.000Z/PT2S", "UTC", "2026-12-07T02:00:03Z", "2026-12-07T02:00:04Z"},
    // ...far from the start, without walking every step.
    {"R/2000-01-01T00:00:00Z/PT1S", "UTC", "2026-12-07T00:00:00Z", "2026-12-07T00:00:01Z"},
    {"R/2000-01-01T00:00:00Z/P1W", "UTC", "2026-12-07T00:00:00Z", "2026-12-12T00:00:00Z"},  // Saturdays
};

TEST(ScheduleTest, NextFireTimes) {
  for (const auto& c : kCases) {
    EXPECT_EQ(Next(c.expr, c.zone, c.after), c.next) << c.expr << " in " << c.zone << " after " << c.after;
  }
}

TEST(ScheduleTest, BadExpressionsNameWhatIsWrong) {
  struct Bad {
    const char* expr;
    const char* zone;
    const char* says;
  };
  for (const Bad& b : std::vector<Bad>{
           {"61 * * * *", "UTC", "minute"},
           {"* * *", "UTC", "5"},
           {"5-1 * * * *", "UTC", "ends before it starts"},
           {"* * * FOO *", "UTC", "month"},
           {"* * * * XYZ", "UTC", "day-of-week"},  // found by the fuzzer: read past the names
           {"R5/202444444444444446-12-27T02:00:00/P1W", "UTC", "1900-9999"},  // ...and an endless year
           {"R/2026-01-01T00:00:00Z/P100000Y", "UTC", "1000 years"},
           {"*/0 * * * *", "UTC", "step"},
           {"@often", "UTC", "macro"},
           {"R/notadate/PT1H", "UTC", "start"},
           {"R/2026-01-01T00:00:00Z/1H", "UTC", "period"},
           {"R/2026-01-01T00:00:00Z/P1.5D", "UTC", "fraction"},
           {"R/2026-01-01T00:00:00Z/PT0.5S", "UTC", "under a second"},
           {"Rx/2026-01-01T00:00:00Z/PT1H", "UTC", "repetitions"},
           {"0 * * * *", "Mars/Olympus_Mons", "time zone"},
           {"", "UTC", "empty"},
       }) {
    auto e = ScheduleExpression::Parse(b.expr, b.zone);
    ASSERT_FALSE(e.ok()) << b.expr;
    EXPECT_NE(std::string(e.status().message()).find(b.says), std::string::npos) << e.status();
  }
}

TEST(ScheduleTest, EmptyIsoStartIsNow) {
  absl::Time now = T("2026-12-07T10:00:00Z");
  auto e = ScheduleExpression::Parse("R//PT1M", "UTC", now);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(*e->NextAfter(now), now + absl::Minutes(1));
}

TEST(ScheduleTest, IsoDurations) {
  EXPECT_EQ(*IsoDurationSeconds("PT60S"), 60);
  EXPECT_EQ(*IsoDurationSeconds("PT1H30M"), 5400);
  EXPECT_EQ(*IsoDurationSeconds("P1D"), 86400);
  EXPECT_FALSE(IsoDurationSeconds("P1M").ok());
  EXPECT_FALSE(IsoDurationSeconds("60").ok());
}

}  // namespace
}  // namespace corral::batch
