#include "store/store.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "corral/zookeeper/zk.h"
#include "zookeeper.h"  // tests/: a real ZooKeeper server

namespace corral::batch {
namespace {

// Every test runs against both stores: SQLite (one instance) and ZooKeeper
// (--zk), whose Commit is one multi-op guarded by the leader's node.
class StoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    name_ = std::string(info->test_suite_name()) + "-" + info->name();
    for (char& c : name_)
      if (c == '/') c = '-';
    dir_ = std::filesystem::temp_directory_path() /
           ("batch-store-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" + name_);
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    if (GetParam() == "zookeeper") {
      ASSERT_TRUE(testing::HaveZooKeeper()) << "this test needs ZooKeeper (Debian's zookeeper package) and a JDK";
      auto* zk = testing::SharedZooKeeper();
      ASSERT_NE(zk, nullptr);
      auto leader = testing::ConnectAsLeader(zk, "/" + name_);
      ASSERT_TRUE(leader.ok()) << leader.status();
      session_ = std::move(leader->session);
      guard_ = leader->guard;
    }
  }
  void TearDown() override {
    session_.reset();
    std::filesystem::remove_all(dir_);
  }
  // The store, opened again on each call (a restart, or a new leader).
  absl::StatusOr<std::unique_ptr<Store>> Open() {
    if (GetParam() == "sqlite") return OpenSqliteStore(dir_.string());
    return OpenZkStore(session_.get(), "/" + name_ + "/state", guard_);
  }
  std::string name_;
  std::filesystem::path dir_;
  std::unique_ptr<zk::Session> session_;
  std::string guard_;
};

TEST_P(StoreTest, EverythingComesBackAndTheInstantIsFenced) {
  Job job;
  job.id = "nightly";
  job.cmd = "make report";
  job.parents = {"import"};
  Schedule s;
  s.expression = "0 2 * * *";
  s.time_zone = "Europe/Berlin";
  s.cursor_ms = 1234;
  std::vector<FieldError> errors;
  ValidateSchedule(&s, &errors, "");
  job.schedules.push_back(s);
  batch::Run run;
  run.id = "r1";
  run.job_id = "nightly";
  run.instant_ms = 5000;
  run.trigger = "schedule:default";
  run.env = {{"DAY", "monday"}};
  run.tasks.push_back({"t1", "a1", "TASK_FAILED", "x", "y", 3, "Command exited with status 3"});
  run.tasks.push_back({"t2", "a1", "TASK_RUNNING", "z", "", std::nullopt, ""});
  JobStats stats;
  stats.failure_count = 1;
  {
    auto store = Open();
    ASSERT_TRUE(store.ok()) << store.status();
    StoreBatch b;
    b.put_jobs = {&job};
    b.put_schedules = {{"nightly", &job.schedules[0]}};
    b.put_runs = {&run};
    b.put_stats = {{"nightly", &stats}};
    ASSERT_TRUE((*store)->Commit(b).ok());
    // A second run of the same job for the same instant is refused, and
    // nothing of its batch is written.
    batch::Run twin = run;
    twin.id = "r2";
    JobStats other;
    other.failure_count = 99;
    StoreBatch dup;
    dup.put_runs = {&twin};
    dup.put_stats = {{"nightly", &other}};
    auto st = (*store)->Commit(dup);
    EXPECT_EQ(st.code(), absl::StatusCode::kAlreadyExists) << st;
    // Updating the run itself is fine.
    run.status = RunStatus::kActive;
    StoreBatch upd;
    upd.put_runs = {&run};
    ASSERT_TRUE((*store)->Commit(upd).ok());
  }
  auto store = Open();
  ASSERT_TRUE(store.ok());
  auto st = (*store)->Load();
  ASSERT_TRUE(st.ok()) << st.status();
  ASSERT_EQ(st->jobs.size(), 1u);
  EXPECT_EQ(st->jobs[0].parents, std::vector<std::string>{"import"});
  ASSERT_EQ(st->jobs[0].schedules.size(), 1u);
  EXPECT_EQ(st->jobs[0].schedules[0].cursor_ms, 1234);
  EXPECT_TRUE(st->jobs[0].schedules[0].parsed.has_value());
  EXPECT_EQ(st->stats["nightly"].failure_count, 1);
  ASSERT_EQ(st->runs.size(), 1u);
  EXPECT_EQ(st->runs[0].status, RunStatus::kActive);
  EXPECT_EQ(st->runs[0].env.at("DAY"), "monday");
  ASSERT_EQ(st->runs[0].tasks.size(), 2u);
  EXPECT_EQ(st->runs[0].tasks[0].exit_code, 3);
  EXPECT_EQ(st->runs[0].tasks[1].id, "t2");

  StoreBatch del;
  del.delete_jobs = {"nightly"};
  ASSERT_TRUE((*store)->Commit(del).ok());
  st = (*store)->Load();
  EXPECT_TRUE(st->jobs.empty());
  EXPECT_TRUE(st->runs.empty());
  EXPECT_TRUE(st->stats.empty());
}

TEST_P(StoreTest, RunIdsAreUniquePerJobOnly) {
  // Metronome's run IDs are a time and five characters: two jobs' runs of
  // the same second may share one, and must both be kept.
  auto store = Open();
  ASSERT_TRUE(store.ok());
  Job a, b;
  a.id = "a";
  a.cmd = b.cmd = "true";
  b.id = "b";
  batch::Run ra, rb;
  ra.id = rb.id = "20270115080000abcde";
  ra.job_id = "a";
  rb.job_id = "b";
  ra.instant_ms = rb.instant_ms = 1000;
  ra.tasks.push_back({"a_20270115080000abcde.1", "x", "TASK_RUNNING", "", "", std::nullopt, ""});
  rb.tasks.push_back({"b_20270115080000abcde.1", "x", "TASK_RUNNING", "", "", std::nullopt, ""});
  StoreBatch put;
  put.put_jobs = {&a, &b};
  put.put_runs = {&ra, &rb};
  ASSERT_TRUE((*store)->Commit(put).ok());
  StoreBatch del;
  del.delete_runs = {{"a", ra.id}};
  ASSERT_TRUE((*store)->Commit(del).ok());
  auto st = (*store)->Load();
  ASSERT_TRUE(st.ok());
  ASSERT_EQ(st->runs.size(), 1u);
  EXPECT_EQ(st->runs[0].job_id, "b");
  ASSERT_EQ(st->runs[0].tasks.size(), 1u);
  EXPECT_EQ(st->runs[0].tasks[0].id, "b_20270115080000abcde.1");
}

// What only the ZooKeeper store has: several writers, one of them leading.
class ZkStoreTest : public StoreTest {};

TEST_P(ZkStoreTest, ADeposedLeaderCannotWrite) {
  auto store = Open();
  ASSERT_TRUE(store.ok()) << store.status();
  Job job;
  job.id = "hourly";
  job.cmd = "true";
  StoreBatch put;
  put.put_jobs = {&job};
  ASSERT_TRUE((*store)->Commit(put).ok());
  // Its member node gone (its session expired; another instance leads):
  ASSERT_TRUE(session_->Delete(guard_).ok());
  Job other;
  other.id = "late";
  other.cmd = "true";
  StoreBatch late;
  late.put_jobs = {&other};
  late.delete_jobs = {"hourly"};
  EXPECT_FALSE((*store)->Commit(late).ok());
  auto guard = session_->Create("/" + name_ + "/leader/member_", "127.0.0.1:2", true, true, true);
  ASSERT_TRUE(guard.ok());
  guard_ = *guard;
  auto next = Open();  // the next leader reads what the first wrote, and nothing after
  ASSERT_TRUE(next.ok()) << next.status();
  auto st = (*next)->Load();
  ASSERT_TRUE(st.ok()) << st.status();
  ASSERT_EQ(st->jobs.size(), 1u);
  EXPECT_EQ(st->jobs[0].id, "hourly");
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreTest, ::testing::Values("sqlite", "zookeeper"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });
INSTANTIATE_TEST_SUITE_P(Stores, ZkStoreTest, ::testing::Values("zookeeper"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

}  // namespace
}  // namespace corral::batch
