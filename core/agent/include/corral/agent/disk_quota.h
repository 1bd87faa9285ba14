// The disk resource of a container, enforced as Mesos's posix/disk
// isolator does: the sandbox's usage is measured every
// --container_disk_watch_interval (as `du` measures it: blocks allocated,
// symlinks not followed) and a container over its disk is killed, its
// tasks failing with REASON_CONTAINER_LIMITATION_DISK.
//
// Threading: DiskUsage walks a directory tree and may be slow; the agent
// calls it on a thread of its own, never on its loop.
#pragma once

#include <cstdint>
#include <string>

namespace corral {

// Bytes allocated to `path` and everything below it (st_blocks * 512,
// each inode counted once). 0 if it does not exist.
uint64_t DiskUsage(const std::string& path);

// "Disk usage (3.0 MB) exceeds quota (1.0 MB)", as Mesos says it.
std::string DiskLimitMessage(uint64_t used_bytes, uint64_t limit_bytes);

}  // namespace corral
