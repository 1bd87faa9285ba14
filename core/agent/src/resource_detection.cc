// What the agent offers when --resources does not say: the machine's cpus
// and memory, and the disk of the work dir's filesystem.
#include "agent_impl.h"

namespace corral {

Resources DetectResources(const std::string& work_dir) {
  ResourceItem cpus;
  cpus.name = "cpus";
  cpus.kind = ResourceKind::kScalar;
  cpus.scalar = ToMilli(std::max(1u, std::thread::hardware_concurrency()));
  Resources r;
  r.Add(cpus);
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  uint64_t kb = 0;
  std::string unit;
  while (meminfo >> key >> kb >> unit) {
    if (key == "MemTotal:") break;
  }
  uint64_t mem_mb = kb / 1024;
  mem_mb -= std::min<uint64_t>(1024, mem_mb / 2);
  ResourceItem mem;
  mem.name = "mem";
  mem.kind = ResourceKind::kScalar;
  mem.scalar = ToMilli(static_cast<double>(mem_mb));
  r.Add(mem);
  struct statvfs st;
  if (::statvfs(work_dir.c_str(), &st) == 0) {
    // The file system's size, not its free space: what is detected must not
    // change between runs, or a restarted agent would not recover.
    uint64_t disk_mb = static_cast<uint64_t>(st.f_blocks) * st.f_frsize / (1024 * 1024);
    disk_mb -= std::min<uint64_t>(5120, disk_mb / 2);
    ResourceItem disk;
    disk.name = "disk";
    disk.kind = ResourceKind::kScalar;
    disk.scalar = ToMilli(static_cast<double>(disk_mb));
    r.Add(disk);
  }
  ResourceItem ports;
  ports.name = "ports";
  ports.kind = ResourceKind::kRanges;
  ports.ranges.push_back({31000, 32000});
  r.Add(ports);
  return r;
}

}  // namespace corral
