#include "corral/agent/disk_quota.h"

#include <sys/stat.h>

#include <filesystem>
#include <set>
#include <utility>

#include "absl/strings/str_format.h"

namespace corral {

uint64_t DiskUsage(const std::string& path) {
  namespace fs = std::filesystem;
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return 0;
  uint64_t total = static_cast<uint64_t>(st.st_blocks) * 512;
  if (!S_ISDIR(st.st_mode)) return total;
  std::set<std::pair<dev_t, ino_t>> seen;  // hard links count once
  std::error_code ec;
  for (fs::recursive_directory_iterator it(path, fs::directory_options::skip_permission_denied, ec), end;
       !ec && it != end; it.increment(ec)) {
    if (::lstat(it->path().c_str(), &st) != 0) continue;
    if (st.st_nlink > 1 && !S_ISDIR(st.st_mode) && !seen.insert({st.st_dev, st.st_ino}).second) continue;
    total += static_cast<uint64_t>(st.st_blocks) * 512;
  }
  return total;
}

std::string DiskLimitMessage(uint64_t used_bytes, uint64_t limit_bytes) {
  return absl::StrFormat("Disk usage (%.1f MB) exceeds quota (%.1f MB)", used_bytes / 1048576.0,
                         limit_bytes / 1048576.0);
}

}  // namespace corral
