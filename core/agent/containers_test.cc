// What makes every process an agent starts findable after a crash: the
// start gate of corral-supervise, processes that die with their launcher,
// killing a recorded process group, and the sweep of an agent's cgroups.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "corral/agent/cgroups.h"
#include "corral/common/process.h"

namespace corral {
namespace {

namespace fs = std::filesystem;

std::string BinDir() { return fs::read_symlink("/proc/self/exe").parent_path().string(); }

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// An exit, delivered by the reaper thread.
class Exit {
 public:
  std::function<void(const ExitInfo&)> Callback() {
    return [this](const ExitInfo& e) {
      std::lock_guard<std::mutex> lock(mu_);
      exit_ = e;
      cv_.notify_all();
    };
  }
  std::optional<ExitInfo> Wait(double seconds = 10) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::duration<double>(seconds), [&] { return exit_.has_value(); });
    return exit_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<ExitInfo> exit_;
};

bool WaitUntil(const std::function<bool()>& pred, double seconds = 10) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // polling a process, bounded by the deadline
  }
  return true;
}

class ContainersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/corral-containers-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // corral-supervise running `script` in sh, with a start gate.
  LaunchSpec Supervised(const std::string& script, int gate) {
    LaunchSpec spec;
    spec.program = BinDir() + "/corral-supervise";
    spec.argv = {"corral-supervise", "/bin/sh", "sh", "-c", script};
    spec.sandbox = dir_;
    spec.status_path = dir_ + "/status";
    spec.start_gate_fd = gate;
    return spec;
  }

  std::string dir_;
};

TEST_F(ContainersTest, ASupervisedCommandWaitsAtItsGateAndNeverRunsIfTheGateEnds) {
  int gate[2];
  ASSERT_EQ(::pipe2(gate, O_CLOEXEC), 0);
  int exec_fd = -1;
  auto pid = Launch(Supervised("touch " + dir_ + "/ran", gate[0]), &exec_fd);
  ASSERT_TRUE(pid.ok()) << pid.status();
  ::close(gate[0]);
  Exit exit;
  ProcessReaper::Get().Watch(*pid, exec_fd, exit.Callback());
  // The launcher goes away without opening the gate (as a crashed agent).
  ::close(gate[1]);
  ASSERT_TRUE(exit.Wait().has_value());
  EXPECT_FALSE(fs::exists(dir_ + "/ran")) << "the command ran without the launcher's word";
  ExitInfo recorded;
  ASSERT_TRUE(ReadSupervisedExit(dir_ + "/status", &recorded)) << ReadAll(dir_ + "/status");
  EXPECT_TRUE(recorded.not_started);
}

TEST_F(ContainersTest, ASupervisedCommandRunsOnceTheGateOpens) {
  int gate[2];
  ASSERT_EQ(::pipe2(gate, O_CLOEXEC), 0);
  int exec_fd = -1;
  auto pid = Launch(Supervised("touch " + dir_ + "/ran; exit 3", gate[0]), &exec_fd);
  ASSERT_TRUE(pid.ok()) << pid.status();
  ::close(gate[0]);
  Exit exit;
  ProcessReaper::Get().Watch(*pid, exec_fd, exit.Callback());
  char go = 1;
  ASSERT_EQ(::write(gate[1], &go, 1), 1);
  ::close(gate[1]);
  ASSERT_TRUE(exit.Wait().has_value());
  EXPECT_TRUE(fs::exists(dir_ + "/ran"));
  ExitInfo recorded;
  ASSERT_TRUE(ReadSupervisedExit(dir_ + "/status", &recorded));
  EXPECT_FALSE(recorded.not_started);
  EXPECT_TRUE(WIFEXITED(recorded.wait_status) && WEXITSTATUS(recorded.wait_status) == 3) << recorded.wait_status;
}

TEST_F(ContainersTest, AProcessThatDiesWithItsLauncherIsKilledWhenTheLaunchingThreadEnds) {
  Exit exit;
  std::thread launcher([&] {
    LaunchSpec spec;
    spec.program = "/bin/sleep";
    spec.argv = {"sleep", "600"};
    spec.sandbox = dir_;
    spec.die_with_launcher = true;
    int exec_fd = -1;
    auto pid = Launch(spec, &exec_fd);
    ASSERT_TRUE(pid.ok()) << pid.status();
    ProcessReaper::Get().Watch(*pid, exec_fd, exit.Callback());
  });
  launcher.join();
  auto e = exit.Wait();
  ASSERT_TRUE(e.has_value());
  EXPECT_TRUE(WIFSIGNALED(e->wait_status) && WTERMSIG(e->wait_status) == SIGKILL) << e->wait_status;
}

TEST_F(ContainersTest, ARecordedGroupIsKilledEvenAfterItsLeaderDied) {
  LaunchSpec spec;
  spec.program = "/bin/sh";
  spec.argv = {"sh", "-c", "sleep 600 & echo $! > " + dir_ + "/child; exit 0"};
  spec.sandbox = dir_;
  int exec_fd = -1;
  auto pid = Launch(spec, &exec_fd);
  ASSERT_TRUE(pid.ok()) << pid.status();
  uint64_t start = ProcessStartTime(*pid);
  ASSERT_NE(start, 0u);
  Exit exit;
  ProcessReaper::Get().Watch(*pid, exec_fd, exit.Callback());
  ASSERT_TRUE(exit.Wait().has_value());  // the leader is gone (and reaped)
  ASSERT_TRUE(WaitUntil([&] { return !ReadAll(dir_ + "/child").empty(); }));
  pid_t child = std::stoi(ReadAll(dir_ + "/child"));
  ASSERT_EQ(::kill(child, 0), 0);
  // A number that is another process's now is left alone.
  EXPECT_FALSE(KillRecordedProcessGroup(::getpid(), start));
  EXPECT_TRUE(KillRecordedProcessGroup(*pid, start));
  // The orphan was re-parented away from us: it dies, and someone else reaps it.
  EXPECT_TRUE(WaitUntil([&] {
    std::string stat = ReadAll(absl::StrCat("/proc/", child, "/stat"));
    return stat.empty() || stat.find(") Z") != std::string::npos;
  }));
}

std::string Contents(const std::string& path) {
  std::ifstream in(path);
  std::string s;
  std::getline(in, s);
  return s;
}

// TaskInfo.limits as Mesos means them: the request weighs and protects, the
// limit caps; an infinite limit caps nothing.
TEST_F(ContainersTest, LimitsAboveTheRequestCapTheContainer) {
  std::string root = absl::StrCat("corral-test/limits-", ::getpid());
  auto cg = Cgroups::Detect(root, false);
  if (!cg->enabled()) GTEST_SKIP() << "no usable cgroups here: " << cg->why();
  Limits limits;
  limits.cpus = 0.5;
  limits.mem_bytes = 64 << 20;
  limits.cpus_limit = 1.5;
  limits.mem_limit_bytes = 128 << 20;
  ASSERT_TRUE(cg->Create("capped", limits).ok());
  Limits open = limits;
  open.cpus_limit = std::numeric_limits<double>::infinity();
  open.mem_limit_bytes = Limits::kUnlimited;
  ASSERT_TRUE(cg->Create("open", open).ok());
  if (cg->version() == 2) {
    std::string capped = cg->PathOf("capped", ""), uncapped = cg->PathOf("open", "");
    EXPECT_EQ(Contents(capped + "/memory.max"), std::to_string(128 << 20));
    EXPECT_EQ(Contents(capped + "/memory.low"), std::to_string(64 << 20));
    EXPECT_EQ(Contents(capped + "/cpu.max"), "150000 100000");
    EXPECT_EQ(Contents(uncapped + "/memory.max"), "max");
    EXPECT_EQ(Contents(uncapped + "/cpu.max"), "max 100000");
  } else {
    EXPECT_EQ(Contents(cg->PathOf("capped", "memory") + "/memory.limit_in_bytes"), std::to_string(128 << 20));
    EXPECT_EQ(Contents(cg->PathOf("capped", "memory") + "/memory.soft_limit_in_bytes"), std::to_string(64 << 20));
    EXPECT_EQ(Contents(cg->PathOf("capped", "cpu") + "/cpu.cfs_quota_us"), "150000");
    EXPECT_EQ(Contents(cg->PathOf("capped", "cpu") + "/cpu.shares"), "512");
    EXPECT_EQ(Contents(cg->PathOf("open", "cpu") + "/cpu.cfs_quota_us"), "-1");
    // v1 writes "no limit" as the largest page-aligned number.
    EXPECT_GT(std::stoull(Contents(cg->PathOf("open", "memory") + "/memory.limit_in_bytes")), uint64_t{1} << 40);
  }
  cg->Release("capped");
  cg->Release("open");
  cg.reset();
  for (const char* h : {"", "memory/", "cpu/", "pids/"}) {
    std::error_code ec;
    fs::remove(absl::StrCat("/sys/fs/cgroup/", h, root), ec);
    fs::remove(absl::StrCat("/sys/fs/cgroup/", h, "corral-test"), ec);
  }
}

TEST(LimitsTest, LimitsOfTasksInOneContainerAddUp) {
  Limits executor;
  executor.cpus = 0.1;
  executor.mem_bytes = 32 << 20;
  Limits plain = executor;
  plain += executor;
  EXPECT_EQ(plain.cpus_limit, 0) << "no limit asked, none made up";
  EXPECT_EQ(plain.mem_limit_bytes, 0u);
  Limits task;
  task.cpus = 1;
  task.mem_bytes = 64 << 20;
  task.cpus_limit = 2;
  task.mem_limit_bytes = 256 << 20;
  executor += task;
  EXPECT_DOUBLE_EQ(executor.cpus, 1.1);
  EXPECT_DOUBLE_EQ(executor.cpus_limit, 2.1) << "the executor's share is capped at its request";
  EXPECT_EQ(executor.mem_limit_bytes, uint64_t{288} << 20);
  Limits unlimited;
  unlimited.mem_limit_bytes = Limits::kUnlimited;
  unlimited.cpus_limit = std::numeric_limits<double>::infinity();
  executor += unlimited;
  EXPECT_EQ(executor.mem_limit_bytes, Limits::kUnlimited);
  EXPECT_TRUE(std::isinf(executor.cpus_limit));
}

// A restarted agent takes back the cgroups of the containers it recovers,
// by the names its checkpoints recorded (a pooled cgroup keeps the name of
// the first container that had it), and kills whatever else runs in its
// cgroups: a container caught mid-launch, say.
TEST_F(ContainersTest, RecoveryAdoptsRecordedCgroupsAndEmptiesTheRest) {
  std::string root = absl::StrCat("corral-test/containers-", ::getpid());
  auto first = Cgroups::Detect(root, true);
  if (!first->enabled()) GTEST_SKIP() << "no usable cgroups here: " << first->why();
  Limits limits;
  limits.mem_bytes = 64 << 20;
  auto launch = [&](const Cgroups::Container& c) {
    LaunchSpec spec;
    spec.program = "/bin/sleep";
    spec.argv = {"sleep", "600"};
    spec.sandbox = dir_;
    spec.cgroup_procs = c.procs;
    int exec_fd = -1;
    auto pid = Launch(spec, &exec_fd);
    EXPECT_TRUE(pid.ok()) << pid.status();
    auto exit = std::make_shared<Exit>();
    ProcessReaper::Get().Watch(*pid, exec_fd, exit->Callback());
    return std::make_pair(*pid, exit);
  };
  // A cgroup used, released into the pool, and reused by a later container.
  auto used = first->Create("old", limits);
  ASSERT_TRUE(used.ok()) << used.status();
  first->Release("old");
  ASSERT_EQ(first->pooled(), 1u);
  auto kept = first->Create("kept", limits);
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->name, used->name) << "the pooled cgroup is reused";
  auto stray = first->Create("stray", limits);
  ASSERT_TRUE(stray.ok());
  auto [kept_pid, kept_exit] = launch(*kept);
  auto [stray_pid, stray_exit] = launch(*stray);

  // The agent crashes; the next run knows only the "kept" container.
  first.reset();
  auto second = Cgroups::Detect(root, true);
  ASSERT_TRUE(second->enabled());
  EXPECT_EQ(second->Recover({{"kept", kept->name}}), 1u);
  auto e = stray_exit->Wait();
  ASSERT_TRUE(e.has_value()) << "the stray container was not killed";
  EXPECT_EQ(::kill(kept_pid, 0), 0) << "the recovered container must keep running";
  // The kept container is the agent's again: releasing it kills its process.
  second->Release("kept");
  EXPECT_TRUE(kept_exit->Wait().has_value());
  second.reset();
  for (const char* h : {"", "memory/", "cpu/", "pids/"}) {
    std::error_code ec;
    fs::remove(absl::StrCat("/sys/fs/cgroup/", h, root), ec);
    fs::remove(absl::StrCat("/sys/fs/cgroup/", h, "corral-test"), ec);
  }
}

}  // namespace
}  // namespace corral
