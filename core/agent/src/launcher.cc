#include "corral/agent/launcher.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "corral/common/logging.h"

namespace corral {
namespace {

bool WriteFile(const std::string& path, const std::string& value) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::write(fd, value.data(), value.size()) == static_cast<ssize_t>(value.size());
  ::close(fd);
  return ok;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool IsDir(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

uint64_t FieldValue(const std::string& text, const std::string& key) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    std::vector<absl::string_view> parts = absl::StrSplit(line, ' ');
    if (parts.size() == 2 && parts[0] == key) return std::strtoull(std::string(parts[1]).c_str(), nullptr, 10);
  }
  return 0;
}

}  // namespace

std::unique_ptr<Cgroups> Cgroups::Detect(const std::string& root_name) {
  auto cg = std::unique_ptr<Cgroups>(new Cgroups());
  cg->root_name_ = root_name;
  if (::access("/sys/fs/cgroup/cgroup.controllers", R_OK) == 0) {
    std::string root = "/sys/fs/cgroup/" + root_name;
    ::mkdir(root.c_str(), 0755);
    std::string controllers = ReadFile("/sys/fs/cgroup/cgroup.controllers");
    if (controllers.find("memory") == std::string::npos) {
      cg->why_ = "cgroup v2 has no memory controller";
      return cg;
    }
    WriteFile("/sys/fs/cgroup/cgroup.subtree_control", "+memory +cpu +pids");
    if (!IsDir(root) || !WriteFile(root + "/cgroup.subtree_control", "+memory +cpu +pids")) {
      cg->why_ = absl::StrCat("cannot create or configure ", root, " (", std::strerror(errno), ")");
      return cg;
    }
    cg->v2_root_ = root;
    cg->version_ = 2;
    return cg;
  }
  for (const char* ctrl : {"memory", "cpu", "pids"}) {
    std::string mount = absl::StrCat("/sys/fs/cgroup/", ctrl);
    if (!IsDir(mount)) continue;
    std::string dir = absl::StrCat(mount, "/", root_name);
    ::mkdir(dir.c_str(), 0755);
    if (IsDir(dir) && ::access(dir.c_str(), W_OK) == 0) cg->v1_mounts_[ctrl] = mount;
  }
  if (!cg->v1_mounts_.count("memory")) {
    cg->why_ = "no writable cgroup v2 hierarchy or v1 memory hierarchy under /sys/fs/cgroup";
    cg->v1_mounts_.clear();
    return cg;
  }
  cg->version_ = 1;
  return cg;
}

std::string Cgroups::Dir(const std::string& hierarchy, const std::string& container_id) const {
  if (version_ == 2) return absl::StrCat(v2_root_, "/", container_id);
  return absl::StrCat(v1_mounts_.at(hierarchy), "/", root_name_, "/", container_id);
}

absl::StatusOr<std::vector<std::string>> Cgroups::Create(const std::string& container_id, const Limits& limits) {
  std::vector<std::string> procs;
  auto make = [&](const std::string& dir) -> absl::Status {
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
      return absl::InternalError(absl::StrCat("cannot create cgroup ", dir, ": ", std::strerror(errno)));
    }
    procs.push_back(dir + "/cgroup.procs");
    return absl::OkStatus();
  };
  if (version_ == 2) {
    std::string dir = Dir("", container_id);
    if (auto s = make(dir); !s.ok()) return s;
    if (limits.mem_bytes) WriteFile(dir + "/memory.max", std::to_string(limits.mem_bytes));
    if (limits.mem_bytes) WriteFile(dir + "/memory.swap.max", "0");
    if (limits.cpus > 0) {
      uint64_t weight = std::max<uint64_t>(1, std::min<uint64_t>(10000, static_cast<uint64_t>(limits.cpus * 100)));
      WriteFile(dir + "/cpu.weight", std::to_string(weight));
      if (limits.cfs_quota) {
        WriteFile(dir + "/cpu.max", absl::StrCat(static_cast<uint64_t>(limits.cpus * 100000), " 100000"));
      }
    }
    if (limits.pids_max) WriteFile(dir + "/pids.max", std::to_string(limits.pids_max));
    return procs;
  }
  for (const auto& [ctrl, mount] : v1_mounts_) {
    // A hierarchy with nothing to enforce costs a mkdir and an rmdir per
    // task for nothing.
    if (ctrl == "pids" && limits.pids_max == 0) continue;
    if (ctrl == "cpu" && limits.cpus <= 0) continue;
    std::string dir = Dir(ctrl, container_id);
    if (auto s = make(dir); !s.ok()) return s;
    if (ctrl == "memory" && limits.mem_bytes) {
      if (!WriteFile(dir + "/memory.limit_in_bytes", std::to_string(limits.mem_bytes))) {
        return absl::InternalError(absl::StrCat("cannot set memory limit in ", dir));
      }
      WriteFile(dir + "/memory.memsw.limit_in_bytes", std::to_string(limits.mem_bytes));
    }
    if (ctrl == "cpu" && limits.cpus > 0) {
      WriteFile(dir + "/cpu.shares", std::to_string(std::max<uint64_t>(2, static_cast<uint64_t>(limits.cpus * 1024))));
      if (limits.cfs_quota) {
        WriteFile(dir + "/cpu.cfs_period_us", "100000");
        WriteFile(dir + "/cpu.cfs_quota_us", std::to_string(static_cast<uint64_t>(limits.cpus * 100000)));
      }
    }
    if (ctrl == "pids" && limits.pids_max) WriteFile(dir + "/pids.max", std::to_string(limits.pids_max));
  }
  return procs;
}

bool Cgroups::OomKilled(const std::string& container_id) const {
  if (version_ == 2) return FieldValue(ReadFile(Dir("", container_id) + "/memory.events"), "oom_kill") > 0;
  if (version_ == 1) {
    std::string dir = Dir("memory", container_id);
    if (FieldValue(ReadFile(dir + "/memory.oom_control"), "oom_kill") > 0) return true;
    // Older kernels lack oom_kill: a hit limit with failures is the sign.
    return std::strtoull(ReadFile(dir + "/memory.failcnt").c_str(), nullptr, 10) > 0 &&
           std::strtoull(ReadFile(dir + "/memory.max_usage_in_bytes").c_str(), nullptr, 10) >=
               std::strtoull(ReadFile(dir + "/memory.limit_in_bytes").c_str(), nullptr, 10);
  }
  return false;
}

void Cgroups::Destroy(const std::string& container_id) {
  std::vector<std::string> dirs;
  if (version_ == 2) dirs.push_back(Dir("", container_id));
  if (version_ == 1) for (const auto& [ctrl, mount] : v1_mounts_) dirs.push_back(Dir(ctrl, container_id));
  for (const std::string& dir : dirs) {
    if (!IsDir(dir)) continue;
    for (int attempt = 0; attempt < 50; ++attempt) {
      std::string procs = ReadFile(dir + "/cgroup.procs");
      bool any = false;
      for (absl::string_view line : absl::StrSplit(procs, '\n', absl::SkipWhitespace())) {
        pid_t p = static_cast<pid_t>(std::strtol(std::string(line).c_str(), nullptr, 10));
        if (p > 0) { ::kill(p, SIGKILL); any = true; }
      }
      if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) break;
      if (!any) { ::usleep(1000); }
      else ::usleep(2000);
    }
  }
}

}  // namespace corral
