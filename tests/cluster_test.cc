// End-to-end tests: a LocalCluster (master and agents in this process, on
// loopback) driven through the C++ SDK; tasks and executors are real
// processes.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include <gtest/gtest.h>
#include <grpcpp/grpcpp.h>

#include "corral/common/ids.h"
#include "corral/local/local_cluster.h"
#include "corral/v1/internal.grpc.pb.h"
#include "test_util.h"

namespace corral {
namespace {

using testing::PollUntil;
using testing::RecordingScheduler;
using testing::ShellTask;

class ClusterTest : public ::testing::Test {
 protected:
  void StartCluster(LocalClusterOptions opts = LocalClusterOptions()) {
    auto c = LocalCluster::Start(opts);
    ASSERT_TRUE(c.ok()) << c.status();
    cluster_ = std::move(*c);
    ASSERT_TRUE(cluster_->WaitForAgents(20).ok());
  }
  std::unique_ptr<SchedulerDriver> Driver(RecordingScheduler* s, const v1::FrameworkInfo& fw) {
    auto d = std::make_unique<SchedulerDriver>(s, fw, cluster_->master_address());
    EXPECT_TRUE(d->start().ok());
    EXPECT_TRUE(s->WaitSubscribed());
    return d;
  }
  // Launches `task` (agent_id filled in) on the next offer.
  v1::Offer LaunchOne(RecordingScheduler& s, SchedulerDriver& d, v1::TaskInfo task) {
    v1::Offer offer;
    EXPECT_TRUE(s.TakeOffer(&offer));
    *task.mutable_agent_id() = offer.agent_id();
    EXPECT_TRUE(d.launch(offer.id(), {task}).ok());
    return offer;
  }
  // The built-in executor for task groups, with a little of its own.
  static v1::ExecutorInfo GroupExecutor() {
    v1::ExecutorInfo ex;
    ex.set_type(v1::ExecutorInfo::DEFAULT);
    ex.mutable_executor_id()->set_value("group-executor");
    testing::AddScalar(ex.mutable_resources(), "cpus", 0.1);
    testing::AddScalar(ex.mutable_resources(), "mem", 32);
    return ex;
  }
  // Waits until `task`'s stdout (on any agent) contains `text`.
  bool WaitForOutput(const std::string& framework_id, const std::string& task, const std::string& text,
                     double seconds = 20) {
    return PollUntil(
        [&] {
          for (size_t i = 0; i < cluster_->agent_count(); ++i) {
            auto out = cluster_->agent(i).ReadSandboxFile(framework_id, task, "stdout", 0, 4096);
            if (out.ok() && out->first.find(text) != std::string::npos) return true;
          }
          return false;
        },
        seconds);
  }
  std::unique_ptr<LocalCluster> cluster_;
};

TEST_F(ClusterTest, TwoHundredTasksAcrossTwoAgentsAllFinish) {
  StartCluster();
  RecordingScheduler s;
  constexpr int kTasks = 200;
  std::atomic<int> launched{0};
  std::map<std::string, int> per_agent;
  std::mutex agent_mu;
  s.on_offers = [&](SchedulerDriver* d, const std::vector<v1::Offer>& offers) {
    for (const auto& o : offers) {
      auto have = Resources::FromProto(o.resources());
      Milli cpus = have->Scalar("cpus"), mem = have->Scalar("mem");
      std::vector<v1::TaskInfo> tasks;
      while (launched < kTasks && cpus >= 100 && mem >= 16000) {
        int n = launched++;
        tasks.push_back(ShellTask("t" + std::to_string(n), o.agent_id(), "true"));
        cpus -= 100;
        mem -= 16000;
      }
      {
        std::lock_guard<std::mutex> lock(agent_mu);
        per_agent[o.agent_id().value()] += static_cast<int>(tasks.size());
      }
      v1::Filters f;
      f.set_refuse_seconds(0);
      if (tasks.empty())
        (void)d->decline({o.id()}, f);
      else
        EXPECT_TRUE(d->launch(o.id(), tasks, f).ok());
    }
  };
  auto d = Driver(&s, testing::Framework("many"));
  ASSERT_TRUE(s.WaitFor(
      [&] {
        int finished = 0;
        for (const auto& [id, st] : s.latest_)
          if (st.state() == v1::TASK_FINISHED) ++finished;
        return finished == kTasks;
      },
      120))
      << "finished " << s.Locked([&] { return s.latest_.size(); }) << " tasks";
  std::lock_guard<std::mutex> lock(agent_mu);
  EXPECT_EQ(per_agent.size(), 2u) << "both agents ran tasks";
  s.Locked([&] {
    for (const auto& u : s.updates_) EXPECT_NE(u.state(), v1::TASK_FAILED) << u.message();
    return 0;
  });
}

TEST_F(ClusterTest, KillHonoursTheKillPolicy) {
  StartCluster();
  RecordingScheduler s;
  auto fw = testing::Framework("kill");
  fw.add_capabilities()->set_type(v1::FrameworkInfo::Capability::TASK_KILLING_STATE);
  auto d = Driver(&s, fw);
  // A task that ignores SIGTERM: only SIGKILL after the grace period ends it.
  v1::TaskInfo t = ShellTask("stubborn", {}, "trap '' TERM; echo armed; while true; do sleep 1; done");
  t.mutable_kill_policy()->mutable_grace_period()->set_nanoseconds(300'000'000);
  LaunchOne(s, *d, t);
  v1::TaskStatus running = s.WaitForState("stubborn", v1::TASK_RUNNING);
  ASSERT_TRUE(running.has_state());
  // Where it runs, as a Mesos agent says it.
  EXPECT_FALSE(running.container_status().container_id().value().empty());
  EXPECT_GT(running.container_status().executor_pid(), 0u);
  ASSERT_EQ(running.container_status().network_infos_size(), 1);
  EXPECT_EQ(running.container_status().network_infos(0).ip_addresses(0).ip_address(), "127.0.0.1");
  ASSERT_TRUE(WaitForOutput(d->framework_id().value(), "stubborn", "armed"));
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(d->kill(running.task_id(), running.agent_id()).ok());
  EXPECT_TRUE(s.WaitForState("stubborn", v1::TASK_KILLING).has_state());
  v1::TaskStatus killed = s.WaitForTerminal("stubborn");
  EXPECT_EQ(killed.state(), v1::TASK_KILLED) << killed.message();
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(300));
  EXPECT_EQ(cluster_->agent(0).running_tasks() + cluster_->agent(1).running_tasks(), 0u);
  // The master keeps the task's history: UIs show when it started and ended.
  v1::Task done;
  ASSERT_TRUE(PollUntil([&] {
    v1::internal::ClusterState state = cluster_->master().GetState();
    for (const v1::Task& t : state.completed_tasks()) {
      if (t.task_id().value() == "stubborn") done = t;
    }
    return done.has_task_id();
  }));
  std::vector<v1::TaskState> states;
  for (const v1::TaskStatus& st : done.statuses()) states.push_back(st.state());
  EXPECT_EQ(states, (std::vector<v1::TaskState>{v1::TASK_RUNNING, v1::TASK_KILLING, v1::TASK_KILLED}));
  ASSERT_EQ(done.statuses_size(), 3);
  EXPECT_EQ(done.statuses(0).timestamp(), running.timestamp());
  EXPECT_LE(done.statuses(0).timestamp(), done.statuses(2).timestamp());
}

TEST_F(ClusterTest, ExitCodesBecomeStates) {
  StartCluster();
  RecordingScheduler s;
  auto d = Driver(&s, testing::Framework("exits"));
  v1::Offer offer;
  ASSERT_TRUE(s.TakeOffer(&offer));
  v1::TaskInfo ok = ShellTask("ok", offer.agent_id(), "exit 0");
  v1::TaskInfo bad = ShellTask("bad", offer.agent_id(), "exit 7");
  v1::TaskInfo missing = ShellTask("missing", offer.agent_id(), "");
  missing.mutable_command()->set_shell(false);
  missing.mutable_command()->set_value("/no/such/program");
  ASSERT_TRUE(d->launch(offer.id(), {ok, bad, missing}).ok());
  EXPECT_EQ(s.WaitForTerminal("ok").state(), v1::TASK_FINISHED);
  v1::TaskStatus b = s.WaitForTerminal("bad");
  EXPECT_EQ(b.state(), v1::TASK_FAILED);
  EXPECT_EQ(b.message(), "Command exited with status 7");
  v1::TaskStatus m = s.WaitForTerminal("missing");
  EXPECT_EQ(m.state(), v1::TASK_FAILED);
  EXPECT_EQ(m.reason(), v1::TaskStatus::REASON_CONTAINER_LAUNCH_FAILED);
  EXPECT_NE(m.message().find("No such file or directory"), std::string::npos) << m.message();
}

TEST_F(ClusterTest, TasksSeeTheirSandboxAndEnvironment) {
  StartCluster();
  RecordingScheduler s;
  auto d = Driver(&s, testing::Framework("env"));
  v1::TaskInfo t = ShellTask("env", {},
                             "test \"$PWD\" = \"$MESOS_SANDBOX\" && test -n \"$MESOS_FRAMEWORK_ID\" && "
                             "test \"$MESOS_TASK_ID\" = env && test \"$GREETING\" = hi && echo done");
  auto* var = t.mutable_command()->mutable_environment()->add_variables();
  var->set_name("GREETING");
  var->set_value("hi");
  LaunchOne(s, *d, t);
  v1::TaskStatus st = s.WaitForTerminal("env");
  EXPECT_EQ(st.state(), v1::TASK_FINISHED) << st.message();
  auto out = cluster_->agent(0).ReadSandboxFile(d->framework_id().value(), "env", "stdout", 0, 100);
  if (!out.ok()) out = cluster_->agent(1).ReadSandboxFile(d->framework_id().value(), "env", "stdout", 0, 100);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->first, "done\n");
  auto escape = cluster_->agent(0).ReadSandboxFile(d->framework_id().value(), "env", "../../../../x", 0, 10);
  EXPECT_FALSE(escape.ok());
}

TEST_F(ClusterTest, ReconcileExplicitAndImplicit) {
  StartCluster();
  RecordingScheduler s;
  auto d = Driver(&s, testing::Framework("reconcile", /*partition_aware=*/true));
  LaunchOne(s, *d, ShellTask("long", {}, "sleep 60"));
  v1::TaskStatus running = s.WaitForState("long", v1::TASK_RUNNING);
  ASSERT_TRUE(running.has_state());

  v1::scheduler::Call::Reconcile::Task known, unknown;
  known.mutable_task_id()->set_value("long");
  unknown.mutable_task_id()->set_value("never-launched");
  ASSERT_TRUE(d->reconcile({known, unknown}).ok());
  auto reconciled = [&](const std::string& id, v1::TaskState state) {
    return s.WaitFor([&] {
      for (const auto& u : s.updates_) {
        if (u.task_id().value() == id && u.reason() == v1::TaskStatus::REASON_RECONCILIATION && u.state() == state) {
          return true;
        }
      }
      return false;
    });
  };
  EXPECT_TRUE(reconciled("long", v1::TASK_RUNNING));
  EXPECT_TRUE(reconciled("never-launched", v1::TASK_UNKNOWN));

  size_t before = s.Locked([&] { return s.updates_.size(); });
  ASSERT_TRUE(d->reconcile({}).ok());
  EXPECT_TRUE(s.WaitFor([&] { return s.updates_.size() > before; }));
  EXPECT_TRUE(s.Locked([&] { return s.updates_.back().task_id().value() == "long"; }));
}

TEST_F(ClusterTest, ResubscribingWithTheSameIdKeepsTasks) {
  StartCluster();
  RecordingScheduler s1;
  auto fw = testing::Framework("failover");
  fw.set_failover_timeout(60);
  auto d1 = Driver(&s1, fw);
  LaunchOne(s1, *d1, ShellTask("survivor", {}, "sleep 60"));
  ASSERT_TRUE(s1.WaitForState("survivor", v1::TASK_RUNNING).has_state());
  ASSERT_TRUE(d1->stop(/*failover=*/true).ok());

  RecordingScheduler s2;
  fw.mutable_id()->set_value(s1.framework_id_);
  auto d2 = Driver(&s2, fw);
  EXPECT_EQ(s2.framework_id_, s1.framework_id_);
  ASSERT_TRUE(d2->reconcile({}).ok());
  v1::TaskStatus st = s2.WaitForState("survivor", v1::TASK_RUNNING);
  ASSERT_TRUE(st.has_state()) << "the task survived the scheduler's failover";
  EXPECT_EQ(cluster_->agent(0).running_tasks() + cluster_->agent(1).running_tasks(), 1u);
  // The new scheduler controls it.
  ASSERT_TRUE(d2->kill(st.task_id(), st.agent_id()).ok());
  EXPECT_EQ(s2.WaitForTerminal("survivor").state(), v1::TASK_KILLED);
}

TEST_F(ClusterTest, TeardownKillsTheFrameworksTasks) {
  StartCluster();
  RecordingScheduler s;
  auto d = Driver(&s, testing::Framework("teardown"));
  LaunchOne(s, *d, ShellTask("doomed", {}, "sleep 60"));
  ASSERT_TRUE(s.WaitForState("doomed", v1::TASK_RUNNING).has_state());
  ASSERT_TRUE(d->stop(/*failover=*/false).ok());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (cluster_->agent(0).running_tasks() + cluster_->agent(1).running_tasks() > 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // polling the agents, bounded by the deadline
  }
  EXPECT_EQ(cluster_->agent(0).running_tasks() + cluster_->agent(1).running_tasks(), 0u);
  EXPECT_EQ(cluster_->master().GetState().frameworks_size(), 0);
}

v1::MachineID Machine(const std::string& hostname) {
  v1::MachineID id;
  id.set_hostname(hostname);
  return id;
}

v1::maintenance::Schedule OneWindow(const std::vector<std::string>& hosts, double start_in_seconds) {
  v1::maintenance::Schedule schedule;
  auto* w = schedule.add_windows();
  for (const auto& h : hosts) *w->add_machine_ids() = Machine(h);
  w->mutable_unavailability()->mutable_start()->set_nanoseconds(
      static_cast<int64_t>((NowSeconds() + start_in_seconds) * 1e9));
  w->mutable_unavailability()->mutable_duration()->set_nanoseconds(3600'000'000'000);
  return schedule;
}

TEST_F(ClusterTest, MaintenanceDrainsWithInverseOffersThenTakesTheMachineDownAndUp) {
  LocalClusterOptions opts;
  opts.agents = 1;  // "localhost"
  StartCluster(opts);
  auto second = cluster_->AddAgent("", "maint-host");
  ASSERT_TRUE(second.ok());
  ASSERT_TRUE(cluster_->WaitForAgents(20).ok());
  Master& master = cluster_->master();

  RecordingScheduler s;
  auto d = Driver(&s, testing::Framework("maint", /*partition_aware=*/true));
  // A task on the machine that will go down.
  v1::Offer offer;
  while (s.TakeOffer(&offer) && offer.hostname() != "maint-host") {}
  ASSERT_EQ(offer.hostname(), "maint-host");
  ASSERT_TRUE(d->launch(offer.id(), {ShellTask("doomed", offer.agent_id(), "sleep 600")}).ok());
  ASSERT_TRUE(s.WaitForState("doomed", v1::TASK_RUNNING).has_state());

  // Bad schedules are refused with the reason.
  v1::maintenance::Schedule twice = OneWindow({"maint-host"}, 3600);
  *twice.add_windows() = twice.windows(0);
  EXPECT_NE(master.UpdateMaintenanceSchedule(twice).message().find("more than one maintenance window"),
            std::string::npos);
  v1::maintenance::Schedule nameless = OneWindow({""}, 3600);
  EXPECT_NE(master.UpdateMaintenanceSchedule(nameless).message().find("hostname' is required"), std::string::npos);
  EXPECT_EQ(master.StartMaintenance({Machine("maint-host")}).code(), absl::StatusCode::kFailedPrecondition);

  // Scheduled: the framework is asked to move off, and offers there carry
  // the unavailability.
  ASSERT_TRUE(master.UpdateMaintenanceSchedule(OneWindow({"MAINT-HOST"}, 3600)).ok());
  ASSERT_TRUE(s.WaitFor([&] { return !s.inverse_offers_.empty(); }));
  v1::InverseOffer inverse = s.Locked([&] { return s.inverse_offers_[0]; });
  EXPECT_EQ(inverse.agent_id().value(), offer.agent_id().value());
  EXPECT_TRUE(inverse.unavailability().has_start());
  ASSERT_TRUE(s.WaitFor([&] {
    for (const auto& o : s.offers_)
      if (o.hostname() == "maint-host" && o.has_unavailability()) return true;
    return false;
  }));
  EXPECT_EQ(master.GetMaintenanceSchedule().windows_size(), 1);
  auto status = master.GetMaintenanceStatus();
  ASSERT_EQ(status.draining_machines_size(), 1);
  ASSERT_EQ(status.draining_machines(0).statuses_size(), 1);
  EXPECT_EQ(status.draining_machines(0).statuses(0).status(), v1::allocator::InverseOfferStatus::UNKNOWN);

  // The framework declines; the status says so.
  ASSERT_TRUE(d->declineInverseOffers({inverse.id()}).ok());
  EXPECT_EQ(d->acceptInverseOffers({inverse.id()}).code(), absl::StatusCode::kNotFound);
  status = master.GetMaintenanceStatus();
  EXPECT_EQ(status.draining_machines(0).statuses(0).status(), v1::allocator::InverseOfferStatus::DECLINE);

  // Down: the agent is removed, its task is gone, the agent stops.
  ASSERT_TRUE(master.StartMaintenance({Machine("maint-host")}).ok());
  v1::TaskStatus gone = s.WaitForState("doomed", v1::TASK_GONE_BY_OPERATOR);
  ASSERT_TRUE(gone.has_state());
  EXPECT_EQ(gone.reason(), v1::TaskStatus::REASON_AGENT_REMOVED_BY_OPERATOR);
  EXPECT_TRUE(
      PollUntil([&] { return cluster_->agent(*second).refusal().find("down for maintenance") != std::string::npos; }));
  EXPECT_TRUE(PollUntil([&] { return cluster_->agent(*second).running_tasks() == 0; }));
  EXPECT_EQ(master.GetState().agents_size(), 1);
  status = master.GetMaintenanceStatus();
  EXPECT_EQ(status.down_machines_size(), 1);
  EXPECT_EQ(status.draining_machines_size(), 0);
  // A down machine stays in the schedule until its maintenance stops, and
  // an agent there is refused.
  EXPECT_EQ(master.UpdateMaintenanceSchedule(v1::maintenance::Schedule()).code(),
            absl::StatusCode::kFailedPrecondition);
  auto again = cluster_->AddAgent("", "maint-host");
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(
      PollUntil([&] { return cluster_->agent(*again).refusal().find("down for maintenance") != std::string::npos; }));

  // Up: out of the schedule, and agents there are welcome again.
  ASSERT_TRUE(master.StopMaintenance({Machine("maint-host")}).ok());
  EXPECT_EQ(master.GetMaintenanceSchedule().windows_size(), 0);
  EXPECT_EQ(master.GetMaintenanceStatus().down_machines_size(), 0);
  EXPECT_EQ(master.StopMaintenance({Machine("maint-host")}).code(), absl::StatusCode::kFailedPrecondition);
  auto back = cluster_->AddAgent("", "maint-host");
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(PollUntil([&] { return cluster_->agent(*back).registered(); }));
  (void)d->stop();
}

TEST_F(ClusterTest, DrainAgentKillsItsTasksWithinTheGraceCapAndOffersNothingUntilReactivated) {
  LocalClusterOptions opts;
  opts.agents = 2;
  StartCluster(opts);
  Master& master = cluster_->master();
  RecordingScheduler s;
  v1::FrameworkInfo fw = testing::Framework("drain");
  fw.add_capabilities()->set_type(v1::FrameworkInfo::Capability::TASK_KILLING_STATE);
  auto d = Driver(&s, fw);
  v1::Offer offer;
  ASSERT_TRUE(s.TakeOffer(&offer));
  std::string drained = offer.agent_id().value();
  // One task ignores SIGTERM and asks for a minute's grace: the drain's cap
  // of half a second wins.
  v1::TaskInfo stubborn = ShellTask("stubborn", offer.agent_id(), "trap '' TERM; sleep 600");
  stubborn.mutable_kill_policy()->mutable_grace_period()->set_nanoseconds(60'000'000'000);
  ASSERT_TRUE(d->launch(offer.id(), {stubborn, ShellTask("plain", offer.agent_id(), "sleep 600")}).ok());
  ASSERT_TRUE(s.WaitForState("stubborn", v1::TASK_RUNNING).has_state());
  ASSERT_TRUE(s.WaitForState("plain", v1::TASK_RUNNING).has_state());

  EXPECT_EQ(master.DrainAgent("no-such-agent", {}).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(master.ReactivateAgent(drained).code(), absl::StatusCode::kFailedPrecondition);
  v1::DrainConfig config;
  config.mutable_max_grace_period()->set_nanoseconds(500'000'000);
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(master.DrainAgent(drained, config).ok());
  EXPECT_TRUE(s.WaitForState("plain", v1::TASK_KILLED, 20).has_state());
  EXPECT_TRUE(s.WaitForState("stubborn", v1::TASK_KILLED, 20).has_state());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(15));
  EXPECT_TRUE(s.WaitForState("stubborn", v1::TASK_KILLING, 1).has_state());
  auto drain_state = [&](const std::string& id) {
    v1::internal::ClusterState state = master.GetState();
    for (const auto& a : state.agents()) {
      if (a.agent_info().id().value() == id) return a.has_drain_info() ? a.drain_info().state() : v1::UNKNOWN;
    }
    return v1::UNKNOWN;
  };
  EXPECT_TRUE(PollUntil([&] { return drain_state(drained) == v1::DRAINED; }));

  // Offers go to the other agent only; reactivated, the drained one is back.
  std::vector<v1::OfferID> held = s.Locked([&] {
    std::vector<v1::OfferID> ids;
    for (const auto& o : s.offers_) ids.push_back(o.id());
    s.offers_.clear();
    return ids;
  });
  v1::Filters now;
  now.set_refuse_seconds(0);
  if (!held.empty()) ASSERT_TRUE(d->decline(held, now).ok());
  ASSERT_TRUE(s.WaitFor([&] { return !s.offers_.empty(); }));
  EXPECT_TRUE(s.Locked([&] {
    for (const auto& o : s.offers_)
      if (o.agent_id().value() == drained) return false;
    return true;
  }));
  ASSERT_TRUE(master.ReactivateAgent(drained).ok());
  EXPECT_EQ(drain_state(drained), v1::UNKNOWN);
  EXPECT_TRUE(s.WaitFor([&] {
    for (const auto& o : s.offers_)
      if (o.agent_id().value() == drained) return true;
    return false;
  }));

  // mark_gone: an empty agent is drained at once and removed.
  std::string other = cluster_->agent(0).id() == drained ? cluster_->agent(1).id() : cluster_->agent(0).id();
  size_t other_index = cluster_->agent(0).id() == drained ? 1 : 0;
  v1::DrainConfig gone;
  gone.set_mark_gone(true);
  ASSERT_TRUE(master.DrainAgent(other, gone).ok());
  EXPECT_TRUE(PollUntil([&] { return master.GetState().agents_size() == 1; }));
  EXPECT_TRUE(
      PollUntil([&] { return cluster_->agent(other_index).refusal().find("marked gone") != std::string::npos; }));
  (void)d->stop();
}

TEST_F(ClusterTest, AnAgentUnreachableForLongerThanTheRegistryMaxAgeIsForgotten) {
  LocalClusterOptions opts;
  opts.agents = 1;
  opts.master.agent_ping_timeout = 0.1;
  opts.master.max_agent_ping_timeouts = 2;
  opts.master.registry_max_agent_age = 1.0;
  StartCluster(opts);
  RecordingScheduler s;
  auto d = Driver(&s, testing::Framework("aging", /*partition_aware=*/true));
  v1::Offer offer = LaunchOne(s, *d, ShellTask("left", {}, "sleep 60"));
  ASSERT_TRUE(s.WaitForState("left", v1::TASK_RUNNING).has_state());
  cluster_->agent(0).SetPaused(true);
  ASSERT_TRUE(s.WaitForState("left", v1::TASK_UNREACHABLE, 10).has_state());
  // A second later the master no longer knows the agent, and says so.
  EXPECT_TRUE(PollUntil([&] { return cluster_->master().GetState().agents_size() == 0; }, 10));
  v1::scheduler::Call::Reconcile::Task t;
  t.mutable_task_id()->set_value("left");
  *t.mutable_agent_id() = offer.agent_id();
  ASSERT_TRUE(d->reconcile({t}).ok());
  EXPECT_TRUE(s.WaitFor([&] {
    for (const auto& u : s.updates_) {
      if (u.task_id().value() == "left" && u.state() == v1::TASK_UNKNOWN &&
          u.reason() == v1::TaskStatus::REASON_RECONCILIATION)
        return true;
    }
    return false;
  }));
  cluster_->agent(0).SetPaused(false);
  (void)d->stop();
}

TEST_F(ClusterTest, AgentThatStopsAnsweringBecomesUnreachable) {
  LocalClusterOptions opts;
  opts.agents = 1;
  opts.master.agent_ping_timeout = 0.1;
  opts.master.max_agent_ping_timeouts = 3;
  StartCluster(opts);
  RecordingScheduler s;
  auto d = Driver(&s, testing::Framework("partition", /*partition_aware=*/true));
  LaunchOne(s, *d, ShellTask("cut-off", {}, "sleep 60"));
  ASSERT_TRUE(s.WaitForState("cut-off", v1::TASK_RUNNING).has_state());
  cluster_->agent(0).SetPaused(true);
  v1::TaskStatus st = s.WaitForState("cut-off", v1::TASK_UNREACHABLE, 10);
  ASSERT_TRUE(st.has_state());
  EXPECT_EQ(st.reason(), v1::TaskStatus::REASON_AGENT_REMOVED);
  EXPECT_TRUE(st.has_unreachable_time());
  EXPECT_FALSE(cluster_->master().GetState().agents(0).active());
  EXPECT_TRUE(s.WaitFor([&] {
    for (const auto& [agent, executor] : s.failures_) {
      if (agent == st.agent_id().value() && executor.empty()) return true;  // "agent lost"
    }
    return false;
  }));
  // When it answers again it reregisters, and the task is back.
  cluster_->agent(0).SetPaused(false);
  EXPECT_TRUE(s.WaitFor(
      [&] {
        for (const auto& u : s.updates_) {
          if (u.task_id().value() == "cut-off" && u.state() == v1::TASK_RUNNING &&
              u.reason() == v1::TaskStatus::REASON_AGENT_REREGISTERED)
            return true;
        }
        return false;
      },
      20));
}

TEST_F(ClusterTest, LaunchLostWithTheConnectionIsReportedWhenTheAgentComesBack) {
  LocalClusterOptions opts;
  opts.agents = 1;
  opts.master.agent_ping_timeout = 0.1;
  opts.master.max_agent_ping_timeouts = 3;
  StartCluster(opts);
  RecordingScheduler s;
  auto d = Driver(&s, testing::Framework("lost-launch", /*partition_aware=*/true));
  cluster_->agent(0).SetDropLaunches(true);
  LaunchOne(s, *d, ShellTask("never-arrives", {}, "sleep 60"));
  // The agent goes away and comes back, reporting no such task.
  cluster_->agent(0).SetPaused(true);
  ASSERT_TRUE(s.WaitFor([&] { return !s.failures_.empty(); }, 10)) << "agent lost";
  cluster_->agent(0).SetDropLaunches(false);
  cluster_->agent(0).SetPaused(false);
  v1::TaskStatus st = s.WaitForTerminal("never-arrives", 20);
  EXPECT_EQ(st.state(), v1::TASK_DROPPED);
  EXPECT_EQ(st.reason(), v1::TaskStatus::REASON_AGENT_REREGISTERED);
  EXPECT_EQ(cluster_->master().GetState().tasks_size(), 0);
  // Its resources are free again: another task runs.
  LaunchOne(s, *d, ShellTask("after", {}, "true"));
  EXPECT_EQ(s.WaitForTerminal("after").state(), v1::TASK_FINISHED);
}

TEST_F(ClusterTest, MemoryLimitKillsTheTask) {
  LocalClusterOptions opts;
  opts.agents = 1;
  StartCluster(opts);
  if (cluster_->agent(0).cgroups_status().find("enforced") == std::string::npos) {
    GTEST_SKIP() << cluster_->agent(0).cgroups_status();
  }
  RecordingScheduler s;
  auto d = Driver(&s, testing::Framework("oom"));
  // `tail` keeps a newline-free stream in memory: 512 MB against a 32 MB limit.
  LaunchOne(s, *d, ShellTask("hog", {}, "head -c 536870912 /dev/zero | tail", 0.1, 32));
  v1::TaskStatus st = s.WaitForTerminal("hog", 60);
  EXPECT_EQ(st.state(), v1::TASK_FAILED) << st.message();
  EXPECT_EQ(st.reason(), v1::TaskStatus::REASON_CONTAINER_LIMITATION_MEMORY) << st.message();
  ASSERT_EQ(st.limitation().resources_size(), 1);
  EXPECT_EQ(st.limitation().resources(0).name(), "mem");
  // The next tasks may reuse the hog's cgroup: they must not inherit its
  // OOM kill, nor its limit.
  for (int i = 0; i < 3; ++i) {
    std::string id = "after-hog-" + std::to_string(i);
    LaunchOne(s, *d, ShellTask(id, {}, "head -c 50000000 /dev/zero | tail", 0.1, 128));
    v1::TaskStatus ok = s.WaitForTerminal(id, 60);
    EXPECT_EQ(ok.state(), v1::TASK_FINISHED) << ok.message();
  }
}

TEST_F(ClusterTest, CustomExecutorExchangesFrameworkMessages) {
  StartCluster();
  RecordingScheduler s;
  auto d = Driver(&s, testing::Framework("messages"));
  v1::TaskInfo t;
  t.set_name("via-executor");
  t.mutable_task_id()->set_value("via-executor");
  testing::AddScalar(t.mutable_resources(), "cpus", 0.1);
  testing::AddScalar(t.mutable_resources(), "mem", 16);
  v1::ExecutorInfo* ex = t.mutable_executor();
  ex->mutable_executor_id()->set_value("test-executor");
  ex->mutable_command()->set_value(testing::BinDir() + "/corral-test-executor");
  testing::AddScalar(ex->mutable_resources(), "cpus", 0.1);
  testing::AddScalar(ex->mutable_resources(), "mem", 32);
  v1::Offer offer = LaunchOne(s, *d, t);
  v1::TaskStatus running = s.WaitForState("via-executor", v1::TASK_RUNNING);
  ASSERT_TRUE(running.has_state());
  EXPECT_EQ(running.source(), v1::TaskStatus::SOURCE_EXECUTOR);
  EXPECT_EQ(running.message(), "running in the test executor");

  v1::ExecutorID eid;
  eid.set_value("test-executor");
  ASSERT_TRUE(d->message(offer.agent_id(), eid, "ping").ok());
  EXPECT_TRUE(s.WaitFor([&] { return !s.messages_.empty() && s.messages_[0] == "pong"; }));
  ASSERT_TRUE(d->message(offer.agent_id(), eid, "finish:via-executor").ok());
  EXPECT_EQ(s.WaitForTerminal("via-executor").state(), v1::TASK_FINISHED);

  v1::ExecutorID nobody;
  nobody.set_value("nobody");
  absl::Status bad = d->message(offer.agent_id(), nobody, "x");
  EXPECT_EQ(bad.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(bad.message().find("'message.executor_id'"), std::string::npos) << bad;
}

TEST_F(ClusterTest, TaskGroupRunsUnderTheDefaultExecutor) {
  StartCluster();
  RecordingScheduler s;
  auto d = Driver(&s, testing::Framework("group"));
  v1::Offer offer;
  ASSERT_TRUE(s.TakeOffer(&offer));
  v1::ExecutorInfo ex = GroupExecutor();
  v1::TaskGroupInfo group;
  *group.add_tasks() = ShellTask("g1", offer.agent_id(), "echo one > out && test \"$MESOS_TASK_ID\" = g1");
  *group.add_tasks() = ShellTask("g2", offer.agent_id(), "echo two");
  ASSERT_TRUE(d->launchGroup(offer.id(), ex, group).ok());
  EXPECT_EQ(s.WaitForTerminal("g1").state(), v1::TASK_FINISHED);
  EXPECT_EQ(s.WaitForTerminal("g2").state(), v1::TASK_FINISHED);
  EXPECT_TRUE(s.WaitForState("g1", v1::TASK_RUNNING).has_state());
}

TEST_F(ClusterTest, FailingTaskInAGroupKillsTheRest) {
  StartCluster();
  RecordingScheduler s;
  auto d = Driver(&s, testing::Framework("group-fail"));
  v1::Offer offer;
  ASSERT_TRUE(s.TakeOffer(&offer));
  v1::ExecutorInfo ex = GroupExecutor();
  v1::TaskGroupInfo group;
  *group.add_tasks() = ShellTask("fails", offer.agent_id(), "exit 3");
  *group.add_tasks() = ShellTask("sleeps", offer.agent_id(), "sleep 60");
  ASSERT_TRUE(d->launchGroup(offer.id(), ex, group).ok());
  EXPECT_EQ(s.WaitForTerminal("fails").state(), v1::TASK_FAILED);
  EXPECT_EQ(s.WaitForTerminal("sleeps").state(), v1::TASK_KILLED);
}

TEST_F(ClusterTest, BadCallsAreRejectedAndTheClusterKeepsWorking) {
  StartCluster();
  RecordingScheduler s;
  auto d = Driver(&s, testing::Framework("bad-calls", /*partition_aware=*/true));
  v1::Offer offer;
  ASSERT_TRUE(s.TakeOffer(&offer));

  // An offer that does not exist: the call fails and its task is dropped.
  v1::OfferID bogus;
  bogus.set_value("no-such-offer");
  absl::Status st = d->launch(bogus, {ShellTask("orphan", offer.agent_id(), "true")});
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("'no-such-offer' is unknown"), std::string::npos) << st;
  v1::TaskStatus dropped = s.WaitForTerminal("orphan");
  EXPECT_EQ(dropped.state(), v1::TASK_DROPPED);
  EXPECT_EQ(dropped.reason(), v1::TaskStatus::REASON_INVALID_OFFERS);

  // Bad tasks inside a good call become TASK_ERROR; the good one runs.
  v1::TaskInfo both = ShellTask("both", offer.agent_id(), "true");
  both.mutable_executor()->mutable_executor_id()->set_value("e");
  v1::TaskInfo negative = ShellTask("negative", offer.agent_id(), "true", -1);
  v1::TaskInfo huge = ShellTask("huge", offer.agent_id(), "true", 1000);
  v1::TaskInfo good = ShellTask("good", offer.agent_id(), "true");
  v1::TaskInfo dup = ShellTask("good", offer.agent_id(), "true");
  ASSERT_TRUE(d->launch(offer.id(), {both, negative, huge, good, dup}).ok());
  v1::TaskStatus e1 = s.WaitForTerminal("both");
  EXPECT_EQ(e1.state(), v1::TASK_ERROR);
  EXPECT_EQ(e1.reason(), v1::TaskStatus::REASON_TASK_INVALID);
  EXPECT_NE(e1.message().find("'command' and 'executor' are both set"), std::string::npos) << e1.message();
  EXPECT_NE(s.WaitForTerminal("negative").message().find("scalar is negative"), std::string::npos);
  EXPECT_NE(s.WaitForTerminal("huge").message().find("but the offers have only"), std::string::npos);
  EXPECT_TRUE(s.WaitFor([&] {
    for (const auto& u : s.updates_) {
      if (u.task_id().value() == "good" && u.state() == v1::TASK_ERROR &&
          u.message().find("used twice") != std::string::npos)
        return true;
    }
    return false;
  }));
  EXPECT_TRUE(s.WaitForState("good", v1::TASK_FINISHED).has_state());

  // A call missing its type, and one for an unknown framework.
  v1::scheduler::Call raw;
  EXPECT_NE(d->call(raw).message().find("'type' is missing"), std::string::npos);
  auto stub = v1::internal::SchedulerService::NewStub(
      grpc::CreateChannel(cluster_->master_address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  v1::scheduler::Call stranger;
  stranger.set_type(v1::scheduler::Call::REVIVE);
  stranger.mutable_framework_id()->set_value("stranger");
  v1::internal::CallResponse resp;
  grpc::Status gs = stub->Call(&ctx, stranger, &resp);
  EXPECT_EQ(gs.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(gs.error_message().find("'stranger' is not subscribed"), std::string::npos);

  // Still working: another framework launches and finishes a task.
  RecordingScheduler s2;
  // The first framework holds the cluster's offers (one per agent, once the
  // finished task's resources come back); it hands them back.
  ASSERT_TRUE(s.WaitFor([&] { return s.offers_.size() >= 2; }));
  std::vector<v1::OfferID> held = s.Locked([&] {
    std::vector<v1::OfferID> ids;
    for (const auto& o : s.offers_) ids.push_back(o.id());
    s.offers_.clear();
    return ids;
  });
  v1::Filters long_filter;
  long_filter.set_refuse_seconds(3600);
  if (!held.empty()) ASSERT_TRUE(d->decline(held, long_filter).ok());
  auto d2 = Driver(&s2, testing::Framework("after"));
  LaunchOne(s2, *d2, ShellTask("after", {}, "true"));
  EXPECT_EQ(s2.WaitForTerminal("after").state(), v1::TASK_FINISHED);
}

TEST_F(ClusterTest, InvalidSubscriptionAbortsTheDriverWithTheReason) {
  StartCluster();
  RecordingScheduler s;
  v1::FrameworkInfo fw;  // no name
  SchedulerDriver d(&s, fw, cluster_->master_address());
  absl::Status st = d.run();
  EXPECT_EQ(d.status(), DriverStatus::kAborted);
  EXPECT_NE(st.message().find("'subscribe.framework_info.name' is required"), std::string::npos) << st;
  EXPECT_TRUE(s.WaitFor([&] { return !s.errors_.empty(); }));
}

TEST_F(ClusterTest, DeclineWithFilterAndRevive) {
  LocalClusterOptions opts;
  opts.agents = 1;
  StartCluster(opts);
  RecordingScheduler s;
  auto d = Driver(&s, testing::Framework("decline"));
  v1::Offer offer;
  ASSERT_TRUE(s.TakeOffer(&offer));
  v1::Filters f;
  f.set_refuse_seconds(3600);
  ASSERT_TRUE(d->decline({offer.id()}, f).ok());
  EXPECT_FALSE(s.TakeOffer(&offer, 2.5)) << "filtered for an hour";
  ASSERT_TRUE(d->revive().ok());
  EXPECT_TRUE(s.TakeOffer(&offer, 10)) << "revive clears the filter";
}

TEST_F(ClusterTest, UnusedOffersAreRescindedAfterTheOfferTimeout) {
  LocalClusterOptions opts;
  opts.agents = 1;
  opts.master.offer_timeout = 0.3;
  StartCluster(opts);
  RecordingScheduler s;
  auto d = Driver(&s, testing::Framework("slow"));
  v1::Offer offer;
  ASSERT_TRUE(s.TakeOffer(&offer));
  ASSERT_TRUE(s.WaitFor(
      [&] { return std::find(s.rescinded_.begin(), s.rescinded_.end(), offer.id().value()) != s.rescinded_.end(); },
      10));
  // The rescinded offer can no longer be used; the resources come back anew.
  absl::Status st = d->launch(offer.id(), {ShellTask("late", offer.agent_id(), "true")});
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  v1::Offer again;
  EXPECT_TRUE(s.TakeOffer(&again, 10));
  EXPECT_NE(again.id().value(), offer.id().value());
}

TEST_F(ClusterTest, TasksRunAsTheirUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "switching users needs an agent running as root";
  StartCluster();
  RecordingScheduler s;
  auto d = Driver(&s, testing::Framework("users"));
  v1::TaskInfo t = ShellTask("as-nobody", {}, "id -un");
  t.mutable_command()->set_user("nobody");
  LaunchOne(s, *d, t);
  EXPECT_EQ(s.WaitForTerminal("as-nobody").state(), v1::TASK_FINISHED);
  EXPECT_TRUE(WaitForOutput(d->framework_id().value(), "as-nobody", "nobody"));
  v1::TaskInfo ghost = ShellTask("no-such-user", {}, "true");
  ghost.mutable_command()->set_user("no-such-user-here");
  LaunchOne(s, *d, ghost);
  v1::TaskStatus failed = s.WaitForTerminal("no-such-user");
  EXPECT_EQ(failed.state(), v1::TASK_FAILED);
  EXPECT_EQ(failed.reason(), v1::TaskStatus::REASON_CONTAINER_LAUNCH_FAILED);
  EXPECT_NE(failed.message().find("user 'no-such-user-here' does not exist"), std::string::npos) << failed.message();
}

TEST_F(ClusterTest, FetchedUrisAreInTheSandboxBeforeTheTaskStarts) {
  StartCluster();
  std::string src = cluster_->work_dir() + "/uris";
  std::filesystem::create_directories(src);
  std::ofstream(src + "/data.txt") << "fetched data\n";
  std::ofstream(src + "/show.sh") << "#!/bin/sh\ncat data.txt\n";
  RecordingScheduler s;
  auto d = Driver(&s, testing::Framework("fetch"));
  v1::TaskInfo t = ShellTask("fetch", {}, "./show.sh");
  auto* data = t.mutable_command()->add_uris();
  data->set_value("file://" + src + "/data.txt");
  auto* script = t.mutable_command()->add_uris();
  script->set_value(src + "/show.sh");
  script->set_executable(true);
  LaunchOne(s, *d, t);
  v1::TaskStatus st = s.WaitForTerminal("fetch");
  EXPECT_EQ(st.state(), v1::TASK_FINISHED) << st.message();
  EXPECT_TRUE(WaitForOutput(d->framework_id().value(), "fetch", "fetched data"));
}

TEST_F(ClusterTest, AFailedFetchFailsTheTaskWithTheUriAndReason) {
  StartCluster();
  RecordingScheduler s;
  auto d = Driver(&s, testing::Framework("fetch-fails"));
  v1::TaskInfo t = ShellTask("no-uri", {}, "true");
  t.mutable_command()->add_uris()->set_value("/no/such/archive.tar.gz");
  LaunchOne(s, *d, t);
  v1::TaskStatus st = s.WaitForTerminal("no-uri");
  EXPECT_EQ(st.state(), v1::TASK_FAILED);
  EXPECT_EQ(st.reason(), v1::TaskStatus::REASON_CONTAINER_LAUNCH_FAILED);
  EXPECT_NE(st.message().find("Failed to fetch"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("'/no/such/archive.tar.gz'"), std::string::npos) << st.message();

  // An executor whose URIs cannot be fetched never starts; its task fails the same way.
  v1::TaskInfo via = ShellTask("via-broken-executor", {}, "");
  via.clear_command();
  v1::ExecutorInfo* ex = via.mutable_executor();
  ex->mutable_executor_id()->set_value("broken-executor");
  ex->mutable_command()->set_value(testing::BinDir() + "/corral-test-executor");
  ex->mutable_command()->add_uris()->set_value("file:///no/such/executor-config.json");
  LaunchOne(s, *d, via);
  v1::TaskStatus failed = s.WaitForTerminal("via-broken-executor");
  EXPECT_EQ(failed.state(), v1::TASK_FAILED);
  EXPECT_EQ(failed.reason(), v1::TaskStatus::REASON_CONTAINER_LAUNCH_FAILED);
  EXPECT_NE(failed.message().find("executor-config.json"), std::string::npos) << failed.message();
}

TEST_F(ClusterTest, ACustomExecutorStartsAfterItsUrisAreFetched) {
  StartCluster();
  std::string src = cluster_->work_dir() + "/executor-uris";
  std::filesystem::create_directories(src);
  std::ofstream(src + "/settings.conf") << "x=1\n";
  RecordingScheduler s;
  auto d = Driver(&s, testing::Framework("fetch-executor"));
  v1::TaskInfo t = ShellTask("via-fetched-executor", {}, "");
  t.clear_command();
  v1::ExecutorInfo* ex = t.mutable_executor();
  ex->mutable_executor_id()->set_value("fetched-executor");
  ex->mutable_command()->set_value(testing::BinDir() + "/corral-test-executor");
  ex->mutable_command()->add_uris()->set_value(src + "/settings.conf");
  testing::AddScalar(ex->mutable_resources(), "cpus", 0.1);
  testing::AddScalar(ex->mutable_resources(), "mem", 32);
  LaunchOne(s, *d, t);
  v1::TaskStatus running = s.WaitForState("via-fetched-executor", v1::TASK_RUNNING);
  EXPECT_EQ(running.source(), v1::TaskStatus::SOURCE_EXECUTOR) << running.message();
}

TEST_F(ClusterTest, KillingATaskWhileItsUrisAreFetchedEndsTheFetch) {
  StartCluster();
  // A server that takes the connection and never answers: the fetch hangs.
  int server = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::bind(server, reinterpret_cast<sockaddr*>(&addr), len), 0);
  ASSERT_EQ(::listen(server, 4), 0);
  ::getsockname(server, reinterpret_cast<sockaddr*>(&addr), &len);
  RecordingScheduler s;
  auto d = Driver(&s, testing::Framework("fetch-kill"));
  v1::TaskInfo t = ShellTask("stuck", {}, "true");
  t.mutable_command()->add_uris()->set_value("http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/slow");
  t.mutable_kill_policy()->mutable_grace_period()->set_nanoseconds(500000000);
  LaunchOne(s, *d, t);
  // The agent has started the fetcher once the task's sandbox exists.
  ASSERT_TRUE(PollUntil([&] {
    for (size_t i = 0; i < cluster_->agent_count(); ++i) {
      if (cluster_->agent(i).ReadSandboxFile(d->framework_id().value(), "stuck", "stderr", 0, 1).ok()) return true;
    }
    return false;
  }));
  auto start = std::chrono::steady_clock::now();
  v1::TaskID id;
  id.set_value("stuck");
  ASSERT_TRUE(d->kill(id).ok());
  v1::TaskStatus st = s.WaitForTerminal("stuck", 20);
  EXPECT_EQ(st.state(), v1::TASK_KILLED) << st.message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  ::close(server);
}

// A health check that starts at once and repeats quickly.
v1::HealthCheck FastCheck(v1::HealthCheck::Type type, uint32_t failures = 3) {
  v1::HealthCheck hc;
  hc.set_type(type);
  hc.set_delay_seconds(0);
  hc.set_interval_seconds(0.1);
  hc.set_grace_period_seconds(0);
  hc.set_timeout_seconds(5);
  hc.set_consecutive_failures(failures);
  return hc;
}

int FreeLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), len);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

TEST_F(ClusterTest, CommandHealthCheckReportsHealthyThenKillsAfterConsecutiveFailures) {
  StartCluster();
  RecordingScheduler s;
  auto d = Driver(&s, testing::Framework("health"));
  // Healthy while the file exists; the task removes it after a while.
  v1::TaskInfo t = ShellTask("checked", {}, "touch alive; sleep 1; rm alive; sleep 60");
  *t.mutable_health_check() = FastCheck(v1::HealthCheck::COMMAND);
  t.mutable_health_check()->mutable_command()->set_value("test -f alive");
  LaunchOne(s, *d, t);
  v1::TaskStatus healthy = s.WaitForHealth("checked", true);
  EXPECT_EQ(healthy.state(), v1::TASK_RUNNING);
  EXPECT_EQ(healthy.reason(), v1::TaskStatus::REASON_TASK_HEALTH_CHECK_STATUS_UPDATED);
  v1::TaskStatus unhealthy = s.WaitForHealth("checked", false);
  EXPECT_EQ(unhealthy.state(), v1::TASK_RUNNING);
  EXPECT_NE(unhealthy.message().find("Health check failed (1 in a row)"), std::string::npos) << unhealthy.message();
  v1::TaskStatus killed = s.WaitForTerminal("checked");
  EXPECT_EQ(killed.state(), v1::TASK_KILLED);
  EXPECT_EQ(killed.reason(), v1::TaskStatus::REASON_TASK_HEALTH_CHECK_STATUS_UPDATED);
  EXPECT_TRUE(killed.has_healthy() && !killed.healthy());
  EXPECT_NE(killed.message().find("3 consecutive failed health checks"), std::string::npos) << killed.message();
}

TEST_F(ClusterTest, HttpAndTcpHealthChecksProbeTheTask) {
  StartCluster();
  RecordingScheduler s;
  auto d = Driver(&s, testing::Framework("http-health"));
  v1::Offer offer;
  ASSERT_TRUE(s.TakeOffer(&offer));
  int port = FreeLoopbackPort();
  std::string serve = "exec python3 -m http.server --bind 127.0.0.1 " + std::to_string(port);
  v1::TaskInfo web = ShellTask("web", offer.agent_id(), serve);
  *web.mutable_health_check() = FastCheck(v1::HealthCheck::HTTP);
  web.mutable_health_check()->mutable_http()->set_port(port);
  web.mutable_health_check()->mutable_http()->set_path("/");
  web.mutable_health_check()->set_grace_period_seconds(20);  // the server takes a moment to start
  // Same server, but only 204 counts as healthy: it answers 200. Never killed (0).
  v1::TaskInfo picky = ShellTask("picky", offer.agent_id(), "sleep 60");
  *picky.mutable_health_check() = FastCheck(v1::HealthCheck::HTTP, 0);
  picky.mutable_health_check()->mutable_http()->set_port(port);
  picky.mutable_health_check()->mutable_http()->add_statuses(204);
  picky.mutable_health_check()->set_grace_period_seconds(1);
  v1::TaskInfo tcp = ShellTask("tcp", offer.agent_id(), "sleep 60");
  *tcp.mutable_health_check() = FastCheck(v1::HealthCheck::TCP);
  tcp.mutable_health_check()->mutable_tcp()->set_port(port);
  tcp.mutable_health_check()->set_grace_period_seconds(20);
  ASSERT_TRUE(d->launch(offer.id(), {web, picky, tcp}).ok());

  EXPECT_EQ(s.WaitForHealth("web", true).state(), v1::TASK_RUNNING);
  EXPECT_EQ(s.WaitForHealth("tcp", true).state(), v1::TASK_RUNNING);
  // `picky` fails from the end of its grace period on: first while the
  // server starts, then with the status it answers.
  EXPECT_TRUE(s.WaitFor(
      [&] {
        for (const auto& u : s.updates_) {
          if (u.task_id().value() == "picky" && u.has_healthy() && !u.healthy() &&
              u.message().find("HTTP status 200") != std::string::npos)
            return true;
        }
        return false;
      },
      30))
      << [&] {
           std::string all;
           for (const auto& u : s.updates_)
             if (u.task_id().value() == "picky") all += u.message() + "; ";
           return all;
         }();
  for (const char* id : {"web", "picky", "tcp"}) {
    v1::TaskID tid;
    tid.set_value(id);
    ASSERT_TRUE(d->kill(tid).ok());
    EXPECT_EQ(s.WaitForTerminal(id).state(), v1::TASK_KILLED);
  }
}

TEST_F(ClusterTest, AHealthCheckThatTimesOutCountsAsFailed) {
  StartCluster();
  RecordingScheduler s;
  auto d = Driver(&s, testing::Framework("health-timeout"));
  v1::TaskInfo t = ShellTask("slow-check", {}, "sleep 60");
  *t.mutable_health_check() = FastCheck(v1::HealthCheck::COMMAND, 1);
  t.mutable_health_check()->mutable_command()->set_value("sleep 30");
  t.mutable_health_check()->set_timeout_seconds(0.3);
  LaunchOne(s, *d, t);
  v1::TaskStatus killed = s.WaitForTerminal("slow-check");
  EXPECT_EQ(killed.state(), v1::TASK_KILLED);
  EXPECT_NE(killed.message().find("timed out after 0.3 s"), std::string::npos) << killed.message();
}

// The first update of `task` whose check_status satisfies `pred`.
template <typename Pred>
bool WaitForCheck(RecordingScheduler& s, const std::string& task, Pred pred, v1::TaskStatus* found) {
  return s.WaitFor(
      [&] {
        for (const auto& u : s.updates_) {
          if (u.task_id().value() == task && u.has_check_status() && pred(u.check_status())) {
            *found = u;
            return true;
          }
        }
        return false;
      },
      30);
}

TEST_F(ClusterTest, GeneralChecksReportTheirResultsInCheckStatus) {
  StartCluster();
  RecordingScheduler s;
  auto d = Driver(&s, testing::Framework("checks"));
  v1::Offer offer;
  ASSERT_TRUE(s.TakeOffer(&offer));
  int port = FreeLoopbackPort();
  auto fast = [](v1::CheckInfo::Type type) {
    v1::CheckInfo c;
    c.set_type(type);
    c.set_delay_seconds(0);
    c.set_interval_seconds(0.1);
    c.set_timeout_seconds(5);
    return c;
  };
  // Exit code 1 until the task has written `ready`, then 0.
  v1::TaskInfo cmd = ShellTask("cmd", offer.agent_id(), "sleep 0.5; touch ready; sleep 60");
  *cmd.mutable_check() = fast(v1::CheckInfo::COMMAND);
  cmd.mutable_check()->mutable_command()->mutable_command()->set_value("test -f ready");
  std::string serve = "exec python3 -m http.server --bind 127.0.0.1 " + std::to_string(port);
  v1::TaskInfo web = ShellTask("web", offer.agent_id(), serve);
  *web.mutable_check() = fast(v1::CheckInfo::HTTP);
  web.mutable_check()->mutable_http()->set_port(port);
  web.mutable_check()->mutable_http()->set_path("/no-such-page");
  v1::TaskInfo tcp = ShellTask("tcp", offer.agent_id(), "sleep 60");
  *tcp.mutable_check() = fast(v1::CheckInfo::TCP);
  tcp.mutable_check()->mutable_tcp()->set_port(port);
  v1::TaskInfo slow = ShellTask("slow", offer.agent_id(), "sleep 60");
  *slow.mutable_check() = fast(v1::CheckInfo::COMMAND);
  slow.mutable_check()->mutable_command()->mutable_command()->set_value("exit 3");
  ASSERT_TRUE(d->launch(offer.id(), {cmd, web, tcp, slow}).ok());

  v1::TaskStatus u;
  // TASK_RUNNING says a check is defined, with no result yet.
  ASSERT_TRUE(WaitForCheck(
      s, "cmd", [](const v1::CheckStatusInfo& c) { return c.type() == v1::CheckInfo::COMMAND; }, &u));
  EXPECT_EQ(u.state(), v1::TASK_RUNNING);
  EXPECT_FALSE(u.check_status().command().has_exit_code());
  ASSERT_TRUE(WaitForCheck(
      s, "cmd",
      [](const v1::CheckStatusInfo& c) { return c.command().has_exit_code() && c.command().exit_code() == 0; }, &u));
  EXPECT_EQ(u.reason(), v1::TaskStatus::REASON_TASK_CHECK_STATUS_UPDATED);
  EXPECT_FALSE(u.has_healthy());  // a general check says nothing of health
  ASSERT_TRUE(WaitForCheck(
      s, "slow", [](const v1::CheckStatusInfo& c) { return c.command().exit_code() == 3; }, &u));
  ASSERT_TRUE(WaitForCheck(
      s, "web", [](const v1::CheckStatusInfo& c) { return c.http().status_code() == 404; }, &u));
  EXPECT_EQ(u.check_status().type(), v1::CheckInfo::HTTP);
  ASSERT_TRUE(WaitForCheck(
      s, "tcp", [](const v1::CheckStatusInfo& c) { return c.tcp().has_succeeded() && c.tcp().succeeded(); }, &u));
  // Only changes are reported: `slow` said "3" once.
  int slow_results = 0;
  s.WaitFor(
      [&] {
        for (const auto& st : s.updates_) {
          if (st.task_id().value() == "slow" && st.check_status().command().has_exit_code()) ++slow_results;
        }
        return true;
      },
      0);
  EXPECT_EQ(slow_results, 1);
  for (const char* id : {"cmd", "web", "tcp", "slow"}) {
    v1::TaskID tid;
    tid.set_value(id);
    ASSERT_TRUE(d->kill(tid).ok());
    EXPECT_EQ(s.WaitForTerminal(id).state(), v1::TASK_KILLED);
  }
}

TEST_F(ClusterTest, AGeneralCheckThatTimesOutHasAnEmptyResult) {
  StartCluster();
  RecordingScheduler s;
  auto d = Driver(&s, testing::Framework("check-timeout"));
  // A first run answers at once (exit 0); later ones hang past the timeout.
  v1::TaskInfo t = ShellTask("hang", {}, "sleep 60");
  v1::CheckInfo* c = t.mutable_check();
  c->set_type(v1::CheckInfo::COMMAND);
  c->set_delay_seconds(0);
  c->set_interval_seconds(0.1);
  c->set_timeout_seconds(0.3);
  c->mutable_command()->mutable_command()->set_value("if [ -f once ]; then sleep 30; else touch once; fi");
  LaunchOne(s, *d, t);
  v1::TaskStatus u;
  ASSERT_TRUE(WaitForCheck(
      s, "hang", [](const v1::CheckStatusInfo& c) { return c.command().has_exit_code(); }, &u));
  EXPECT_EQ(u.check_status().command().exit_code(), 0);
  // Then the hung run: an update whose command result has no exit code.
  ASSERT_TRUE(s.WaitFor(
      [&] {
        bool answered = false;
        for (const auto& st : s.updates_) {
          if (st.task_id().value() != "hang" || !st.has_check_status()) continue;
          if (st.check_status().command().has_exit_code())
            answered = true;
          else if (answered && st.reason() == v1::TaskStatus::REASON_TASK_CHECK_STATUS_UPDATED)
            return true;
        }
        return false;
      },
      30));
  v1::TaskID tid;
  tid.set_value("hang");
  ASSERT_TRUE(d->kill(tid).ok());
  EXPECT_EQ(s.WaitForTerminal("hang").state(), v1::TASK_KILLED);
}

// Sandboxes of `task` under the cluster's work directory (runs/<container>).
std::vector<std::filesystem::path> SandboxesOf(const std::string& work_dir, const std::string& task) {
  std::vector<std::filesystem::path> out;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(work_dir, ec);
       it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    const auto& p = it->path();
    if (p.parent_path().filename() == "runs" && p.parent_path().parent_path().filename() == task) out.push_back(p);
  }
  return out;
}

TEST_F(ClusterTest, ContainerUsageCountsTheProcessesOfEachContainer) {
  StartCluster();
  RecordingScheduler s;
  auto d = Driver(&s, testing::Framework("usage"));
  v1::TaskInfo t = ShellTask("two", {}, "sleep 60 & sleep 60; wait");
  (*t.mutable_limits())["mem"].set_value(64);
  LaunchOne(s, *d, t);
  ASSERT_EQ(s.WaitForState("two", v1::TASK_RUNNING).state(), v1::TASK_RUNNING);
  v1::agent::Response::GetContainers usage;
  ASSERT_TRUE(PollUntil([&] {
    // On whichever agent the task landed.
    for (size_t i = 0; i < cluster_->agent_count(); ++i) {
      usage = cluster_->agent(i).ContainerUsage();
      if (usage.containers_size() > 0) break;
    }
    return usage.containers_size() == 1 && usage.containers(0).resource_statistics().processes() >= 3;
  })) << usage.ShortDebugString();
  const v1::ResourceStatistics& st = usage.containers(0).resource_statistics();
  EXPECT_EQ(usage.containers(0).executor_id().value(), "two");
  EXPECT_EQ(st.mem_limit_bytes(), 64u << 20) << "the limit above the request";
  EXPECT_EQ(st.mem_soft_limit_bytes(), 16u << 20) << "the request beneath it";
  EXPECT_DOUBLE_EQ(st.cpus_limit(), 0.1);
  EXPECT_GT(st.timestamp(), 0);
  v1::TaskID tid;
  tid.set_value("two");
  ASSERT_TRUE(d->kill(tid).ok());
  EXPECT_EQ(s.WaitForTerminal("two").state(), v1::TASK_KILLED);
}

v1::Volume* AddVolume(v1::TaskInfo* t, const std::string& container_path, v1::Volume::Mode mode) {
  v1::ContainerInfo* c = t->mutable_container();
  c->set_type(v1::ContainerInfo::MESOS);
  v1::Volume* v = c->add_volumes();
  v->set_container_path(container_path);
  v->set_mode(mode);
  return v;
}

// Volumes of a MESOS container without an image, as Mesos mounts them: a
// host path read-only under the sandbox, a sandbox path under another name,
// each a bind mount in the task's own mount namespace, gone with the task.
TEST_F(ClusterTest, VolumesAreBindMountedInTheTasksOwnMountNamespace) {
  if (::geteuid() != 0) GTEST_SKIP() << "volumes need root";
  StartCluster();
  std::string host = cluster_->work_dir() + "/host-data";
  std::filesystem::create_directories(host);
  ::chmod(host.c_str(), 0777);  // the task runs as nobody: RO must be the mount's doing
  std::ofstream(host + "/hello") << "from the host\n";
  RecordingScheduler s;
  auto d = Driver(&s, testing::Framework("volumes"));
  v1::Offer offer;
  ASSERT_TRUE(s.TakeOffer(&offer));
  v1::TaskInfo t = ShellTask("mounted", offer.agent_id(),
                             "grep -q 'from the host' data/hello && ! touch data/written 2>/dev/null && "
                             "echo via-alias > alias/note && test -f shared/note");
  v1::Volume* ro = AddVolume(&t, "data", v1::Volume::RO);
  ro->mutable_source()->set_type(v1::Volume::Source::HOST_PATH);
  ro->mutable_source()->mutable_host_path()->set_path(host);
  v1::Volume* sp = AddVolume(&t, "alias", v1::Volume::RW);
  sp->mutable_source()->set_type(v1::Volume::Source::SANDBOX_PATH);
  sp->mutable_source()->mutable_sandbox_path()->set_type(v1::Volume::Source::SandboxPath::SELF);
  sp->mutable_source()->mutable_sandbox_path()->set_path("shared");
  // An absolute container_path must exist: without an image the task sees
  // the agent's own filesystem.
  v1::TaskInfo missing = ShellTask("missing", offer.agent_id(), "true");
  AddVolume(&missing, "/no/such/dir", v1::Volume::RW)->set_host_path(host);
  ASSERT_TRUE(d->launch(offer.id(), {t, missing}).ok());
  v1::TaskStatus done = s.WaitForTerminal("mounted");
  EXPECT_EQ(done.state(), v1::TASK_FINISHED) << done.message();
  v1::TaskStatus failed = s.WaitForTerminal("missing");
  EXPECT_EQ(failed.state(), v1::TASK_FAILED);
  EXPECT_NE(failed.message().find("'/no/such/dir': an absolute container_path must exist"), std::string::npos)
      << failed.message();
  EXPECT_FALSE(std::filesystem::exists(host + "/written"));
  auto sandboxes = SandboxesOf(cluster_->work_dir(), "mounted");
  ASSERT_EQ(sandboxes.size(), 1u);
  // The mounts were the task's alone: here the mount points are empty.
  EXPECT_TRUE(std::filesystem::exists(sandboxes[0] / "data"));
  EXPECT_FALSE(std::filesystem::exists(sandboxes[0] / "data" / "hello"));
  EXPECT_TRUE(std::filesystem::exists(sandboxes[0] / "shared" / "note"));
}

TEST_F(ClusterTest, FinishedSandboxesAreRemovedAfterTheGcDelayRunningOnesNever) {
  LocalClusterOptions opts;
  opts.agents = 1;
  opts.agent.gc_delay = 0.3;
  opts.agent.gc_disk_headroom = 0;
  opts.agent.disk_watch_interval = 0.05;
  StartCluster(opts);
  RecordingScheduler s;
  auto d = Driver(&s, testing::Framework("gc"));
  v1::Offer offer;
  ASSERT_TRUE(s.TakeOffer(&offer));
  ASSERT_TRUE(d->launch(offer.id(), {ShellTask("done", offer.agent_id(), "echo bye"),
                                     ShellTask("running", offer.agent_id(), "sleep 60")})
                  .ok());
  EXPECT_EQ(s.WaitForTerminal("done").state(), v1::TASK_FINISHED);
  s.WaitForState("running", v1::TASK_RUNNING);
  const std::string fid = d->framework_id().value();
  ASSERT_EQ(SandboxesOf(cluster_->work_dir(), "running").size(), 1u);
  EXPECT_TRUE(PollUntil([&] { return SandboxesOf(cluster_->work_dir(), "done").empty(); }));
  EXPECT_FALSE(cluster_->agent(0).ReadSandboxFile(fid, "done", "stdout", 0, 10).ok());
  // Many collection rounds later the running task's sandbox is still there.
  EXPECT_FALSE(PollUntil([&] { return SandboxesOf(cluster_->work_dir(), "running").empty(); }, 1));
  EXPECT_TRUE(cluster_->agent(0).ReadSandboxFile(fid, "running", "stdout", 0, 10).ok());
}

TEST_F(ClusterTest, UpdatesAFrameworkDoesNotAcknowledgeDoNotPileUp) {
  LocalClusterOptions opts;
  opts.agents = 1;
  StartCluster(opts);
  RecordingScheduler s;
  SchedulerDriverOptions explicit_acks;
  explicit_acks.implicit_acknowledgements = false;
  SchedulerDriver d(&s, testing::Framework("no-acks"), cluster_->master_address(), explicit_acks);
  ASSERT_TRUE(d.start().ok());
  ASSERT_TRUE(s.WaitSubscribed());
  // A check that fails every 20 ms and never kills: a stream of health updates.
  v1::TaskInfo t = ShellTask("noisy", {}, "sleep 60");
  *t.mutable_health_check() = FastCheck(v1::HealthCheck::COMMAND, 0);
  t.mutable_health_check()->set_interval_seconds(0.02);
  t.mutable_health_check()->mutable_command()->set_value("exit 1");
  LaunchOne(s, d, t);
  v1::TaskStatus running = s.WaitForState("noisy", v1::TASK_RUNNING);
  ASSERT_TRUE(running.has_uuid());
  // Unacknowledged, the agent holds the update in flight and at most one
  // more: newer health reports replace the queued one.
  size_t most = 0;
  PollUntil(
      [&] {
        most = std::max(most, cluster_->agent(0).pending_updates());
        return false;
      },
      1.0);
  EXPECT_LE(most, 2u);
  ASSERT_TRUE(d.acknowledge(running.agent_id(), running.task_id(), running.uuid()).ok());
  // What comes next is the latest report, many failures on.
  v1::TaskStatus latest = s.WaitForHealth("noisy", false);
  ASSERT_TRUE(latest.has_healthy());
  size_t pos = latest.message().find("Health check failed (");
  ASSERT_NE(pos, std::string::npos) << latest.message();
  EXPECT_GE(std::atoi(latest.message().c_str() + pos + 21), 10) << latest.message();
  (void)d.stop(false);
}

TEST_F(ClusterTest, AsynchronousAcknowledgementsLetTheNextUpdateThrough) {
  LocalClusterOptions opts;
  opts.agents = 1;
  StartCluster(opts);
  RecordingScheduler s;
  SchedulerDriverOptions explicit_acks;
  explicit_acks.implicit_acknowledgements = false;
  SchedulerDriver d(&s, testing::Framework("async-acks"), cluster_->master_address(), explicit_acks);
  ASSERT_TRUE(d.start().ok());
  ASSERT_TRUE(s.WaitSubscribed());
  LaunchOne(s, d, ShellTask("quick", {}, "true"));
  v1::TaskStatus running = s.WaitForState("quick", v1::TASK_RUNNING);
  ASSERT_TRUE(running.has_uuid());
  // The agent holds TASK_FINISHED back until TASK_RUNNING is acknowledged.
  ASSERT_TRUE(PollUntil([&] { return cluster_->agent(0).pending_updates() >= 1; }, 10.0));
  ASSERT_TRUE(d.acknowledgeAsync(running.agent_id(), running.task_id(), running.uuid()).ok());
  v1::TaskStatus finished = s.WaitForState("quick", v1::TASK_FINISHED);
  ASSERT_TRUE(finished.has_uuid());
  ASSERT_TRUE(d.acknowledgeAsync(finished.agent_id(), finished.task_id(), finished.uuid()).ok());
  EXPECT_TRUE(PollUntil([&] { return cluster_->agent(0).pending_updates() == 0; }, 10.0));
  (void)d.stop(false);
  EXPECT_EQ(d.acknowledgeAsync(finished.agent_id(), finished.task_id(), finished.uuid()).code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace corral
