#include "model/schedule.h"

#include <cmath>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace corral::batch {
namespace {

const char* const kMonths[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
const char* const kWeekdays[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

// A value of a field: a number or, for months and weekdays, a name.
bool FieldValue(absl::string_view s, int lo, int hi, const char* const* names, int first_name, int* out) {
  if (names != nullptr && s.size() == 3) {
    std::string up = absl::AsciiStrToUpper(s);
    const int count = names == kMonths ? 12 : 7;
    for (int i = 0; i < count; ++i) {
      if (up == names[i]) {
        *out = first_name + i;
        return true;
      }
    }
  }
  if (s.empty() || s.size() > 2 || !absl::SimpleAtoi(s, out)) return false;
  return *out >= lo && *out <= hi;
}

// One field into `bits` (index = value). `star` tells whether it was `*`.
template <size_t N>
absl::Status ParseField(absl::string_view text, const char* what, int lo, int hi, const char* const* names,
                        int first_name, std::bitset<N>* bits, bool* star) {
  *star = text == "*" || text == "?";
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("cron: the ", what, " field '", text, "' ", why));
  };
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    int step = 1;
    auto slash = part.find('/');
    absl::string_view range = part.substr(0, slash);
    if (slash != absl::string_view::npos) {
      absl::string_view st = part.substr(slash + 1);
      if (!absl::SimpleAtoi(st, &step) || step < 1 || step > hi) return bad("has a bad step");
    }
    int a = lo, b = hi;
    if (range != "*" && range != "?") {
      auto dash = range.find('-');
      if (!FieldValue(range.substr(0, dash), lo, hi, names, first_name, &a)) {
        return bad(absl::StrCat("is not a value in ", lo, "-", hi));
      }
      b = a;
      if (dash != absl::string_view::npos) {
        if (!FieldValue(range.substr(dash + 1), lo, hi, names, first_name, &b)) {
          return bad(absl::StrCat("is not a range in ", lo, "-", hi));
        }
        if (b < a) return bad("has a range that ends before it starts");
      } else if (slash != absl::string_view::npos) {
        b = hi;  // "5/15": from 5 on, every 15
      }
    }
    for (int v = a; v <= b; v += step) bits->set(static_cast<size_t>(v));
  }
  return absl::OkStatus();
}

int DaysInMonth(int64_t year, int month) {
  absl::CivilMonth m(year, month);
  return static_cast<int>((absl::CivilDay(m + 1) - 1).day());
}

bool ParseIsoNumber(absl::string_view& s, double* v) {
  size_t n = 0;
  while (n < s.size() && (absl::ascii_isdigit(static_cast<unsigned char>(s[n])) || s[n] == '.' || s[n] == ',')) ++n;
  if (n == 0) return false;
  std::string num(s.substr(0, n));
  for (char& c : num) {
    if (c == ',') c = '.';
  }
  s.remove_prefix(n);
  return absl::SimpleAtod(num, v) && std::isfinite(*v) && *v <= 1e9;
}

absl::StatusOr<IsoPeriod> ParsePeriod(absl::string_view s) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("ISO 8601: the period '", s, "' ", why));
  };
  absl::string_view rest = s;
  if (rest.empty() || rest[0] != 'P') return bad("does not start with P");
  rest.remove_prefix(1);
  IsoPeriod p;
  bool time = false, any = false;
  while (!rest.empty()) {
    if (rest[0] == 'T') {
      if (time) return bad("has two T");
      time = true;
      rest.remove_prefix(1);
      continue;
    }
    double v;
    if (!ParseIsoNumber(rest, &v) || rest.empty()) return bad("is not P[nY][nM][nW][nD][T[nH][nM][nS]]");
    char unit = rest[0];
    rest.remove_prefix(1);
    bool whole = v == std::floor(v);
    if (!time && unit != 'Y' && unit != 'M' && unit != 'W' && unit != 'D') return bad("has an unknown date unit");
    if (time && unit != 'H' && unit != 'M' && unit != 'S') return bad("has an unknown time unit");
    if (!time && !whole) return bad("has a fraction of a date unit");
    auto n = static_cast<int64_t>(v);
    if (!time) {
      if (unit == 'Y') p.years += n;
      if (unit == 'M') p.months += n;
      if (unit == 'W') p.days += 7 * n;
      if (unit == 'D') p.days += n;
    } else {
      if (unit == 'H') p.exact += absl::Seconds(v * 3600);
      if (unit == 'M') p.exact += absl::Seconds(v * 60);
      if (unit == 'S') p.exact += absl::Seconds(v);
    }
    any = true;
  }
  if (!any) return bad("has no parts");
  // Longer than any schedule means, and past what the arithmetic keeps exact.
  if (p.years > 1000 || p.months > 12000 || p.days > 366000 || p.exact > absl::Hours(24 * 366000)) {
    return bad("is longer than 1000 years");
  }
  return p;
}

// "2026-03-29T02:30:00[.sss][Z|+hh:mm|+hhmm]" (seconds optional).
absl::Status ParseStart(absl::string_view s, const absl::TimeZone& zone, absl::Time* instant,
                        absl::CivilSecond* local) {
  auto bad = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("ISO 8601: the start '", s, "' is not YYYY-MM-DDThh:mm[:ss[.sss]] with an optional Z or offset"));
  };
  absl::string_view body = s;
  std::optional<absl::Duration> offset;
  if (!body.empty() && (body.back() == 'Z' || body.back() == 'z')) {
    offset = absl::ZeroDuration();
    body.remove_suffix(1);
  } else if (body.size() > 6 && body.find('T') != absl::string_view::npos) {
    absl::string_view tail = body.substr(body.find('T'));
    auto sign = tail.find_first_of("+-");
    if (sign != absl::string_view::npos) {
      absl::string_view off = tail.substr(sign + 1);
      int hh = 0, mm = 0;
      std::string digits;
      for (char c : off) {
        if (c != ':') digits += c;
      }
      if (digits.size() != 4 && digits.size() != 2) return bad();
      if (!absl::SimpleAtoi(digits.substr(0, 2), &hh)) return bad();
      if (digits.size() == 4 && !absl::SimpleAtoi(digits.substr(2), &mm)) return bad();
      if (hh > 18 || mm > 59) return bad();
      offset = absl::Hours(hh) + absl::Minutes(mm);
      if (tail[sign] == '-') offset = -*offset;
      body.remove_suffix(tail.size() - sign);
    }
  }
  double fraction = 0;
  if (auto dot = body.find('.'); dot != absl::string_view::npos) {
    std::string frac = "0" + std::string(body.substr(dot));
    if (!absl::SimpleAtod(frac, &fraction)) return bad();
    body = body.substr(0, dot);
  }
  absl::CivilSecond cs;
  absl::CivilMinute cm;
  if (absl::ParseCivilTime(body, &cs)) {
  } else if (absl::ParseCivilTime(body, &cm)) {
    cs = absl::CivilSecond(cm);
  } else {
    return bad();
  }
  if (cs.year() < 1900 || cs.year() > 9999) {
    return absl::InvalidArgumentError(absl::StrCat("ISO 8601: the start '", s, "' is not in the years 1900-9999"));
  }
  if (offset) {
    *instant = absl::FromCivil(cs, absl::UTCTimeZone()) - *offset + absl::Seconds(fraction);
    *local = zone.At(*instant).cs;
  } else {
    *instant = LocalToInstant(cs, zone) + absl::Seconds(fraction);
    *local = cs;
  }
  return absl::OkStatus();
}

}  // namespace

absl::Time LocalToInstant(const absl::CivilSecond& local, const absl::TimeZone& zone) {
  absl::TimeZone::TimeInfo ti = zone.At(local);
  switch (ti.kind) {
    case absl::TimeZone::TimeInfo::SKIPPED: return ti.trans;  // the first instant after the gap
    case absl::TimeZone::TimeInfo::REPEATED: return ti.pre;   // the first of the two
    default: return ti.pre;
  }
}

absl::StatusOr<absl::TimeZone> LoadZone(const std::string& name) {
  if (name.empty() || name == "Z" || name == "UTC") return absl::UTCTimeZone();
  absl::TimeZone z;
  if (name.size() > 64 || name.find("..") != std::string::npos || !absl::LoadTimeZone(name, &z)) {
    return absl::InvalidArgumentError("unknown time zone '" + name + "' (an IANA name such as Europe/Berlin)");
  }
  return z;
}

absl::StatusOr<double> IsoDurationSeconds(const std::string& text) {
  auto p = ParsePeriod(absl::StripAsciiWhitespace(text));
  if (!p.ok()) return p.status();
  if (p->years != 0 || p->months != 0) {
    return absl::InvalidArgumentError("ISO 8601: the duration '" + text + "' has years or months");
  }
  return static_cast<double>(p->days) * 86400 + absl::ToDoubleSeconds(p->exact);
}

std::string IsoDuration(double seconds) { return absl::StrCat("PT", seconds, "S"); }

// --- cron ---

absl::StatusOr<CronExpression> CronExpression::Parse(const std::string& input) {
  std::string text(absl::StripAsciiWhitespace(input));
  static const std::pair<const char*, const char*> kMacros[] = {
      {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"}, {"@weekly", "0 0 * * 0"},
      {"@daily", "0 0 * * *"},  {"@midnight", "0 0 * * *"}, {"@hourly", "0 * * * *"}};
  std::string fields_text = text;
  if (!text.empty() && text[0] == '@') {
    bool found = false;
    for (const auto& [name, expansion] : kMacros) {
      if (absl::AsciiStrToLower(text) == name) {
        fields_text = expansion;
        found = true;
      }
    }
    if (!found) return absl::InvalidArgumentError("cron: unknown macro '" + text + "'");
  }
  std::vector<absl::string_view> f = absl::StrSplit(fields_text, absl::ByAnyChar(" \t"), absl::SkipEmpty());
  if (f.size() != 5) {
    return absl::InvalidArgumentError(absl::StrCat("cron: '", text, "' has ", f.size(),
                                                   " fields; it needs 5 (minute hour day-of-month month "
                                                   "day-of-week)"));
  }
  CronExpression c;
  c.text_ = text;
  bool star;
  if (auto s = ParseField(f[0], "minute", 0, 59, nullptr, 0, &c.minutes_, &star); !s.ok()) return s;
  if (auto s = ParseField(f[1], "hour", 0, 23, nullptr, 0, &c.hours_, &star); !s.ok()) return s;
  if (auto s = ParseField(f[2], "day-of-month", 1, 31, nullptr, 0, &c.days_, &c.any_day_); !s.ok()) return s;
  if (auto s = ParseField(f[3], "month", 1, 12, kMonths, 1, &c.months_, &star); !s.ok()) return s;
  std::bitset<8> wd;
  if (auto s = ParseField(f[4], "day-of-week", 0, 7, kWeekdays, 0, &wd, &c.any_weekday_); !s.ok()) return s;
  for (size_t i = 0; i < 7; ++i) c.weekdays_[i] = wd[i];
  if (wd[7]) c.weekdays_[0] = true;
  return c;
}

bool CronExpression::MatchesDay(const absl::CivilDay& d) const {
  bool dom = days_[static_cast<size_t>(d.day())];
  int wd = 0;
  switch (absl::GetWeekday(d)) {
    case absl::Weekday::sunday: wd = 0; break;
    case absl::Weekday::monday: wd = 1; break;
    case absl::Weekday::tuesday: wd = 2; break;
    case absl::Weekday::wednesday: wd = 3; break;
    case absl::Weekday::thursday: wd = 4; break;
    case absl::Weekday::friday: wd = 5; break;
    case absl::Weekday::saturday: wd = 6; break;
  }
  bool dow = weekdays_[static_cast<size_t>(wd)];
  // As every cron: with both fields restricted, either one matching is enough.
  if (!any_day_ && !any_weekday_) return dom || dow;
  return dom && dow;
}

std::optional<absl::Time> CronExpression::NextAfter(absl::Time after, const absl::TimeZone& zone) const {
  absl::CivilMinute c = absl::CivilMinute(zone.At(after).cs) + 1;
  const absl::CivilMinute limit = absl::CivilMinute(absl::CivilYear(c) + 8);
  while (c < limit) {
    if (!months_[static_cast<size_t>(c.month())]) {
      c = absl::CivilMinute(absl::CivilMonth(c) + 1);
      continue;
    }
    if (!MatchesDay(absl::CivilDay(c))) {
      c = absl::CivilMinute(absl::CivilDay(c) + 1);
      continue;
    }
    if (!hours_[static_cast<size_t>(c.hour())]) {
      c = absl::CivilMinute(absl::CivilHour(c) + 1);
      continue;
    }
    if (!minutes_[static_cast<size_t>(c.minute())]) {
      c += 1;
      continue;
    }
    absl::Time t = LocalToInstant(absl::CivilSecond(c), zone);
    // A candidate in the first pass of a repeated hour, when `after` is in
    // the second, lies behind: it has fired already.
    if (t > after) return t;
    c += 1;
  }
  return std::nullopt;
}

// --- ISO 8601 ---

absl::StatusOr<IsoSchedule> IsoSchedule::Parse(const std::string& input, const absl::TimeZone& zone, absl::Time now) {
  std::string text(absl::StripAsciiWhitespace(input));
  std::vector<absl::string_view> parts = absl::StrSplit(text, '/');
  if (parts.size() != 3 || parts[0].empty() || parts[0][0] != 'R') {
    return absl::InvalidArgumentError("ISO 8601: '" + text + "' is not R[n]/start/period");
  }
  IsoSchedule s;
  s.text_ = text;
  s.zone_ = zone;
  absl::string_view reps = parts[0].substr(1);
  if (!reps.empty() && reps != "-1") {
    if (!absl::SimpleAtoi(reps, &s.repetitions_) || s.repetitions_ < 0) {
      return absl::InvalidArgumentError(absl::StrCat("ISO 8601: the repetitions '", parts[0], "' are not R or Rn"));
    }
  }
  if (parts[1].empty()) {
    s.start_ = absl::FromUnixSeconds(absl::ToUnixSeconds(now));
    s.start_local_ = zone.At(s.start_).cs;
  } else if (auto st = ParseStart(parts[1], zone, &s.start_, &s.start_local_); !st.ok()) {
    return st;
  }
  auto p = ParsePeriod(parts[2]);
  if (!p.ok()) return p.status();
  s.period_ = *p;
  if (s.period_.zero() && s.repetitions_ != 0 && s.repetitions_ != 1) {
    return absl::InvalidArgumentError("ISO 8601: the period of '" + text + "' is zero");
  }
  if (s.period_.exact != absl::ZeroDuration() && s.period_.exact < absl::Seconds(1) && s.period_.years == 0 &&
      s.period_.months == 0 && s.period_.days == 0) {
    return absl::InvalidArgumentError("ISO 8601: the period of '" + text + "' is under a second");
  }
  return s;
}

absl::Time IsoSchedule::Fire(int64_t k) const {
  absl::CivilSecond local = start_local_;
  if (period_.years != 0 || period_.months != 0) {
    absl::CivilMonth m = absl::CivilMonth(local) + (period_.years * 12 + period_.months) * k;
    int day = std::min(local.day(), DaysInMonth(m.year(), m.month()));  // Jan 31 + P1M: Feb 28
    local = absl::CivilSecond(m.year(), m.month(), day, local.hour(), local.minute(), local.second());
  }
  if (period_.days != 0) {
    absl::CivilDay d = absl::CivilDay(local) + period_.days * k;
    local = absl::CivilSecond(d.year(), d.month(), d.day(), local.hour(), local.minute(), local.second());
  }
  absl::Time base = (period_.years == 0 && period_.months == 0 && period_.days == 0)
                        ? start_
                        : LocalToInstant(local, zone_) + (start_ - absl::FromUnixSeconds(absl::ToUnixSeconds(start_)));
  return base + period_.exact * k;
}

std::optional<absl::Time> IsoSchedule::NextAfter(absl::Time after) const {
  if (repetitions_ == 0) return std::nullopt;
  int64_t k = 0;
  if (after >= start_ && !period_.zero()) {
    absl::Duration nominal =
        absl::Hours(24) * (static_cast<double>(period_.years) * 365.2425 +
                           static_cast<double>(period_.months) * 30.436875 + static_cast<double>(period_.days)) +
        period_.exact;
    double est = absl::FDivDuration(after - start_, nominal);
    if (!std::isfinite(est) || est > 1e15) return std::nullopt;  // past any time a start of 1900-9999 reaches
    k = est > 2 ? static_cast<int64_t>(est) - 2 : 0;
  }
  if (period_.zero()) {
    absl::Time t = Fire(0);
    return t > after ? std::optional<absl::Time>(t) : std::nullopt;
  }
  for (int guard = 0; guard < 64; ++guard, ++k) {
    if (repetitions_ > 0 && k >= repetitions_) return std::nullopt;
    absl::Time t = Fire(k);
    if (t > after) return t;
  }
  return std::nullopt;
}

// --- either ---

absl::StatusOr<ScheduleExpression> ScheduleExpression::Parse(const std::string& text, const std::string& time_zone,
                                                             absl::Time now) {
  auto zone = LoadZone(time_zone);
  if (!zone.ok()) return zone.status();
  ScheduleExpression e;
  e.zone_ = *zone;
  std::string t(absl::StripAsciiWhitespace(text));
  if (t.empty()) return absl::InvalidArgumentError("the schedule is empty");
  if (t[0] == 'R') {
    auto iso = IsoSchedule::Parse(t, *zone, now);
    if (!iso.ok()) return iso.status();
    e.iso_ = std::move(*iso);
  } else {
    auto cron = CronExpression::Parse(t);
    if (!cron.ok()) return cron.status();
    e.cron_ = std::move(*cron);
  }
  return e;
}

std::optional<absl::Time> ScheduleExpression::NextAfter(absl::Time after) const {
  return iso_ ? iso_->NextAfter(after) : cron_->NextAfter(after, zone_);
}

}  // namespace corral::batch
