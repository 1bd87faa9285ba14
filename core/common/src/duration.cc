#include "corral/common/duration.h"

#include <cmath>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"

namespace corral {

absl::StatusOr<double> ParseDurationSeconds(const std::string& text) {
  static const std::pair<const char*, double> kUnits[] = {
      {"ns", 1e-9},    {"us", 1e-6},   {"ms", 1e-3}, {"secs", 1},       {"sec", 1},   {"s", 1},
      {"mins", 60},    {"min", 60},    {"m", 60},    {"hrs", 3600},     {"hr", 3600}, {"h", 3600},
      {"days", 86400}, {"day", 86400}, {"d", 86400}, {"weeks", 604800}, {"w", 604800}};
  if (text.empty()) return absl::InvalidArgumentError("empty duration");
  char* end = nullptr;
  double value = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || !std::isfinite(value) || value < 0) {
    return absl::InvalidArgumentError(absl::StrCat("'", text, "' is not a duration (e.g. 15secs, 500ms, 2mins)"));
  }
  std::string unit(end);
  if (unit.empty()) return value;
  for (const auto& [name, scale] : kUnits) {
    if (unit == name) return value * scale;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("'", text, "' has an unknown unit '", unit, "' (use ns, us, ms, secs, mins, hrs, days)"));
}

}  // namespace corral
