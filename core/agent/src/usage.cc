// What each live container uses now, for GET_CONTAINERS and
// /monitor/statistics (Mesos's ResourceStatistics): the cpu times, threads
// and memory of its processes, throttling from its cgroups, and its limits.
// The containers are listed on the loop; /proc and the cgroup files are
// read on the caller's thread, so a slow read never holds the agent up.
#include "agent_impl.h"

namespace corral {
namespace {

struct ProcessStat {
  double cpu_user_secs = 0;  // its own and its waited-for children's
  double cpu_system_secs = 0;
  uint32_t threads = 0;
  uint64_t rss_bytes = 0;
  pid_t pgrp = 0;
};

// /proc/<pid>/stat; false when the process is gone.
bool ReadProcessStat(pid_t pid, ProcessStat* out) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // The command name (field 2) may hold spaces and parentheses: fields are
  // counted from after its last ')'.
  size_t close = text.rfind(')');
  if (close == std::string::npos) return false;
  std::vector<std::string> f = absl::StrSplit(text.substr(close + 2), ' ', absl::SkipEmpty());
  // f[0] is field 3 (state): field n is f[n - 3].
  if (f.size() < 22) return false;
  static const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  static const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  auto num = [&](int field) { return std::strtoull(f[field - 3].c_str(), nullptr, 10); };
  out->pgrp = static_cast<pid_t>(num(5));
  out->cpu_user_secs = (num(14) + num(16)) / ticks;
  out->cpu_system_secs = (num(15) + num(17)) / ticks;
  out->threads = static_cast<uint32_t>(num(20));
  out->rss_bytes = num(24) * page;
  return true;
}

// Without cgroups a container is its process group.
std::vector<pid_t> ProcessGroup(pid_t leader) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    pid_t pid = 0;
    if (!absl::SimpleAtoi(entry.path().filename().string(), &pid)) continue;
    ProcessStat st;
    if (ReadProcessStat(pid, &st) && st.pgrp == leader) out.push_back(pid);
  }
  return out;
}

}  // namespace

v1::agent::Response::GetContainers Agent::ContainerUsage() {
  struct Live {
    v1::agent::Response::GetContainers::Container container;
    pid_t pid = 0;
    Limits limits;
  };
  std::vector<Live> live = loop_->Call([this] {
    std::vector<Live> out;
    auto add = [&](const std::string& fid, const v1::ExecutorInfo& info, const std::string& container_id, pid_t pid,
                   const Limits& limits) {
      Live l;
      l.container.mutable_framework_id()->set_value(fid);
      *l.container.mutable_executor_id() = info.executor_id();
      l.container.set_executor_name(info.name());
      l.container.mutable_container_id()->set_value(container_id);
      if (pid > 0) l.container.mutable_container_status()->set_executor_pid(static_cast<uint32_t>(pid));
      l.pid = pid;
      l.limits = limits;
      out.push_back(std::move(l));
    };
    for (const auto& [key, ex] : executors_) {
      if (!ex.container_id.empty()) add(key.first, ex.info, ex.container_id, ex.pid, ex.limits);
    }
    for (const auto& [key, task] : tasks_) {
      if (task.executor_id.empty() && !task.container_id.empty() && !task.terminal) {
        add(key.first, CommandExecutorOf(key.first, task.info), task.container_id, task.pid, LimitsFor(task.info));
      }
    }
    return out;
  });
  v1::agent::Response::GetContainers answer;
  double now = clock_->NowSeconds();
  for (Live& l : live) {
    v1::ResourceStatistics* st = l.container.mutable_resource_statistics();
    st->set_timestamp(now);
    CgroupUsage cg;
    bool in_cgroups = cgroups_ && cgroups_->enabled() && cgroups_->Usage(l.container.container_id().value(), &cg);
    std::vector<pid_t> pids = in_cgroups ? cg.pids : l.pid > 0 ? ProcessGroup(l.pid) : std::vector<pid_t>{};
    double user = 0, system = 0;
    uint32_t processes = 0, threads = 0;
    uint64_t rss = 0;
    for (pid_t pid : pids) {
      ProcessStat ps;
      if (!ReadProcessStat(pid, &ps)) continue;
      ++processes;
      threads += ps.threads;
      user += ps.cpu_user_secs;
      system += ps.cpu_system_secs;
      rss += ps.rss_bytes;
    }
    st->set_processes(processes);
    st->set_threads(threads);
    st->set_cpus_user_time_secs(user);
    st->set_cpus_system_time_secs(system);
    if (in_cgroups) {
      st->set_mem_total_bytes(cg.mem_total);
      st->set_mem_rss_bytes(cg.mem_anon);
      st->set_mem_anon_bytes(cg.mem_anon);
      st->set_mem_file_bytes(cg.mem_file);
      st->set_mem_cache_bytes(cg.mem_file);
      st->set_mem_swap_bytes(cg.mem_swap);
      st->set_cpus_nr_periods(static_cast<uint32_t>(cg.nr_periods));
      st->set_cpus_nr_throttled(static_cast<uint32_t>(cg.nr_throttled));
      st->set_cpus_throttled_time_secs(cg.throttled_secs);
    } else {
      st->set_mem_rss_bytes(rss);
    }
    // As Mesos reports them: the cap, and the request beneath it when a
    // limit above it was asked for.
    const Limits& lim = l.limits;
    if (lim.cpus_limit > 0) {
      if (!std::isinf(lim.cpus_limit)) st->set_cpus_limit(lim.cpus_limit);
      st->set_cpus_soft_limit(lim.cpus);
    } else if (lim.cpus > 0) {
      st->set_cpus_limit(lim.cpus);
    }
    if (lim.mem_limit_bytes) {
      if (lim.mem_limit_bytes != Limits::kUnlimited) st->set_mem_limit_bytes(lim.mem_limit_bytes);
      st->set_mem_soft_limit_bytes(lim.mem_bytes);
    } else if (lim.mem_bytes) {
      st->set_mem_limit_bytes(lim.mem_bytes);
    }
    *answer.add_containers() = std::move(l.container);
  }
  return answer;
}

}  // namespace corral
