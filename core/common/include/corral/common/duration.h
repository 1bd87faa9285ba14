// Durations in flags, as Mesos writes them ("15secs", "500ms", "2mins",
// "1hrs", "1days") or in short forms ("15s", "2m", "1h"); a bare number is
// seconds.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace corral {

absl::StatusOr<double> ParseDurationSeconds(const std::string& text);

}  // namespace corral
