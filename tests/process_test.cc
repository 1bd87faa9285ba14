// End-to-end tests with the real binaries as separate processes on
// loopback: corral-master, corral-agent and the corral command line.
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include <grpcpp/grpcpp.h>

#include "corral/common/resources.h"
#include "corral/v1/internal.grpc.pb.h"
#include "corral/v1/master.pb.h"
#include "daemons.h"
#include "test_util.h"

namespace corral {
namespace {

using testing::BinDir;
using testing::Child;
using testing::FreePort;
using testing::ReadAll;
using testing::RecordingScheduler;
using testing::ShellTask;

class ProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "corral-proc-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    agent_.reset();
    master_.reset();
    if (HasFailure()) {
      // Keep the daemons' logs for whoever reads the failure.
      std::cerr << "daemon logs kept in " << dir_ << std::endl;
      for (const char* name : {"master.err", "agent.err"}) {
        std::string text = ReadAll(dir_ + "/" + name);
        if (text.size() > 4000) text = text.substr(text.size() - 4000);
        std::cerr << "--- " << name << " (tail) ---\n" << text << std::endl;
      }
      return;
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  // Starts corral-master and one corral-agent; waits until the agent's
  // resources are offered to a scheduler.
  void StartCluster() {
    port_ = FreePort();
    master_addr_ = "127.0.0.1:" + std::to_string(port_);
    master_ =
        std::make_unique<Child>(std::vector<std::string>{BinDir() + "/corral-master", "--port=" + std::to_string(port_),
                                                         "--agent_ping_timeout=100ms", "--max_agent_ping_timeouts=3",
                                                         "--work_dir=" + dir_ + "/master"},
                                dir_, "master");
    agent_ = std::make_unique<Child>(
        std::vector<std::string>{BinDir() + "/corral-agent", "--master=" + master_addr_, "--port=0",
                                 "--work_dir=" + dir_ + "/agent", "--resources=cpus:2;mem:1024;disk:1024"},
        dir_, "agent");
    ASSERT_TRUE(WaitForActiveAgent(30)) << master_->err() << agent_->err();
  }
  bool WaitForActiveAgent(double seconds) { return testing::WaitForActiveAgent(master_addr_, seconds); }
  std::string dir_;
  int port_ = 0;
  std::string master_addr_;
  std::unique_ptr<Child> master_, agent_;
};

TEST_F(ProcessTest, TasksRunAndAHungAgentBecomesUnreachable) {
  StartCluster();
  RecordingScheduler s;
  std::atomic<int> launched{0};
  s.on_offers = [&](SchedulerDriver* d, const std::vector<v1::Offer>& offers) {
    for (const auto& o : offers) {
      std::vector<v1::TaskInfo> tasks;
      auto have = Resources::FromProto(o.resources());
      Milli cpus = have->Scalar("cpus");
      while (launched < 20 && cpus >= 100) {
        tasks.push_back(ShellTask("p" + std::to_string(launched++), o.agent_id(), "true"));
        cpus -= 100;
      }
      if (launched == 20 && tasks.empty() && cpus >= 100 && !s.Locked([&] { return s.latest_.count("long") > 0; })) {
        tasks.push_back(ShellTask("long", o.agent_id(), "sleep 60"));
      }
      v1::Filters f;
      f.set_refuse_seconds(0);
      if (tasks.empty())
        (void)d->decline({o.id()}, f);
      else
        (void)d->launch(o.id(), tasks, f);
    }
  };
  SchedulerDriver d(&s, testing::Framework("procs", /*partition_aware=*/true), master_addr_);
  ASSERT_TRUE(d.start().ok());
  ASSERT_TRUE(s.WaitFor(
      [&] {
        int n = 0;
        for (const auto& [id, st] : s.latest_)
          if (st.state() == v1::TASK_FINISHED) ++n;
        return n == 20;
      },
      60))
      << master_->err() << agent_->err();
  ASSERT_TRUE(s.WaitForState("long", v1::TASK_RUNNING).has_state());

  agent_->Signal(SIGSTOP);  // still connected, but answers nothing
  v1::TaskStatus st = s.WaitForState("long", v1::TASK_UNREACHABLE, 15);
  ASSERT_TRUE(st.has_state()) << master_->err();
  EXPECT_EQ(st.source(), v1::TaskStatus::SOURCE_MASTER);
  agent_->Signal(SIGCONT);
  EXPECT_TRUE(s.WaitFor(
      [&] {
        for (const auto& u : s.updates_) {
          if (u.task_id().value() == "long" && u.state() == v1::TASK_RUNNING &&
              u.reason() == v1::TaskStatus::REASON_AGENT_REREGISTERED)
            return true;
        }
        return false;
      },
      20))
      << agent_->err();
  (void)d.stop();
}

TEST_F(ProcessTest, CorralRunStreamsOutputAndExitsWithTheTasksCode) {
  StartCluster();
  Child hello({BinDir() + "/corral", "run", "--master=" + master_addr_, "--", "echo", "hello", "world"}, dir_, "hello");
  EXPECT_EQ(hello.Wait(60), 0) << hello.err();
  EXPECT_EQ(hello.out(), "hello world\n");

  Child fail({BinDir() + "/corral", "run", "--master=" + master_addr_, "--shell", "--", "echo oops >&2; exit 4"}, dir_,
             "fail");
  EXPECT_EQ(fail.Wait(60), 4);
  EXPECT_NE(fail.err().find("oops"), std::string::npos) << fail.err();
  EXPECT_NE(fail.err().find("Command exited with status 4"), std::string::npos) << fail.err();

  Child tasks({BinDir() + "/corral", "tasks", "--master=" + master_addr_}, dir_, "tasks");
  EXPECT_EQ(tasks.Wait(30), 0);
  EXPECT_NE(tasks.out().find("echo hello world"), std::string::npos) << tasks.out();
  EXPECT_NE(tasks.out().find("TASK_FINISHED"), std::string::npos);
  Child agents({BinDir() + "/corral", "agents", "--master=" + master_addr_}, dir_, "agents");
  EXPECT_EQ(agents.Wait(30), 0);
  EXPECT_NE(agents.out().find("active"), std::string::npos) << agents.out();
}

TEST_F(ProcessTest, CorralMaintenanceTakesAMachineDownAndUp) {
  StartCluster();
  auto corral = [&](std::vector<std::string> args, const std::string& name) {
    args.insert(args.begin(), {BinDir() + "/corral", "maintenance"});
    args.push_back("--master=" + master_addr_);
    return std::make_unique<Child>(args, dir_, name);
  };
  std::string file = dir_ + "/schedule.json";
  std::ofstream(file) << R"({"windows": [{"machine_ids": [{"hostname": "localhost"}],
                             "unavailability": {"start": {"nanoseconds": "4102444800000000000"}}}]})";
  auto set = corral({"schedule", "--schedule=" + file}, "set");
  ASSERT_EQ(set->Wait(30), 0) << set->err();
  auto show = corral({"schedule"}, "show");
  ASSERT_EQ(show->Wait(30), 0) << show->err();
  EXPECT_NE(show->out().find("\"hostname\": \"localhost\""), std::string::npos) << show->out();
  auto status = corral({"status"}, "status");
  ASSERT_EQ(status->Wait(30), 0);
  EXPECT_NE(status->out().find("draining_machines"), std::string::npos) << status->out();

  // Down: the agent is refused and exits, saying why.
  auto start = corral({"start", "localhost"}, "start");
  ASSERT_EQ(start->Wait(30), 0) << start->err();
  EXPECT_EQ(agent_->Wait(30), 1);
  EXPECT_NE(agent_->err().find("down for maintenance"), std::string::npos) << agent_->err();
  auto again = corral({"start", "localhost"}, "again");
  EXPECT_EQ(again->Wait(30), 1);
  EXPECT_NE(again->err().find("already down"), std::string::npos) << again->err();

  auto stop = corral({"stop", "localhost"}, "stop");
  ASSERT_EQ(stop->Wait(30), 0) << stop->err();
  auto empty = corral({"status"}, "empty");
  ASSERT_EQ(empty->Wait(30), 0);
  EXPECT_EQ(empty->out().find("localhost"), std::string::npos) << empty->out();

  auto unknown =
      std::make_unique<Child>(std::vector<std::string>{BinDir() + "/corral", "drain", "no-such-agent",
                                                       "--max_grace_period=1secs", "--master=" + master_addr_},
                              dir_, "drain");
  EXPECT_EQ(unknown->Wait(30), 1);
  EXPECT_NE(unknown->err().find("agent 'no-such-agent' is unknown"), std::string::npos) << unknown->err();

  std::ofstream(file) << R"({"windows": [{"machines": []}]})";
  auto bad = corral({"schedule", "--schedule=" + file}, "bad");
  EXPECT_EQ(bad->Wait(30), 2);
  EXPECT_NE(bad->err().find("is not a maintenance schedule"), std::string::npos) << bad->err();
}

// The operator commands that only /api/v1 had: weights, quota, roles and
// reservations, through the gRPC OperatorService's one Call.
TEST_F(ProcessTest, CorralSetsWeightsQuotasAndReservations) {
  StartCluster();
  auto corral = [&](std::vector<std::string> args, const std::string& name) {
    args.insert(args.begin(), BinDir() + "/corral");
    args.push_back("--master=" + master_addr_);
    auto child = std::make_unique<Child>(args, dir_, name);
    child->Wait(30);
    return child;
  };
  auto weights = corral({"weights", "set", "dev=2.5"}, "weights-set");
  ASSERT_EQ(weights->Wait(0), 0) << weights->err();
  auto quota = corral({"quota", "set", "dev", "--guarantee=cpus:1;mem:128", "--limit=cpus:2"}, "quota-set");
  ASSERT_EQ(quota->Wait(0), 0) << quota->err();

  auto shown = corral({"quota"}, "quota");
  ASSERT_EQ(shown->Wait(0), 0) << shown->err();
  EXPECT_NE(shown->out().find("cpus:1;mem:128"), std::string::npos) << shown->out();
  EXPECT_NE(shown->out().find("cpus:2"), std::string::npos) << shown->out();
  auto roles = corral({"roles"}, "roles");
  ASSERT_EQ(roles->Wait(0), 0) << roles->err();
  EXPECT_NE(roles->out().find("dev"), std::string::npos) << roles->out();
  EXPECT_NE(roles->out().find("2.5"), std::string::npos) << roles->out();
  auto all = corral({"weights"}, "weights");
  EXPECT_NE(all->out().find("2.5"), std::string::npos) << all->out();

  // A guarantee the cluster cannot hold is refused, naming why.
  auto big = corral({"quota", "set", "dev", "--guarantee=cpus:64"}, "quota-big");
  EXPECT_EQ(big->Wait(0), 1);
  EXPECT_NE(big->err().find("quota set: "), std::string::npos) << big->err();
  auto bad = corral({"quota", "set", "dev", "--guarantee=cpus:lots"}, "quota-bad");
  EXPECT_EQ(bad->Wait(0), 2);
  EXPECT_NE(bad->err().find("--guarantee"), std::string::npos) << bad->err();
  auto odd = corral({"weights", "set", "dev"}, "weights-bad");
  EXPECT_EQ(odd->Wait(0), 2);
  EXPECT_NE(odd->err().find("is not ROLE=WEIGHT"), std::string::npos) << odd->err();

  auto stub =
      v1::internal::OperatorService::NewStub(grpc::CreateChannel(master_addr_, grpc::InsecureChannelCredentials()));
  auto state = [&] {
    grpc::ClientContext ctx;
    v1::internal::ClusterState st;
    EXPECT_TRUE(stub->GetState(&ctx, v1::internal::GetClusterState(), &st).ok());
    return st;
  };
  std::string agent_id = state().agents(0).agent_info().id().value();
  auto reserved_for_dev = [&] {
    auto total = Resources::FromProto(state().agents(0).total());
    return total.ok() ? FromMilli(total->AllocatableTo("dev").Scalar("cpus") - total->Unreserved().Scalar("cpus"))
                      : -1.0;
  };
  auto reserve = corral({"reserve", agent_id, "cpus:1;mem:64", "--role=dev", "--principal=ops"}, "reserve");
  ASSERT_EQ(reserve->Wait(0), 0) << reserve->err();
  EXPECT_EQ(reserved_for_dev(), 1.0);
  auto unreserve = corral({"unreserve", agent_id, "cpus:1;mem:64", "--role=dev", "--principal=ops"}, "unreserve");
  ASSERT_EQ(unreserve->Wait(0), 0) << unreserve->err();
  EXPECT_EQ(reserved_for_dev(), 0.0);
  auto roleless = corral({"reserve", agent_id, "cpus:1"}, "reserve-roleless");
  EXPECT_EQ(roleless->Wait(0), 2);
  EXPECT_NE(roleless->err().find("--role"), std::string::npos) << roleless->err();
  auto too_much = corral({"reserve", agent_id, "cpus:16", "--role=dev"}, "reserve-too-much");
  EXPECT_EQ(too_much->Wait(0), 1);
  EXPECT_NE(too_much->err().find("reserve: "), std::string::npos) << too_much->err();
}

// The operator event stream over gRPC: what /api/v1 streams for SUBSCRIBE.
TEST_F(ProcessTest, OperatorEventsStreamOverGrpc) {
  StartCluster();
  auto stub =
      v1::internal::OperatorService::NewStub(grpc::CreateChannel(master_addr_, grpc::InsecureChannelCredentials()));
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::master::Call wrong;
    wrong.set_type(v1::master::Call::GET_HEALTH);
    auto reader = stub->Subscribe(&ctx, wrong);
    v1::master::Event ev;
    EXPECT_FALSE(reader->Read(&ev));
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::master::Call subscribe;
  subscribe.set_type(v1::master::Call::SUBSCRIBE);
  auto reader = stub->Subscribe(&ctx, subscribe);
  v1::master::Event ev;
  ASSERT_TRUE(reader->Read(&ev));
  ASSERT_EQ(ev.type(), v1::master::Event::SUBSCRIBED);
  EXPECT_EQ(ev.subscribed().get_state().get_agents().agents_size(), 1);

  Child run({BinDir() + "/corral", "run", "--master=" + master_addr_, "--name=seen", "--", "true"}, dir_, "run");
  bool added = false;
  while (!added && reader->Read(&ev)) {
    added = ev.type() == v1::master::Event::TASK_ADDED && ev.task_added().task().name() == "seen";
  }
  EXPECT_TRUE(added) << "no TASK_ADDED for the task before the deadline";
  EXPECT_EQ(run.Wait(30), 0) << run.err();
  ctx.TryCancel();
}

TEST_F(ProcessTest, CorralNamesTheMasterItCouldNotReach) {
  int port = FreePort();
  std::string addr = "127.0.0.1:" + std::to_string(port);
  Child run({BinDir() + "/corral", "run", "--master=" + addr, "--", "true"}, dir_, "run");
  EXPECT_EQ(run.Wait(30), 2);
  EXPECT_NE(run.err().find("cannot reach the master at " + addr), std::string::npos) << run.err();
}

TEST_F(ProcessTest, BadFlagsExitWithOneClearLine) {
  struct Case {
    std::vector<std::string> argv;
    std::string expect;
  };
  std::vector<Case> cases = {
      {{BinDir() + "/corral-master", "--agent_ping_timeout=soon"}, "--agent_ping_timeout: 'soon' is not a duration"},
      {{BinDir() + "/corral-master", "--weights=dev=-1"}, "--weights: 'dev=-1'"},
      {{BinDir() + "/corral-master", "--quotas={bad"}, "--quotas is not valid JSON"},
      {{BinDir() + "/corral-master", "--port=notaport"}, "notaport"},
      {{BinDir() + "/corral-agent"}, "--master is required"},
      {{BinDir() + "/corral-agent", "--master=127.0.0.1:1", "--resources=cpus:lots"},
       "--resources: resource 'cpus': 'lots' is not a number"},
      {{BinDir() + "/corral"}, "missing command"},
  };
  int i = 0;
  for (const Case& c : cases) {
    Child p(c.argv, dir_, "flags" + std::to_string(i++));
    EXPECT_NE(p.Wait(30), 0) << c.argv.back();
    std::string err = p.err();
    EXPECT_NE(err.find(c.expect), std::string::npos) << err;
    EXPECT_LE(std::count(err.begin(), err.end(), '\n'), 2) << "one clear line, got: " << err;
  }
}

TEST_F(ProcessTest, HelpListsFlagsWithDefaults) {
  Child help({BinDir() + "/corral-master", "--help"}, dir_, "help");
  help.Wait(30);
  std::string text = help.out() + help.err();
  EXPECT_NE(text.find("--agent_ping_timeout"), std::string::npos) << text;
  EXPECT_NE(text.find("default: \"15secs\""), std::string::npos) << text;
  EXPECT_NE(text.find("--offer_timeout"), std::string::npos);
}

}  // namespace
}  // namespace corral
