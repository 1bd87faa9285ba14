// When finished sandboxes are removed, as Mesos's agent decides it: a
// sandbox may live for --gc_delay after its container ends, less as the work
// directory's disk fills up, and not at all once usage passes
// 1 - --gc_disk_headroom. Oldest first; a running container's sandbox is
// never a candidate.
#pragma once

#include <algorithm>

namespace corral {

// The age (seconds) past which a finished sandbox is removed, given the
// fraction of the work directory's disk in use (0..1).
inline double SandboxMaxAge(double gc_delay, double gc_disk_headroom, double disk_usage) {
  return gc_delay * std::max(0.0, 1.0 - gc_disk_headroom - disk_usage);
}

}  // namespace corral
