// When a job is due: cron expressions (5 fields, Metronome's) and ISO 8601
// repeating intervals (`R[n]/start/period`, Chronos's), each in an IANA
// time zone. Value types; parsing and the next fire time are pure.
//
// Daylight-saving changes, as a reader of a wall clock expects: a local
// time the change skips fires once, at the first valid instant after the
// gap (the transition itself); a local time that happens twice fires once,
// at its first occurrence.
#pragma once

#include <bitset>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace corral::batch {

class CronExpression {
 public:
  // "m h dom mon dow": numbers, `*`, ranges `a-b`, steps `*/n` and `a-b/n`,
  // lists, month and weekday names (JAN, MON), 7 as Sunday, and the macros
  // @yearly @annually @monthly @weekly @daily @midnight @hourly.
  static absl::StatusOr<CronExpression> Parse(const std::string& text);
  // The first fire time strictly after `after`; nullopt when there is none
  // within the next eight years (February 30th).
  std::optional<absl::Time> NextAfter(absl::Time after, const absl::TimeZone& zone) const;
  const std::string& text() const { return text_; }

 private:
  bool MatchesDay(const absl::CivilDay& d) const;
  std::string text_;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;     // 1..31
  std::bitset<13> months_;   // 1..12
  std::bitset<7> weekdays_;  // 0 = Sunday
  bool any_day_ = true;      // day of month was `*`
  bool any_weekday_ = true;  // day of week was `*`
};

// A period of ISO 8601: calendar parts (years, months, weeks, days) move
// the local date and keep the wall-clock time; H, M and S are exact.
struct IsoPeriod {
  int64_t years = 0, months = 0, days = 0;  // weeks count as 7 days
  absl::Duration exact;
  bool zero() const { return years == 0 && months == 0 && days == 0 && exact == absl::ZeroDuration(); }
};

class IsoSchedule {
 public:
  // `R[n]/<start>/<period>`: n fires in all (R or R-1: no end; R0: none).
  // A start without an offset or Z is a local time in `zone`; an empty
  // start is "now" (the caller's `now`).
  static absl::StatusOr<IsoSchedule> Parse(const std::string& text, const absl::TimeZone& zone,
                                           absl::Time now = absl::Now());
  // The first fire time strictly after `after`; nullopt once the
  // repetitions are used up.
  std::optional<absl::Time> NextAfter(absl::Time after) const;
  const std::string& text() const { return text_; }
  absl::Time start() const { return start_; }
  int64_t repetitions() const { return repetitions_; }  // -1: no end

 private:
  absl::Time Fire(int64_t k) const;  // the k-th fire time, k from 0
  std::string text_;
  int64_t repetitions_ = -1;
  absl::Time start_;
  absl::CivilSecond start_local_;
  absl::TimeZone zone_;
  IsoPeriod period_;
};

// A job's schedule expression, either kind.
class ScheduleExpression {
 public:
  // ISO 8601 when it starts with 'R', cron otherwise.
  static absl::StatusOr<ScheduleExpression> Parse(const std::string& text, const std::string& time_zone,
                                                  absl::Time now = absl::Now());
  std::optional<absl::Time> NextAfter(absl::Time after) const;
  bool iso() const { return iso_.has_value(); }
  const IsoSchedule* iso_schedule() const { return iso_ ? &*iso_ : nullptr; }
  const std::string& text() const { return iso_ ? iso_->text() : cron_->text(); }

 private:
  std::optional<CronExpression> cron_;
  std::optional<IsoSchedule> iso_;
  absl::TimeZone zone_;
};

// An ISO 8601 duration of exact parts ("PT60S", "PT1H30M", "P1D" as 24 h),
// in seconds: Chronos's epsilon.
absl::StatusOr<double> IsoDurationSeconds(const std::string& text);
std::string IsoDuration(double seconds);  // "PT60S"

// The instant a local time stands for, by the rules above.
absl::Time LocalToInstant(const absl::CivilSecond& local, const absl::TimeZone& zone);
// An IANA zone by name ("" and "Z" are UTC); InvalidArgument naming it.
absl::StatusOr<absl::TimeZone> LoadZone(const std::string& name);

}  // namespace corral::batch
