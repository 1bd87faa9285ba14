#include "corral/agent/cgroups.h"

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
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/match.h"
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

std::unique_ptr<Cgroups> Cgroups::Detect(const std::string& root_name, bool pids) {
  auto cg = std::unique_ptr<Cgroups>(new Cgroups());
  cg->root_name_ = root_name;
  cg->pids_ = pids;
  std::vector<std::string> levels = absl::StrSplit(root_name, '/', absl::SkipEmpty());
  if (levels.empty()) {
    cg->why_ = "--cgroups_root is empty";
    return cg;
  }
  if (::access("/sys/fs/cgroup/cgroup.controllers", R_OK) == 0) {
    std::string controllers = ReadFile("/sys/fs/cgroup/cgroup.controllers");
    if (controllers.find("memory") == std::string::npos) {
      cg->why_ = "cgroup v2 has no memory controller";
      return cg;
    }
    std::string wanted = "+memory";
    cg->controllers_ = {"memory"};
    if (controllers.find("cpu") != std::string::npos) {
      wanted += " +cpu";
      cg->controllers_.push_back("cpu");
    }
    if (pids && controllers.find("pids") != std::string::npos) {
      wanted += " +pids";
      cg->controllers_.push_back("pids");
    }
    // Each level down to the root hands the controllers on to the next.
    std::string dir = "/sys/fs/cgroup";
    WriteFile(dir + "/cgroup.subtree_control", wanted);
    for (const std::string& level : levels) {
      dir += "/" + level;
      ::mkdir(dir.c_str(), 0755);
      if (!IsDir(dir) || !WriteFile(dir + "/cgroup.subtree_control", wanted)) {
        cg->why_ = absl::StrCat("cannot create or configure ", dir, " (", std::strerror(errno), ")");
        cg->controllers_.clear();
        return cg;
      }
    }
    cg->v2_root_ = dir;
    cg->version_ = 2;
    return cg;
  }
  for (const char* ctrl : {"memory", "cpu", "pids"}) {
    if (std::string(ctrl) == "pids" && !pids) continue;
    std::string mount = absl::StrCat("/sys/fs/cgroup/", ctrl);
    if (!IsDir(mount)) continue;
    std::string dir = mount;
    for (const std::string& level : levels) {
      dir += "/" + level;
      ::mkdir(dir.c_str(), 0755);
    }
    if (IsDir(dir) && ::access(dir.c_str(), W_OK) == 0) {
      cg->v1_mounts_[ctrl] = mount;
      cg->controllers_.push_back(ctrl);
    }
  }
  if (!cg->v1_mounts_.count("memory")) {
    cg->why_ = "no writable cgroup v2 hierarchy or v1 memory hierarchy under /sys/fs/cgroup";
    cg->v1_mounts_.clear();
    cg->controllers_.clear();
    return cg;
  }
  cg->version_ = 1;
  return cg;
}

Cgroups::~Cgroups() {
  std::lock_guard<std::mutex> lock(mu_);
  for (const Slot& slot : free_) Remove(slot.name);
  // The root too, level by level, where nothing is left in it (recovered
  // containers of an abandoned agent keep it, as do other agents' roots
  // their shared parent).
  if (version_ == 0) return;
  for (const std::string& h : Hierarchies()) {
    std::string dir = version_ == 2 ? v2_root_ : absl::StrCat(v1_mounts_.at(h), "/", root_name_);
    std::string top = version_ == 2 ? std::string("/sys/fs/cgroup") : v1_mounts_.at(h);
    while (dir.size() > top.size() && ::rmdir(dir.c_str()) == 0) dir = dir.substr(0, dir.rfind('/'));
  }
}

std::string Cgroups::Dir(const std::string& hierarchy, const std::string& name) const {
  if (version_ == 2) return absl::StrCat(v2_root_, "/", name);
  return absl::StrCat(v1_mounts_.at(hierarchy), "/", root_name_, "/", name);
}

std::string Cgroups::PathOf(const std::string& container_id, const std::string& controller) {
  Slot slot;
  if (!Slotted(container_id, &slot)) return "";
  if (version_ == 1 && !v1_mounts_.count(controller)) return "";
  return Dir(controller, slot.name);
}

bool Cgroups::Usage(const std::string& container_id, CgroupUsage* out) {
  Slot slot;
  if (!Slotted(container_id, &slot)) return false;
  auto dir_of = [&](const std::string& controller) {
    if (version_ == 2) return Dir("", slot.name);
    return v1_mounts_.count(controller) ? Dir(controller, slot.name) : std::string();
  };
  std::string mem_dir = dir_of("memory"), cpu_dir = dir_of("cpu");
  std::string any_dir = !mem_dir.empty() ? mem_dir : !cpu_dir.empty() ? cpu_dir : dir_of("pids");
  std::stringstream procs(ReadFile(any_dir + "/cgroup.procs"));
  for (pid_t pid; procs >> pid;) out->pids.push_back(pid);
  std::string stat = ReadFile(mem_dir + "/memory.stat");
  std::string cpu = cpu_dir.empty() ? "" : ReadFile(cpu_dir + "/cpu.stat");
  out->nr_periods = FieldValue(cpu, "nr_periods");
  out->nr_throttled = FieldValue(cpu, "nr_throttled");
  if (version_ == 2) {
    out->mem_total = std::strtoull(ReadFile(mem_dir + "/memory.current").c_str(), nullptr, 10);
    out->mem_anon = FieldValue(stat, "anon");
    out->mem_file = FieldValue(stat, "file");
    out->mem_swap = std::strtoull(ReadFile(mem_dir + "/memory.swap.current").c_str(), nullptr, 10);
    out->throttled_secs = FieldValue(cpu, "throttled_usec") / 1e6;
  } else {
    out->mem_total = std::strtoull(ReadFile(mem_dir + "/memory.usage_in_bytes").c_str(), nullptr, 10);
    out->mem_anon = FieldValue(stat, "total_rss");
    out->mem_file = FieldValue(stat, "total_cache");
    out->mem_swap = FieldValue(stat, "total_swap");
    out->throttled_secs = FieldValue(cpu, "throttled_time") / 1e9;
  }
  return true;
}

std::vector<std::string> Cgroups::Hierarchies() const {
  if (version_ == 2) return {""};
  std::vector<std::string> out;
  for (const auto& [ctrl, mount] : v1_mounts_) out.push_back(ctrl);
  return out;
}

bool Cgroups::Slotted(const std::string& container_id, Slot* out) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = assigned_.find(container_id);
  if (it == assigned_.end()) return false;
  *out = it->second;
  return true;
}

Limits& Limits::operator+=(const Limits& o) {
  auto cpu_cap = [](const Limits& l) { return l.cpus_limit > 0 ? l.cpus_limit : l.cpus; };
  auto mem_cap = [](const Limits& l) { return l.mem_limit_bytes ? l.mem_limit_bytes : l.mem_bytes; };
  if (cpus_limit > 0 || o.cpus_limit > 0) cpus_limit = cpu_cap(*this) + cpu_cap(o);  // inf stays inf
  if (mem_limit_bytes || o.mem_limit_bytes) {
    uint64_t a = mem_cap(*this), b = mem_cap(o);
    mem_limit_bytes = a == kUnlimited || b == kUnlimited || a > kUnlimited - b ? kUnlimited : a + b;
  }
  cpus += o.cpus;
  mem_bytes += o.mem_bytes;
  return *this;
}

namespace {

// The hard memory limit, or 0 for none.
uint64_t HardMemory(const Limits& l) {
  if (l.mem_limit_bytes) return l.mem_limit_bytes == Limits::kUnlimited ? 0 : l.mem_limit_bytes;
  return l.mem_bytes;
}

// The CFS quota in cpus, or 0 for none.
double CpuQuota(const Limits& l) {
  if (l.cpus_limit > 0) return std::isinf(l.cpus_limit) ? 0 : l.cpus_limit;
  return l.cfs_quota ? l.cpus : 0;
}

}  // namespace

bool Cgroups::WriteLimits(const std::string& name, const Limits& limits) {
  uint64_t hard = HardMemory(limits);
  std::string mem = hard ? std::to_string(hard) : "-1";
  // With a limit above it, the request is what the container keeps under
  // memory pressure rather than a ceiling.
  uint64_t soft = limits.mem_limit_bytes ? limits.mem_bytes : 0;
  double quota = CpuQuota(limits);
  if (version_ == 2) {
    std::string dir = Dir("", name);
    if (!WriteFile(dir + "/memory.max", hard ? mem : "max")) return false;
    WriteFile(dir + "/memory.swap.max", hard ? "0" : "max");
    WriteFile(dir + "/memory.low", std::to_string(soft));
    uint64_t weight = limits.cpus > 0
                          ? std::max<uint64_t>(1, std::min<uint64_t>(10000, static_cast<uint64_t>(limits.cpus * 100)))
                          : 100;
    WriteFile(dir + "/cpu.weight", std::to_string(weight));
    WriteFile(dir + "/cpu.max",
              quota > 0 ? absl::StrCat(static_cast<uint64_t>(quota * 100000), " 100000") : "max 100000");
    WriteFile(dir + "/pids.max", limits.pids_max ? std::to_string(limits.pids_max) : "max");
    return true;
  }
  for (const auto& [ctrl, mount] : v1_mounts_) {
    std::string dir = Dir(ctrl, name);
    if (ctrl == "memory") {
      // memsw must stay >= memory: write memory, memsw, then memory again so
      // the order works whether the limit grows or shrinks.
      bool ok = WriteFile(dir + "/memory.limit_in_bytes", mem);
      WriteFile(dir + "/memory.memsw.limit_in_bytes", mem);
      ok = WriteFile(dir + "/memory.limit_in_bytes", mem) || ok;
      if (!ok) return false;
      WriteFile(dir + "/memory.soft_limit_in_bytes", soft ? std::to_string(soft) : "-1");
    } else if (ctrl == "cpu") {
      uint64_t shares = limits.cpus > 0 ? std::max<uint64_t>(2, static_cast<uint64_t>(limits.cpus * 1024)) : 1024;
      WriteFile(dir + "/cpu.shares", std::to_string(shares));
      if (quota > 0) {
        WriteFile(dir + "/cpu.cfs_period_us", "100000");
        WriteFile(dir + "/cpu.cfs_quota_us", std::to_string(static_cast<uint64_t>(quota * 100000)));
      } else {
        WriteFile(dir + "/cpu.cfs_quota_us", "-1");
      }
    } else if (ctrl == "pids") {
      WriteFile(dir + "/pids.max", limits.pids_max ? std::to_string(limits.pids_max) : "max");
    }
  }
  return true;
}

uint64_t Cgroups::OomCount(const std::string& name) const {
  if (version_ == 2) return FieldValue(ReadFile(Dir("", name) + "/memory.events"), "oom_kill");
  std::string dir = Dir("memory", name);
  uint64_t kills = FieldValue(ReadFile(dir + "/memory.oom_control"), "oom_kill");
  if (kills > 0) return kills;
  // Kernels without the oom_kill counter: "under_oom" or a hit limit.
  return FieldValue(ReadFile(dir + "/memory.oom_control"), "under_oom") +
         std::strtoull(ReadFile(dir + "/memory.failcnt").c_str(), nullptr, 10);
}

absl::StatusOr<Cgroups::Container> Cgroups::Create(const std::string& container_id, const Limits& limits) {
  Slot slot;
  bool reused = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!free_.empty()) {
      slot = std::move(free_.back());
      free_.pop_back();
      reused = true;
    }
  }
  if (reused && !(slot.limits == limits)) {
    if (WriteLimits(slot.name, limits)) {
      slot.limits = limits;
    } else {
      // It would not take the new limits (memory still charged above them).
      Remove(slot.name);
      reused = false;
    }
  }
  if (!reused) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      slot.name = absl::StrCat("c", next_name_++, "-", container_id);
    }
    for (const std::string& h : Hierarchies()) {
      std::string dir = Dir(h, slot.name);
      if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
        return absl::InternalError(absl::StrCat("cannot create cgroup ", dir, ": ", std::strerror(errno)));
      }
    }
    if (!WriteLimits(slot.name, limits)) {
      Remove(slot.name);
      return absl::InternalError(absl::StrCat("cannot set the memory limit of cgroup ", slot.name));
    }
    slot.limits = limits;
    slot.oom_baseline = 0;
  }
  Container created;
  created.name = slot.name;
  for (const std::string& h : Hierarchies()) created.procs.push_back(Dir(h, slot.name) + "/cgroup.procs");
  std::lock_guard<std::mutex> lock(mu_);
  assigned_[container_id] = std::move(slot);
  return created;
}

void Cgroups::Update(const std::string& container_id, const Limits& limits) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = assigned_.find(container_id);
  if (it != assigned_.end() && WriteLimits(it->second.name, limits)) it->second.limits = limits;
}

bool Cgroups::OomKilled(const std::string& container_id) {
  Slot slot;
  if (!Slotted(container_id, &slot)) return false;
  return OomCount(slot.name) > slot.oom_baseline;
}

bool Cgroups::Empty(const std::string& name, size_t* killed) {
  std::set<pid_t> seen;
  for (int attempt = 0; attempt < 50; ++attempt) {
    bool any = false;
    for (const std::string& h : Hierarchies()) {
      for (absl::string_view line :
           absl::StrSplit(ReadFile(Dir(h, name) + "/cgroup.procs"), '\n', absl::SkipWhitespace())) {
        pid_t p = static_cast<pid_t>(std::strtol(std::string(line).c_str(), nullptr, 10));
        if (p > 0) {
          ::kill(p, SIGKILL);
          any = true;
          seen.insert(p);
        }
      }
    }
    if (killed != nullptr) *killed = seen.size();
    if (!any) return true;
    ::usleep(2000);  // on the cleaner thread: let the kernel finish the kills
  }
  return false;
}

void Cgroups::Remove(const std::string& name) {
  for (const std::string& h : Hierarchies()) {
    std::string dir = Dir(h, name);
    for (int attempt = 0; attempt < 50 && IsDir(dir); ++attempt) {
      if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) break;
      ::usleep(2000);
    }
  }
}

void Cgroups::Release(const std::string& container_id) {
  constexpr size_t kMaxPooled = 256;
  constexpr uint64_t kMaxLeftoverBytes = 1 << 20;
  Slot slot;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = assigned_.find(container_id);
    if (it == assigned_.end()) return;
    slot = std::move(it->second);
    assigned_.erase(it);
  }
  bool reusable = Empty(slot.name);
  if (reusable) {
    std::string usage = version_ == 2 ? ReadFile(Dir("", slot.name) + "/memory.current")
                                      : ReadFile(Dir("memory", slot.name) + "/memory.usage_in_bytes");
    reusable = std::strtoull(usage.c_str(), nullptr, 10) <= kMaxLeftoverBytes;
  }
  if (reusable) {
    // Kills so far belong to past containers; the next one counts from here.
    slot.oom_baseline = OomCount(slot.name);
    std::lock_guard<std::mutex> lock(mu_);
    if (free_.size() < kMaxPooled) {
      free_.push_back(std::move(slot));
      return;
    }
  }
  Remove(slot.name);
}

size_t Cgroups::Recover(const std::map<std::string, std::string>& containers) {
  if (version_ == 0) return 0;
  std::map<std::string, std::string> by_name;  // cgroup name -> container ID
  for (const auto& [id, name] : containers)
    if (!name.empty()) by_name[name] = id;
  std::string first = Hierarchies().front();
  std::string root = version_ == 2 ? v2_root_ : absl::StrCat(v1_mounts_.at(first), "/", root_name_);
  size_t killed = 0;
  std::error_code ec;
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(root, ec)) {
    if (entry.is_directory(ec)) names.push_back(entry.path().filename().string());
  }
  for (const std::string& name : names) {
    auto known = by_name.find(name);
    std::string id;
    if (known != by_name.end()) {
      id = known->second;
    } else {
      // Checkpoints written before cgroup names were recorded: the name a
      // cgroup was created with ends with its first container's ID.
      for (const auto& [cid, recorded] : containers) {
        if (recorded.empty() && absl::EndsWith(name, "-" + cid)) id = cid;
      }
    }
    if (!id.empty()) {
      Slot slot;
      slot.name = name;
      std::lock_guard<std::mutex> lock(mu_);
      assigned_[id] = slot;
      continue;
    }
    // Nothing of this agent's claims it: a container of a framework that
    // does not checkpoint, or one caught mid-launch by a crash. Whatever
    // still runs there goes, and the cgroup with it.
    size_t n = 0;
    Empty(name, &n);
    killed += n;
    Remove(name);
  }
  return killed;
}

size_t Cgroups::pooled() {
  std::lock_guard<std::mutex> lock(mu_);
  return free_.size();
}

}  // namespace corral
