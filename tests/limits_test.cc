// Limits that keep a task or a client from taking more than its share: of
// processes and disk (the task's), of the master's and agent's memory (huge
// input echoed back, unbounded reads), and of the framework's attention
// (one offer per agent per allocation cycle). A LocalCluster in this
// process; tasks are real processes.
#include <dirent.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "corral/local/local_cluster.h"
#include "test_util.h"

namespace corral {
namespace {

using testing::PollUntil;
using testing::RecordingScheduler;
using testing::ShellTask;

class LimitsTest : public ::testing::Test {
 protected:
  void StartCluster(LocalClusterOptions opts) {
    auto c = LocalCluster::Start(opts);
    ASSERT_TRUE(c.ok()) << c.status();
    cluster_ = std::move(*c);
    ASSERT_TRUE(cluster_->WaitForAgents(20).ok());
  }
  std::unique_ptr<SchedulerDriver> Driver(RecordingScheduler* s, const std::string& name = "limits") {
    auto d = std::make_unique<SchedulerDriver>(s, testing::Framework(name), cluster_->master_address());
    EXPECT_TRUE(d->start().ok());
    EXPECT_TRUE(s->WaitSubscribed());
    return d;
  }
  v1::TaskStatus RunToEnd(RecordingScheduler& s, SchedulerDriver& d, v1::TaskInfo task, double seconds = 30) {
    v1::Offer offer;
    EXPECT_TRUE(s.TakeOffer(&offer));
    *task.mutable_agent_id() = offer.agent_id();
    EXPECT_TRUE(d.launch(offer.id(), {task}).ok());
    return s.WaitForTerminal(task.task_id().value(), seconds);
  }
  std::unique_ptr<LocalCluster> cluster_;
};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Processes whose environment names `task` (MESOS_TASK_ID).
size_t ProcessesOfTask(const std::string& task) {
  size_t n = 0;
  DIR* proc = ::opendir("/proc");
  const std::string wanted = "MESOS_TASK_ID=" + task;
  while (dirent* e = proc ? ::readdir(proc) : nullptr) {
    if (std::strtol(e->d_name, nullptr, 10) <= 0) continue;
    std::string environ = ReadAll(absl::StrCat("/proc/", e->d_name, "/environ"));
    for (absl::string_view var : absl::StrSplit(environ, '\0')) n += var == wanted;
  }
  if (proc) ::closedir(proc);
  return n;
}

TEST_F(LimitsTest, ATaskCannotStartMoreProcessesThanThePidsLimit) {
  LocalClusterOptions opts;
  opts.agents = 1;
  opts.agent.cgroups_pids_max = 30;
  StartCluster(opts);
  const std::string& status = cluster_->agent(0).cgroups_status();
  if (status.find("pids (30 per container)") == std::string::npos) GTEST_SKIP() << "no pids limit here: " << status;
  RecordingScheduler s;
  auto d = Driver(&s);
  v1::Offer offer;
  ASSERT_TRUE(s.TakeOffer(&offer));
  // A small fork bomb: 100 children wanted; it counts the forks that work.
  std::string done = cluster_->work_dir() + "/forked";
  std::string bomb_py =
      "import os, time\n"
      "n = 0\n"
      "for i in range(100):\n"
      "    try:\n"
      "        if os.fork() == 0:\n"
      "            time.sleep(600)\n"
      "            os._exit(0)\n"
      "        n += 1\n"
      "    except OSError:\n"
      "        pass\n"
      "open('" +
      done +
      ".tmp', 'w').write(str(n))\n"
      "os.rename('" +
      done + ".tmp', '" + done +
      "')\n"
      "time.sleep(600)\n";
  v1::TaskInfo task = ShellTask("bomb", offer.agent_id(), "");
  task.mutable_command()->set_shell(false);
  task.mutable_command()->set_value("/usr/bin/python3");
  task.mutable_command()->add_arguments("python3");
  task.mutable_command()->add_arguments("-c");
  task.mutable_command()->add_arguments(bomb_py);
  ASSERT_TRUE(d->launch(offer.id(), {task}).ok());
  ASSERT_TRUE(PollUntil([&] { return std::filesystem::exists(done); }, 30));
  int forked = std::stoi(ReadAll(done));
  EXPECT_LT(forked, 30) << "the pids limit counts the task itself";
  EXPECT_GE(forked, 20) << "the task ran, up to its limit";
  EXPECT_LE(ProcessesOfTask("bomb"), 30u);
  v1::TaskID bomb;
  bomb.set_value("bomb");
  ASSERT_TRUE(d->kill(bomb).ok());
  EXPECT_TRUE(s.WaitForTerminal("bomb").has_state());
  EXPECT_TRUE(PollUntil([&] { return ProcessesOfTask("bomb") == 0; }, 10));
}

TEST_F(LimitsTest, ATaskThatWritesMoreThanItsDiskFailsWithTheDiskLimitation) {
  LocalClusterOptions opts;
  opts.agents = 1;
  opts.agent.container_disk_watch_interval = 0.1;
  StartCluster(opts);
  RecordingScheduler s;
  auto d = Driver(&s);
  v1::TaskInfo task = ShellTask("writer", v1::AgentID(), "head -c 8388608 /dev/zero > big; sleep 600");
  testing::AddScalar(task.mutable_resources(), "disk", 2);
  v1::TaskStatus end = RunToEnd(s, *d, task);
  ASSERT_TRUE(end.has_state());
  EXPECT_EQ(end.state(), v1::TASK_FAILED) << end.DebugString();
  EXPECT_EQ(end.reason(), v1::TaskStatus::REASON_CONTAINER_LIMITATION_DISK) << end.DebugString();
  EXPECT_NE(end.message().find("exceeds quota (2.0 MB)"), std::string::npos) << end.message();
  ASSERT_EQ(end.limitation().resources_size(), 1);
  EXPECT_EQ(end.limitation().resources(0).name(), "disk");

  // Within its disk, a task is left alone.
  v1::TaskInfo small = ShellTask("small", v1::AgentID(), "head -c 100000 /dev/zero > f; sleep 0.5");
  testing::AddScalar(small.mutable_resources(), "disk", 2);
  EXPECT_EQ(RunToEnd(s, *d, small).state(), v1::TASK_FINISHED);
}

// A 1 MiB command that cannot be executed: the failure names it, briefly,
// and what the master keeps of the task stays small.
TEST_F(LimitsTest, AHugeCommandIsNotEchoedWhole) {
  LocalClusterOptions opts;
  opts.agents = 1;
  StartCluster(opts);
  RecordingScheduler s;
  auto d = Driver(&s);
  std::string huge = "/no/such/program-" + std::string(1 << 20, 'x');
  v1::TaskInfo task = ShellTask("huge", v1::AgentID(), huge);
  task.mutable_command()->set_shell(false);
  v1::TaskStatus end = RunToEnd(s, *d, task);
  EXPECT_EQ(end.state(), v1::TASK_FAILED) << end.message().substr(0, 300);
  EXPECT_LT(end.message().size(), 400u);
  EXPECT_NE(end.message().find(absl::StrCat("(", huge.size(), " bytes)")), std::string::npos)
      << end.message().substr(0, 300);
  auto state = cluster_->master().GetState();  // kept: the loop below reads into it
  for (const auto& t : state.completed_tasks()) {
    for (const auto& st : t.statuses()) EXPECT_LT(st.ByteSizeLong(), 1000u);
  }
}

TEST_F(LimitsTest, OneSandboxReadReturnsAtMostOneMebibyte) {
  LocalClusterOptions opts;
  opts.agents = 1;
  StartCluster(opts);
  RecordingScheduler s;
  auto d = Driver(&s);
  ASSERT_EQ(RunToEnd(s, *d, ShellTask("big-output", v1::AgentID(), "head -c 3000000 /dev/zero | tr '\\0' a")).state(),
            v1::TASK_FINISHED);
  std::string fid = s.Locked([&] { return s.framework_id_; });
  auto read = cluster_->agent(0).ReadSandboxFile(fid, "big-output", "stdout", 0, int64_t{1} << 40);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->first.size(), static_cast<size_t>(Agent::kMaxSandboxRead));
  EXPECT_EQ(read->second, 3000000);
  auto rest = cluster_->agent(0).ReadSandboxFile(fid, "big-output", "stdout", 2 * Agent::kMaxSandboxRead, 0);
  ASSERT_TRUE(rest.ok());
  EXPECT_EQ(rest->first.size(), 3000000u - 2 * Agent::kMaxSandboxRead);
}

// Tasks ending one after another on an agent: their resources come back in
// one offer per allocation cycle, not one offer each.
TEST_F(LimitsTest, FreedResourcesAreOfferedOncePerAllocationCycle) {
  LocalClusterOptions opts;
  opts.agents = 1;
  opts.master.allocation_interval = 1.0;
  StartCluster(opts);
  RecordingScheduler s;
  std::atomic<int> offers{0};
  std::atomic<bool> launched{false};
  std::string go = cluster_->work_dir() + "/go";
  s.on_offers = [&](SchedulerDriver* d, const std::vector<v1::Offer>& got) {
    for (const auto& o : got) {
      ++offers;
      if (!launched.exchange(true)) {
        // 20 tasks that end about 20 ms apart, once told to.
        std::vector<v1::TaskInfo> tasks;
        for (int i = 0; i < 20; ++i) {
          tasks.push_back(ShellTask(
              absl::StrCat("t", i), o.agent_id(),
              absl::StrCat("while [ ! -e ", go, " ]; do sleep 0.05; done; sleep 0.", 2 * i / 10, 2 * i % 10), 0.1, 16));
        }
        (void)d->launch(o.id(), tasks);
      }
      // Anything else is held (not declined), as a framework waiting for
      // enough resources would hold it.
    }
  };
  auto d = Driver(&s);
  ASSERT_TRUE(s.WaitFor([&] {
    int running = 0;
    for (const auto& [id, st] : s.latest_) running += st.state() == v1::TASK_RUNNING;
    return running == 20;
  }));
  int before = offers;
  std::ofstream(go).put('1');
  ASSERT_TRUE(s.WaitFor([&] {
    int finished = 0;
    for (const auto& [id, st] : s.latest_) finished += st.state() == v1::TASK_FINISHED;
    return finished == 20;
  }));
  // The ends spread over about 0.4 s: at most a couple of cycles' offers
  // (plus one in flight), never one per task.
  ASSERT_TRUE(PollUntil([&] { return offers > before; }, 5));
  EXPECT_LE(offers - before, 3) << "freed resources came back as " << offers - before << " offers";
}

// Two agents on one host: each has cgroups of its own, and one's recovery
// (which kills whatever its cgroups hold that it does not recover) leaves
// the other's containers alone.
TEST_F(LimitsTest, OneAgentsRecoveryLeavesAnotherAgentsContainersAlone) {
  LocalClusterOptions opts;
  opts.agents = 2;
  StartCluster(opts);
  if (cluster_->agent(0).cgroups_status().find("limits enforced") == std::string::npos) {
    GTEST_SKIP() << "no cgroups here: " << cluster_->agent(0).cgroups_status();
  }
  EXPECT_NE(cluster_->agent(0).flags().at("cgroups_root"), cluster_->agent(1).flags().at("cgroups_root"));
  RecordingScheduler s;
  auto d = Driver(&s);
  std::string agent0 = cluster_->agent(0).id();
  v1::Offer offer;
  do { ASSERT_TRUE(s.TakeOffer(&offer)); } while (offer.agent_id().value() != agent0);
  ASSERT_TRUE(d->launch(offer.id(), {ShellTask("keep", offer.agent_id(), "sleep 600")}).ok());
  ASSERT_TRUE(s.WaitForState("keep", v1::TASK_RUNNING).has_state());
  size_t processes = ProcessesOfTask("keep");
  ASSERT_GE(processes, 1u);
  ASSERT_TRUE(cluster_->RestartAgent(1).ok());
  ASSERT_TRUE(cluster_->WaitForAgents(20).ok());
  EXPECT_EQ(ProcessesOfTask("keep"), processes) << "agent 1's recovery killed agent 0's task";
  EXPECT_EQ(s.Locked([&] { return s.latest_["keep"].state(); }), v1::TASK_RUNNING);
}

}  // namespace
}  // namespace corral
