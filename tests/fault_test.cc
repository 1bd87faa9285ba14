// Faults an operator or an attacker causes, with the real daemons as
// processes on loopback: a second daemon on a work dir, a master whose
// registry cannot be written, kill -9 during a burst of launches. Each test
// is bounded in count and time and stops what it started.
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <vector>

#include <grpcpp/grpcpp.h>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "corral/common/task_state.h"
#include "corral/v1/internal.grpc.pb.h"
#include "daemons.h"
#include "test_util.h"

namespace corral {
namespace {

using testing::BinDir;
using testing::Child;
using testing::FreePort;
using testing::PollUntil;
using testing::ReadAll;
using testing::RecordingScheduler;
using testing::ShellTask;
namespace fs = std::filesystem;

class FaultTest : public testing::DaemonTest {};

v1::FrameworkInfo Checkpointing(const std::string& name) {
  v1::FrameworkInfo fw = testing::Framework(name);
  fw.set_checkpoint(true);
  fw.set_failover_timeout(120);
  return fw;
}

// Every process on the machine whose environment names `framework_id`
// (the agent gives each container MESOS_FRAMEWORK_ID), by MESOS_TASK_ID:
// whatever a framework's tasks started, recorded anywhere or not.
std::map<std::string, std::set<pid_t>> ProcessesOf(const std::string& framework_id) {
  std::map<std::string, std::set<pid_t>> out;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return out;
  const std::string wanted = "MESOS_FRAMEWORK_ID=" + framework_id;
  while (dirent* e = ::readdir(proc)) {
    pid_t pid = static_cast<pid_t>(std::strtol(e->d_name, nullptr, 10));
    if (pid <= 0) continue;
    std::string environ = ReadAll(absl::StrCat("/proc/", pid, "/environ"));
    // A zombie has an empty environment: it runs nothing.
    std::string task;
    bool ours = false;
    for (absl::string_view var : absl::StrSplit(environ, '\0')) {
      if (var == wanted) ours = true;
      if (absl::StartsWith(var, "MESOS_TASK_ID=")) task = std::string(var.substr(14));
    }
    if (ours) out[task].insert(pid);
  }
  ::closedir(proc);
  return out;
}

TEST_F(FaultTest, ASecondDaemonOnTheSameWorkDirIsRefused) {
  StartMaster();
  StartAgent();
  ASSERT_TRUE(WaitForActiveAgent(30)) << master_->err() << agent_->err();

  std::vector<std::string> second_master = MasterArgs();
  second_master[1] = "--port=" + std::to_string(FreePort());
  Child master2(second_master, dir_, "master-second");
  EXPECT_EQ(master2.Wait(30), 1);
  EXPECT_NE(master2.err().find("--work_dir " + dir_ + "/master is in use by another corral-master (pid "),
            std::string::npos)
      << master2.err();

  std::vector<std::string> second_agent = AgentArgs();
  second_agent[2] = "--port=" + std::to_string(FreePort());
  Child agent2(second_agent, dir_, "agent-second");
  EXPECT_EQ(agent2.Wait(30), 1);
  EXPECT_NE(agent2.err().find("--work_dir " + dir_ + "/agent is in use by another corral-agent (pid "),
            std::string::npos)
      << agent2.err();

  // The first ones carry on; once the agent is gone, its work dir is free.
  EXPECT_TRUE(WaitForActiveAgent(5));
  agent_->Signal(SIGKILL);
  ASSERT_GE(agent_->Wait(10), 0);
  StartAgent();
  EXPECT_TRUE(WaitForActiveAgent(30)) << agent_->err();
}

// The master's work dir fills up: it cannot record an agent's
// reregistration. The agent must keep its tasks and try again; once there
// is space, it comes back with them.
TEST_F(FaultTest, AMasterThatCannotWriteItsRegistryCostsNoAgentItsTasks) {
  std::string fsdir = dir_ + "/master";
  fs::create_directories(fsdir);
  std::string mount = "mount -t tmpfs -o size=4m tmpfs " + fsdir + " 2>/dev/null";
  if (std::system(mount.c_str()) != 0) GTEST_SKIP() << "cannot mount a tmpfs here (needs root)";
  struct Unmount {
    std::string path;
    ~Unmount() { (void)std::system(("umount -l " + path + " 2>/dev/null").c_str()); }
  } unmount{fsdir};
  StartMaster();
  StartAgent();
  ASSERT_TRUE(WaitForActiveAgent(30)) << master_->err() << agent_->err();
  RecordingScheduler s;
  SchedulerDriver d(&s, Checkpointing("full-master"), master_addr_);
  ASSERT_TRUE(d.start().ok());
  v1::Offer offer;
  ASSERT_TRUE(s.TakeOffer(&offer));
  std::string pidfile = dir_ + "/task.pid";
  ASSERT_TRUE(
      d.launch(offer.id(), {ShellTask("long", offer.agent_id(), "echo $$ > " + pidfile + "; exec sleep 600")}).ok());
  ASSERT_TRUE(s.WaitForState("long", v1::TASK_RUNNING).has_state());
  ASSERT_TRUE(PollUntil([&] { return !ReadAll(pidfile).empty(); }, 10));
  pid_t pid = std::stoi(ReadAll(pidfile));

  // Fill the master's file system, then make the agent reregister.
  std::string filler = fsdir + "/filler";
  {
    std::ofstream out(filler, std::ios::binary);
    std::string block(1 << 16, 'x');
    for (int i = 0; i < 128 && out.write(block.data(), block.size()); ++i) {}
  }
  agent_->Signal(SIGKILL);
  ASSERT_GE(agent_->Wait(10), 0);
  StartAgent();
  ASSERT_TRUE(PollUntil([&] { return master_->err().find("Cannot readmit agent") != std::string::npos; }, 30))
      << master_->err();
  ASSERT_TRUE(PollUntil([&] { return agent_->err().find("will try again") != std::string::npos; }, 30))
      << agent_->err();
  EXPECT_EQ(agent_->Wait(1), -1) << "the agent must not exit: " << agent_->err();
  EXPECT_EQ(master_->Wait(0), -1) << "the master must stay up: " << master_->err();
  EXPECT_EQ(::kill(pid, 0), 0) << "the task must keep running";
  EXPECT_NE(ReadAll(dir_ + "/agent/meta/agent"), "") << "the agent keeps its checkpoints";

  // Space again: the agent comes back with its task, which still answers.
  fs::remove(filler);
  ASSERT_TRUE(WaitForState(
      [](const auto& st) {
        return st.agents_size() == 1 && st.agents(0).active() && st.tasks_size() == 1 &&
               st.tasks(0).state() == v1::TASK_RUNNING;
      },
      30))
      << agent_->err();
  ASSERT_TRUE(d.kill(s.Locked([&] { return s.latest_["long"].task_id(); })).ok());
  EXPECT_TRUE(s.WaitForState("long", v1::TASK_KILLED).has_state());
  (void)d.stop();
  agent_.reset();
  master_.reset();  // before the unmount
}

// kill -9 of the agent while two frameworks launch as fast as offers come:
// a checkpointing one (its tasks outlive the agent) and one that does not
// checkpoint (its tasks die with it). Afterwards every process a task
// started is accounted for: a task has processes exactly while it is
// running, and a torn-down framework leaves none.
TEST_F(FaultTest, AgentKilledMidLaunchLeavesNoProcessItCannotAccountFor) {
  StartMaster();
  StartAgent();
  ASSERT_TRUE(WaitForActiveAgent(30)) << master_->err() << agent_->err();
  const int kTasks = 120;  // per framework
  struct Launcher {
    RecordingScheduler s;
    std::atomic<int> launched{0};
  };
  auto launch_all = [&](Launcher& l, const std::string& prefix) {
    l.s.on_offers = [&l, prefix, kTasks](SchedulerDriver* d, const std::vector<v1::Offer>& offers) {
      for (const auto& o : offers) {
        std::vector<v1::TaskInfo> tasks;
        while (l.launched < kTasks && tasks.size() < 10) {
          tasks.push_back(ShellTask(prefix + std::to_string(l.launched++), o.agent_id(), "exec sleep 600", 0.05, 8));
        }
        v1::Filters f;
        f.set_refuse_seconds(0);
        if (tasks.empty())
          (void)d->decline({o.id()}, f);
        else
          (void)d->launch(o.id(), tasks, f);
      }
    };
  };
  Launcher ckpt, plain;
  launch_all(ckpt, "c");
  launch_all(plain, "p");
  v1::FrameworkInfo plain_info = testing::Framework("plain");
  plain_info.set_failover_timeout(120);
  SchedulerDriver cd(&ckpt.s, Checkpointing("ckpt"), master_addr_);
  SchedulerDriver pd(&plain.s, plain_info, master_addr_);
  ASSERT_TRUE(cd.start().ok());
  ASSERT_TRUE(pd.start().ok());
  auto running = [](RecordingScheduler& s) {
    int n = 0;
    for (const auto& [id, st] : s.latest_) n += st.state() == v1::TASK_RUNNING;
    return n;
  };
  // Mid-burst: some tasks run, more are on their way.
  ASSERT_TRUE(ckpt.s.WaitFor([&] { return running(ckpt.s) >= 30; }, 60)) << agent_->err();
  agent_->Signal(SIGKILL);
  int launched_at_kill = ckpt.launched + plain.launched;
  int running_at_kill =
      ckpt.s.Locked([&] { return running(ckpt.s); }) + plain.s.Locked([&] { return running(plain.s); });
  ASSERT_GE(agent_->Wait(10), 0);
  std::string ckpt_id = ckpt.s.Locked([&] { return ckpt.s.framework_id_; });
  std::string plain_id = plain.s.Locked([&] { return plain.s.framework_id_; });
  // What does not checkpoint died with the agent.
  EXPECT_TRUE(PollUntil([&] { return ProcessesOf(plain_id).empty(); }, 10))
      << ProcessesOf(plain_id).size() << " tasks of the non-checkpointing framework outlived the agent";

  StartAgent();
  ASSERT_TRUE(WaitForActiveAgent(30)) << agent_->err();
  // Every task ends up running or terminal, and stays so.
  auto settled = [&](Launcher& l) {
    return l.s.WaitFor(
        [&] {
          if (l.launched < kTasks) return false;
          for (int i = 0; i < kTasks; ++i) {
            auto it = l.s.latest_.find((&l == &ckpt ? "c" : "p") + std::to_string(i));
            if (it == l.s.latest_.end()) return false;
            if (it->second.state() != v1::TASK_RUNNING && !IsTerminalState(it->second.state())) return false;
          }
          return true;
        },
        90);
  };
  ASSERT_TRUE(settled(ckpt)) << agent_->err();
  ASSERT_TRUE(settled(plain)) << agent_->err();
  // The processes match the tasks' states, one way and the other.
  auto processes = ProcessesOf(ckpt_id);
  auto latest = ckpt.s.Locked([&] { return ckpt.s.latest_; });
  int alive = 0;
  for (const auto& [task, pids] : processes) {
    ASSERT_TRUE(latest.count(task)) << "processes of an unknown task '" << task << "'";
    EXPECT_EQ(latest[task].state(), v1::TASK_RUNNING)
        << task << " has " << pids.size() << " processes but is " << v1::TaskState_Name(latest[task].state()) << ": "
        << latest[task].message();
  }
  for (const auto& [task, st] : latest) {
    if (st.state() != v1::TASK_RUNNING) continue;
    ++alive;
    EXPECT_TRUE(processes.count(task)) << task << " is reported running but has no process";
  }
  EXPECT_GE(alive, 30) << "the tasks running before the crash survive it";
  std::cerr << "At the kill: " << launched_at_kill << " tasks launched, " << running_at_kill
            << " reported running; afterwards " << alive << " of the checkpointing framework's run\n";
  EXPECT_TRUE(ProcessesOf(plain_id).empty());
  for (const auto& [task, st] : plain.s.Locked([&] { return plain.s.latest_; })) {
    EXPECT_NE(st.state(), v1::TASK_RUNNING) << task;
  }

  // Teardown ends every process of the framework.
  (void)cd.stop(/*failover=*/false);
  EXPECT_TRUE(PollUntil([&] { return ProcessesOf(ckpt_id).empty(); }, 30))
      << ProcessesOf(ckpt_id).size() << " tasks outlived their framework's teardown";
  (void)pd.stop(/*failover=*/false);
}

// A socket to `port` on 127.0.0.1 from `source` (another loopback address:
// another peer), or -1.
int ConnectFrom(const std::string& source, int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in from{};
  from.sin_family = AF_INET;
  ::inet_pton(AF_INET, source.c_str(), &from.sin_addr);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  ::inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

size_t OpenFiles(pid_t pid) {
  size_t n = 0;
  std::error_code ec;
  for (auto it = fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != fs::directory_iterator(); it.increment(ec)) {
    ++n;
  }
  return n;
}

// 1,100 connections that send nothing, from one address, against a master
// with only 512 descriptors: it keeps serving everyone else.
TEST_F(FaultTest, SilentConnectionsDoNotTakeTheMasterOffline) {
  std::vector<std::string> args = {"/bin/sh", "-c", "ulimit -n 512 && exec \"$0\" \"$@\""};
  for (const std::string& a : MasterArgs()) args.push_back(a);
  master_ = std::make_unique<Child>(args, dir_, LogName("master"));
  StartAgent();
  ASSERT_TRUE(WaitForActiveAgent(30)) << master_->err() << agent_->err();
  std::vector<int> silent;
  for (int i = 0; i < 1100; ++i) {
    int fd = ConnectFrom("127.0.0.2", master_port_);
    if (fd >= 0) silent.push_back(fd);
  }
  struct CloseAll {
    std::vector<int>& fds;
    ~CloseAll() {
      for (int fd : fds) ::close(fd);
    }
  } close_all{silent};
  ASSERT_GT(silent.size(), 1000u) << "the kernel accepted the connections (the backlog)";
  // The master holds at most a quarter of its connections for that peer and
  // closes the rest; it stays well inside its descriptors.
  pid_t master_pid = master_->pid();
  ASSERT_TRUE(
      PollUntil([&] { return master_->err().find("Refusing a connection from 127.0.0.2") != std::string::npos; }, 10))
      << master_->err();
  EXPECT_LT(OpenFiles(master_pid), 400u);
  // Everyone else is served: the agent stays, a framework subscribes and
  // runs a task, HTTP answers.
  RecordingScheduler s;
  SchedulerDriver d(&s, testing::Framework("still-served"), master_addr_);
  ASSERT_TRUE(d.start().ok());
  v1::Offer offer;
  ASSERT_TRUE(s.TakeOffer(&offer)) << master_->err();
  ASSERT_TRUE(d.launch(offer.id(), {ShellTask("t", offer.agent_id(), "true")}).ok());
  EXPECT_TRUE(s.WaitForState("t", v1::TASK_FINISHED).has_state());
  int http = ConnectFrom("127.0.0.1", master_port_);
  ASSERT_GE(http, 0);
  std::string get = "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  ASSERT_EQ(::write(http, get.data(), get.size()), static_cast<ssize_t>(get.size()));
  char buf[64] = {0};
  EXPECT_GT(::read(http, buf, sizeof buf - 1), 0);
  EXPECT_EQ(std::string(buf).substr(0, 12), "HTTP/1.1 200") << buf;
  ::close(http);
  EXPECT_EQ(master_->Wait(0), -1) << master_->err();
  (void)d.stop();
}

// A master that registers each agent that connects, telling it a total
// ping timeout of one second, and then never says another word nor closes
// the stream. The agent leaves the silent link and connects again.
class SilentAgentMaster : public v1::internal::AgentService::CallbackService {
 public:
  grpc::ServerBidiReactor<v1::internal::AgentMessage, v1::internal::MasterMessage>* Connect(
      grpc::CallbackServerContext*) override {
    std::lock_guard<std::mutex> lock(mu);
    connects.push_back(std::chrono::steady_clock::now());
    return new Link();
  }
  std::mutex mu;
  std::vector<std::chrono::steady_clock::time_point> connects;

 private:
  class Link : public grpc::ServerBidiReactor<v1::internal::AgentMessage, v1::internal::MasterMessage> {
   public:
    Link() { StartRead(&in_); }
    void OnReadDone(bool ok) override {
      if (!ok || answered_) return;  // the first message, (re)registering, gets its answer
      answered_ = true;
      out_.mutable_registered()->mutable_agent_id()->set_value("silent-S0");
      out_.mutable_registered()->set_total_ping_timeout_seconds(1);
      StartWrite(&out_);
    }
    void OnCancel() override { Finish(grpc::Status::CANCELLED); }
    void OnDone() override { delete this; }

   private:
    v1::internal::AgentMessage in_;
    v1::internal::MasterMessage out_;
    bool answered_ = false;
  };
};

TEST_F(FaultTest, AnAgentLeavesASilentMasterAndConnectsAgain) {
  SilentAgentMaster master;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&master);
  auto server = builder.BuildAndStart();
  ASSERT_TRUE(server && port > 0);
  Child agent({BinDir() + "/corral-agent", "--master=127.0.0.1:" + std::to_string(port),
               "--port=" + std::to_string(FreePort()), "--work_dir=" + dir_ + "/agent",
               "--resources=cpus:1;mem:256;disk:256", "--registration_backoff=100ms", "--cgroups=false"},
              dir_, "agent");
  auto count = [&] {
    std::lock_guard<std::mutex> lock(master.mu);
    return master.connects.size();
  };
  ASSERT_TRUE(PollUntil([&] { return count() >= 3; }, 20)) << count() << " connections";
  std::lock_guard<std::mutex> lock(master.mu);
  // Each link left after about the second of silence it was allowed (the
  // agent looks every second), not at once.
  for (size_t i = 1; i < 3; ++i) {
    double gap = std::chrono::duration<double>(master.connects[i] - master.connects[i - 1]).count();
    EXPECT_GE(gap, 0.9) << "connection " << i;
    EXPECT_LE(gap, 6) << "connection " << i;
  }
  agent.Signal(SIGTERM);
  agent.Wait(30);
  server->Shutdown(std::chrono::system_clock::now());
}

// A master whose subscription streams go silent without closing (a host
// lost without a reset, a server gone with the stream open): the first
// never answers, the second answers SUBSCRIBED (heartbeats every 0.5 s)
// and then says nothing, the third works. The driver leaves each silent
// one, and subscribes again with its framework ID.
class SilentMaster : public v1::internal::SchedulerService::CallbackService {
 public:
  grpc::ServerWriteReactor<v1::scheduler::Event>* Subscribe(grpc::CallbackServerContext*,
                                                            const v1::scheduler::Call* call) override {
    std::lock_guard<std::mutex> lock(mu);
    subscribes.push_back({std::chrono::steady_clock::now(), call->framework_id().value()});
    return new Stream(subscribes.size() >= 2);
  }
  grpc::ServerUnaryReactor* Call(grpc::CallbackServerContext* ctx, const v1::scheduler::Call*,
                                 v1::internal::CallResponse*) override {
    auto* r = ctx->DefaultReactor();
    r->Finish(grpc::Status::OK);
    return r;
  }
  struct Subscription {
    std::chrono::steady_clock::time_point at;
    std::string framework_id;
  };
  std::mutex mu;
  std::vector<Subscription> subscribes;

 private:
  class Stream : public grpc::ServerWriteReactor<v1::scheduler::Event> {
   public:
    explicit Stream(bool answer) {
      if (!answer) return;
      ev_.set_type(v1::scheduler::Event::SUBSCRIBED);
      ev_.mutable_subscribed()->mutable_framework_id()->set_value("fw-silent");
      ev_.mutable_subscribed()->set_heartbeat_interval_seconds(0.5);
      StartWrite(&ev_);
    }
    void OnCancel() override { Finish(grpc::Status::CANCELLED); }
    void OnDone() override { delete this; }

   private:
    v1::scheduler::Event ev_;
  };
};

TEST(SilentMasterTest, ASilentSubscriptionIsLeftAndSubscribedAgain) {
  SilentMaster master;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&master);
  auto server = builder.BuildAndStart();
  ASSERT_TRUE(server && port > 0);
  RecordingScheduler sched;
  SchedulerDriverOptions options;
  options.call_timeout = 1;  // an unanswered subscription is left after this
  SchedulerDriver driver(&sched, testing::Framework("silent"), "127.0.0.1:" + std::to_string(port), options);
  ASSERT_TRUE(driver.start().ok());
  auto count = [&] {
    std::lock_guard<std::mutex> lock(master.mu);
    return master.subscribes.size();
  };
  ASSERT_TRUE(PollUntil([&] { return count() >= 3; }, 20)) << count() << " subscriptions";
  EXPECT_TRUE(sched.WaitSubscribed(5));
  EXPECT_TRUE(sched.WaitFor([&] { return sched.disconnected_ > 0; }, 5)) << "the silent stream was not reported";
  std::vector<SilentMaster::Subscription> subs;
  {
    std::lock_guard<std::mutex> lock(master.mu);
    subs = master.subscribes;
  }
  auto seconds = [](auto a, auto b) { return std::chrono::duration<double>(b - a).count(); };
  // Left after about the call timeout, then three heartbeat intervals of
  // silence (the watchdog looks every second), not at once.
  EXPECT_GE(seconds(subs[0].at, subs[1].at), 0.9);
  EXPECT_LE(seconds(subs[0].at, subs[1].at), 5);
  EXPECT_GE(seconds(subs[1].at, subs[2].at), 1.4);
  EXPECT_LE(seconds(subs[1].at, subs[2].at), 6);
  EXPECT_EQ(subs[0].framework_id, "");
  EXPECT_EQ(subs[2].framework_id, "fw-silent");  // subscribed again as the same framework
  ASSERT_TRUE(driver.stop(true).ok());
  server->Shutdown(std::chrono::system_clock::now());
}

}  // namespace
}  // namespace corral
