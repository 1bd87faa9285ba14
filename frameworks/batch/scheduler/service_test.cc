// The service without a cluster: a fake Cluster records what it is asked,
// a ManualClock moves time, and the store is a real SQLite one, so that a
// "restart" is a new Service on the same directory.
#include "scheduler/service.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace corral::batch {
namespace {

class FakeCluster : public Cluster {
 public:
  absl::Status Launch(const v1::OfferID&, const std::vector<v1::TaskInfo>& tasks) override {
    std::lock_guard<std::mutex> l(mu);
    for (const auto& t : tasks) launched.push_back(t);
    return absl::OkStatus();
  }
  void Decline(const std::vector<v1::OfferID>&, double) override {}
  void Kill(const std::string& task_id, const std::string&, double) override {
    std::lock_guard<std::mutex> l(mu);
    killed.push_back(task_id);
  }
  void Acknowledge(const v1::TaskStatus& s) override {
    std::lock_guard<std::mutex> l(mu);
    acked.push_back(s.task_id().value());
  }
  void Reconcile(const std::vector<std::pair<std::string, std::string>>& tasks) override {
    std::lock_guard<std::mutex> l(mu);
    for (const auto& [t, a] : tasks) reconciled.push_back(t);
  }
  void Revive() override {}
  void Suppress() override {}

  std::vector<v1::TaskInfo> Launched() {
    std::lock_guard<std::mutex> l(mu);
    return launched;
  }
  std::mutex mu;
  std::vector<v1::TaskInfo> launched;
  std::vector<std::string> killed, acked, reconciled;
};

// The real store, failing its commits while `failing` is set (a full disk).
class FlakyStore : public Store {
 public:
  FlakyStore(std::unique_ptr<Store> inner, std::atomic<bool>* failing) : inner_(std::move(inner)), failing_(failing) {}
  absl::StatusOr<StoredState> Load() override { return inner_->Load(); }
  absl::Status SetFrameworkId(const std::string& id) override { return inner_->SetFrameworkId(id); }
  absl::Status Commit(const StoreBatch& b) override {
    if (*failing_) return absl::InternalError("disk full");
    return inner_->Commit(b);
  }

 private:
  std::unique_ptr<Store> inner_;
  std::atomic<bool>* failing_;
};

// 2027-01-15T08:00:00Z, a whole minute.
const absl::Time kT0 = absl::FromUnixSeconds(1800000000);

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        std::filesystem::temp_directory_path() /
        absl::StrCat("batch-service-", ::testing::UnitTest::GetInstance()->current_test_info()->name(), "-", getpid());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    Start();
  }
  void TearDown() override {
    Crash();
    std::filesystem::remove_all(dir_);
  }
  // A new service on the same store (what kill -9 and a restart leave).
  void Start() {
    auto store = OpenSqliteStore(dir_.string());
    ASSERT_TRUE(store.ok()) << store.status();
    service_ = std::make_unique<Service>(std::make_unique<FlakyStore>(std::move(*store), &store_failing_),
                                         ServiceOptions{}, &clock_);
    ASSERT_TRUE(service_->Load().ok());
    cluster_ = std::make_unique<FakeCluster>();
    service_->SetCluster(cluster_.get());
    service_->Subscribed("fw-1");
    Sync();
  }
  void Crash() {
    if (service_) service_->Stop();
    service_.reset();
  }
  void Sync() {
    service_->Read([](const ServiceState&) { return 0; });
  }
  void Advance(absl::Duration d) {
    clock_.Advance(d);
    Sync();
  }
  Job MakeJob(const std::string& id, const std::string& cron = "", std::vector<std::string> parents = {}) {
    Job j;
    j.id = id;
    j.cmd = "run " + id;
    j.cpus = 1;
    j.mem = 32;
    j.parents = std::move(parents);
    if (!cron.empty()) {
      Schedule s;
      s.expression = cron;
      s.starting_deadline_seconds = 120;
      j.schedules.push_back(s);
    }
    std::vector<FieldError> errors;
    ValidateJob(&j, &errors, clock_.Now());
    EXPECT_TRUE(errors.empty());
    return j;
  }
  void Offer(double cpus = 8) {
    v1::Offer o;
    o.mutable_id()->set_value(absl::StrCat("o", ++offers_));
    o.mutable_agent_id()->set_value("agent-1");
    o.set_hostname("host-1");
    for (auto [name, value] : std::vector<std::pair<const char*, double>>{{"cpus", cpus}, {"mem", 4096}}) {
      auto* r = o.add_resources();
      r->set_name(name);
      r->set_type(v1::Value::SCALAR);
      r->mutable_scalar()->set_value(value);
    }
    service_->Offers({o});
    Sync();
  }
  void Status(const std::string& task_id, v1::TaskState state, const std::string& message = "") {
    v1::TaskStatus s;
    s.mutable_task_id()->set_value(task_id);
    s.mutable_agent_id()->set_value("agent-1");
    s.set_state(state);
    s.set_message(message);
    s.set_uuid(absl::StrCat("u", ++updates_));
    service_->Update(s);
    Sync();
  }
  // The task IDs launched for `job`, in order.
  std::vector<std::string> TasksOf(const std::string& job) {
    std::vector<std::string> out;
    for (const auto& t : cluster_->Launched()) {
      if (t.name() == job) out.push_back(t.task_id().value());
    }
    return out;
  }
  JobStats Stats(const std::string& job) {
    return service_->Read([&](const ServiceState& st) { return st.jobs.at(job).stats; });
  }
  std::string Env(const v1::TaskInfo& t, const std::string& name) {
    for (const auto& v : t.command().environment().variables()) {
      if (v.name() == name) return v.value();
    }
    return "";
  }

  ManualClock clock_{kT0};
  std::atomic<bool> store_failing_{false};
  std::filesystem::path dir_;
  std::unique_ptr<Service> service_;
  std::unique_ptr<FakeCluster> cluster_;
  int offers_ = 0, updates_ = 0;
};

TEST_F(ServiceTest, CronRunLaunchesSucceedsAndIsAcknowledgedAfterItIsStored) {
  ASSERT_TRUE(service_->CreateJob(MakeJob("tick", "* * * * *")).ok());
  Advance(absl::Seconds(59));
  Offer();
  EXPECT_TRUE(TasksOf("tick").empty());
  Advance(absl::Seconds(1));
  Offer();
  auto tasks = TasksOf("tick");
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(Env(cluster_->Launched()[0], "BATCH_SCHEDULED_AT"), "2027-01-15T08:01:00.000Z");
  Advance(absl::Milliseconds(250));
  Status(tasks[0], v1::TASK_RUNNING);
  Status(tasks[0], v1::TASK_FINISHED);
  EXPECT_EQ(Stats("tick").success_count, 1);
  EXPECT_EQ(cluster_->acked.size(), 2u);
  double lateness = service_->Read([](const ServiceState& st) { return st.metrics.lateness.at(0); });
  EXPECT_DOUBLE_EQ(lateness, 0.25);
}

TEST_F(ServiceTest, EachInstantRunsOnceAcrossACrash) {
  ASSERT_TRUE(service_->CreateJob(MakeJob("tick", "* * * * *")).ok());
  Advance(absl::Minutes(1));
  EXPECT_EQ(service_->Read([](const ServiceState& st) { return st.jobs.at("tick").active.size(); }), 1u);
  Crash();  // after the trigger, before any task: the instant has not run
  Start();
  Offer();
  ASSERT_EQ(TasksOf("tick").size(), 1u);  // one run for the minute, launched once
  Crash();  // its task launched: the restarted service reconciles it, and does not launch again
  Start();
  Offer();
  EXPECT_TRUE(TasksOf("tick").empty());
  EXPECT_EQ(cluster_->reconciled.size(), 1u);
  auto runs = service_->Read([](const ServiceState& st) { return st.jobs.at("tick").active; });
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs.begin()->second.instant_ms, ToMs(kT0 + absl::Minutes(1)));
  Advance(absl::Seconds(30));  // nothing more for that minute
  Offer();
  EXPECT_TRUE(TasksOf("tick").empty());
}

TEST_F(ServiceTest, MissedWhileAwayStartsOnlyWithinTheDeadline) {
  ASSERT_TRUE(service_->CreateJob(MakeJob("tick", "* * * * *")).ok());
  Crash();
  clock_.Advance(absl::Minutes(10));  // down for ten minutes; the deadline is two
  Start();
  Crash();  // again, before any offer: the cursor moved past the missed ones, the three still start
  Start();
  Offer();
  EXPECT_EQ(TasksOf("tick").size(), 3u);
  EXPECT_EQ(Stats("tick").missed_count, 7);
}

TEST_F(ServiceTest, ChildRunsOnceAfterBothParentsOfTheSameInstant) {
  ASSERT_TRUE(service_->CreateJob(MakeJob("import", "0 * * * *")).ok());
  ASSERT_TRUE(service_->CreateJob(MakeJob("extract", "0 * * * *")).ok());
  ASSERT_TRUE(service_->CreateJob(MakeJob("report", "", {"import", "extract"})).ok());
  EXPECT_EQ(service_->CreateJob(MakeJob("loop", "", {"nope"})).code(), absl::StatusCode::kInvalidArgument);
  Advance(absl::Hours(1));
  Offer();
  auto a = TasksOf("import"), b = TasksOf("extract");
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  Status(a[0], v1::TASK_RUNNING);
  Status(a[0], v1::TASK_FINISHED);
  Offer();
  EXPECT_TRUE(TasksOf("report").empty());  // extract has not succeeded yet
  Crash();                                 // between the parents: the DAG's progress is in the store
  Start();
  Status(b[0], v1::TASK_RUNNING);
  Status(b[0], v1::TASK_FINISHED);
  Offer();
  auto c = TasksOf("report");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(Env(cluster_->Launched().back(), "BATCH_SCHEDULED_AT"), "2027-01-15T09:00:00.000Z");
  Status(b[0], v1::TASK_FINISHED);  // a redelivered update changes nothing
  Offer();
  EXPECT_EQ(TasksOf("report").size(), 1u);
  EXPECT_EQ(service_->DeleteJob("import", true).code(), absl::StatusCode::kFailedPrecondition);  // a parent
}

TEST_F(ServiceTest, FailingRunRetriesWithBackoffThenCountsAnError) {
  Job j = MakeJob("flaky");
  j.restart = RestartPolicy::kOnFailure;
  j.max_retries = 1;
  ASSERT_TRUE(service_->CreateJob(j).ok());
  ASSERT_TRUE(service_->StartRun("flaky", {{"MODE", "fast"}}, std::nullopt).ok());
  Offer();
  auto t = TasksOf("flaky");
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(Env(cluster_->Launched()[0], "MODE"), "fast");
  Status(t[0], v1::TASK_FAILED, "Command exited with status 2");
  Offer();
  EXPECT_EQ(TasksOf("flaky").size(), 1u);  // backing off
  Advance(absl::Seconds(1));
  Offer();
  t = TasksOf("flaky");
  ASSERT_EQ(t.size(), 2u);
  Status(t[1], v1::TASK_FAILED, "Command exited with status 2");
  JobStats s = Stats("flaky");
  EXPECT_EQ(s.failure_count, 1);
  EXPECT_EQ(s.success_count, 0);
  auto run = service_->Read([](const ServiceState& st) { return st.jobs.at("flaky").history.back(); });
  EXPECT_EQ(run.status, RunStatus::kFailed);
  ASSERT_EQ(run.tasks.size(), 2u);
  EXPECT_EQ(run.tasks[1].exit_code, 2);
}

TEST_F(ServiceTest, ForbidRefusesAManualRunAndDeadlineKills) {
  Job j = MakeJob("slow", "0 0 1 1 *");
  j.schedules[0].concurrency = ConcurrencyPolicy::kForbid;
  j.active_deadline_seconds = 30;
  ASSERT_TRUE(service_->CreateJob(j).ok());
  ASSERT_TRUE(service_->StartRun("slow", {}, std::nullopt).ok());
  EXPECT_EQ(service_->StartRun("slow", {}, std::nullopt).status().code(), absl::StatusCode::kFailedPrecondition);
  Offer();
  auto t = TasksOf("slow");
  ASSERT_EQ(t.size(), 1u);
  Status(t[0], v1::TASK_RUNNING);
  Advance(absl::Seconds(30));
  ASSERT_EQ(cluster_->killed.size(), 1u);
  Status(t[0], v1::TASK_KILLED);
  auto run = service_->Read([](const ServiceState& st) { return st.jobs.at("slow").history.back(); });
  EXPECT_EQ(run.status, RunStatus::kFailed);
  EXPECT_NE(run.reason.find("activeDeadlineSeconds"), std::string::npos);
}

TEST_F(ServiceTest, TaskTheMasterNeverHadLaunchesAgainWithoutCountingAnAttempt) {
  ASSERT_TRUE(service_->CreateJob(MakeJob("once")).ok());
  ASSERT_TRUE(service_->StartRun("once", {}, std::nullopt).ok());
  Offer();
  auto t = TasksOf("once");
  ASSERT_EQ(t.size(), 1u);
  v1::TaskStatus s;
  s.mutable_task_id()->set_value(t[0]);
  s.set_state(v1::TASK_LOST);
  s.set_reason(v1::TaskStatus::REASON_RECONCILIATION);
  service_->Update(s);
  Sync();
  Offer();
  EXPECT_EQ(TasksOf("once").size(), 2u);
  EXPECT_EQ(Stats("once").failure_count, 0);
}

TEST_F(ServiceTest, NothingIsAcknowledgedOrLaunchedBeforeItIsStored) {
  ASSERT_TRUE(service_->CreateJob(MakeJob("job")).ok());
  ASSERT_TRUE(service_->StartRun("job", {}, std::nullopt).ok());
  Offer();
  auto t = TasksOf("job");
  ASSERT_EQ(t.size(), 1u);
  store_failing_ = true;
  Status(t[0], v1::TASK_RUNNING);
  Status(t[0], v1::TASK_FINISHED);
  EXPECT_TRUE(cluster_->acked.empty());  // the disk is full: the agent keeps sending them
  auto run = service_->StartRun("job", {}, std::nullopt);
  EXPECT_EQ(run.status().code(), absl::StatusCode::kUnavailable);
  Offer();
  EXPECT_EQ(TasksOf("job").size(), 1u);  // that run's task is not launched either
  store_failing_ = false;
  Advance(absl::Seconds(1));  // written again, with all it held back
  EXPECT_EQ(cluster_->acked.size(), 2u);
  Offer();
  EXPECT_EQ(TasksOf("job").size(), 2u);
  Crash();
  Start();
  EXPECT_EQ(Stats("job").success_count, 1);
  EXPECT_EQ(service_->Read([](const ServiceState& st) { return st.jobs.at("job").active.size(); }), 1u);
}

}  // namespace
}  // namespace corral::batch
