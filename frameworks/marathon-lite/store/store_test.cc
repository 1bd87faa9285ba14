#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "corral/zookeeper/zk.h"
#include "store/store.h"
#include "zookeeper.h"  // tests/: a real ZooKeeper server

namespace corral::marathon {
namespace {

std::string TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "marathon-store-XXXXXX").string();
  return mkdtemp(tmpl.data());
}

// Every test runs against both stores: SQLite (one instance) and ZooKeeper
// (--zk), whose writes are multi-ops guarded by the leader's node.
class StoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = TempDir();
    if (GetParam() == "zookeeper") {
      ASSERT_TRUE(testing::HaveZooKeeper()) << "this test needs ZooKeeper (Debian's zookeeper package) and a JDK";
      auto* zk = testing::SharedZooKeeper();
      ASSERT_NE(zk, nullptr);
      root_ = "/" + std::filesystem::path(dir_).filename().string();
      auto leader = testing::ConnectAsLeader(zk, root_);
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
    if (GetParam() == "sqlite") return OpenSqliteStore(dir_);
    return OpenZkStore(session_.get(), root_ + "/state", guard_);
  }
  std::string dir_, root_;
  std::unique_ptr<zk::Session> session_;
  std::string guard_;
};

TEST_P(StoreTest, EverythingSurvivesAReopen) {
  {
    auto store = Open();
    ASSERT_TRUE(store.ok()) << store.status();
    App app;
    app.id = "/web";
    app.cmd = "sleep 1";
    app.version = app.last_config_change_at = app.last_scaling_at = "2026-01-01T00:00:00.000Z";
    ASSERT_TRUE((*store)->PutApp(app).ok());
    app.instances = 3;
    app.version = app.last_scaling_at = "2026-01-01T00:00:01.000Z";
    ASSERT_TRUE((*store)->PutApp(app).ok());
    Task t1, t2;
    t1.id = "web.1";
    t1.app_id = t2.app_id = "/web";
    t1.ports = {31000};
    t1.attributes = {{"rack", "r1"}};
    t2.id = "web.2";
    t2.killing = true;
    ASSERT_TRUE((*store)->PutTasks({&t1, &t2}).ok());
    ASSERT_TRUE((*store)->DeleteTasks({"web.2"}).ok());
    ASSERT_TRUE((*store)->SetFrameworkId("fw-1").ok());
    ASSERT_TRUE((*store)
                    ->PutDeployment({"d1", "/web", app.version, "2026-01-01T00:00:00.000Z", app.version,
                                     "RestartApplication", true})
                    .ok());
  }
  auto store = Open();
  ASSERT_TRUE(store.ok());
  auto state = (*store)->Load();
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(state->framework_id.value_or(""), "fw-1");
  ASSERT_EQ(state->apps.size(), 1u);
  EXPECT_EQ(state->apps[0].instances, 3);
  ASSERT_EQ(state->tasks.size(), 1u);
  EXPECT_EQ(state->tasks[0].ports, std::vector<int>{31000});
  EXPECT_EQ(state->tasks[0].attributes.at("rack"), "r1");
  ASSERT_EQ(state->deployments.size(), 1u);
  EXPECT_EQ(state->deployments[0].action, "RestartApplication");
  EXPECT_TRUE(state->deployments[0].canary);
  auto versions = (*store)->Versions("/web");
  ASSERT_TRUE(versions.ok());
  EXPECT_EQ(versions->size(), 2u);
  auto first = (*store)->Version("/web", "2026-01-01T00:00:00.000Z");
  ASSERT_TRUE(first.ok() && first->has_value());
  EXPECT_EQ((*first)->instances, 1);
  ASSERT_TRUE((*store)->DeleteApp("/web").ok());
  EXPECT_TRUE((*store)->Versions("/web")->empty());
}

TEST_P(StoreTest, AnAppChangeIsOneTransaction) {
  auto store = Open();
  ASSERT_TRUE(store.ok()) << store.status();
  App app;
  app.id = "/api";
  app.cmd = "sleep 1";
  app.version = "2026-01-01T00:00:00.000Z";
  Deployment first{"d1", "/api", app.version, "", app.version, "StartApplication", false};
  ASSERT_TRUE((*store)->PutAppChange(app, first, "").ok());
  app.instances = 2;
  app.version = "2026-01-01T00:00:01.000Z";
  Deployment second{"d2", "/api", app.version, "2026-01-01T00:00:00.000Z", app.version, "ScaleApplication", false};
  ASSERT_TRUE((*store)->PutAppChange(app, second, "d1").ok());
  auto state = (*store)->Load();
  ASSERT_TRUE(state.ok()) << state.status();
  ASSERT_EQ(state->apps.size(), 1u);
  EXPECT_EQ(state->apps[0].instances, 2);
  ASSERT_EQ(state->deployments.size(), 1u);  // the replaced one is gone with the change
  EXPECT_EQ(state->deployments[0].id, "d2");
  EXPECT_EQ((*store)->Versions("/api")->size(), 2u);
}

// What only the ZooKeeper store has: several writers, one of them leading.
class ZkStoreTest : public StoreTest {};

TEST_P(ZkStoreTest, ADeposedLeaderCannotWrite) {
  auto store = Open();
  ASSERT_TRUE(store.ok()) << store.status();
  App app;
  app.id = "/web";
  app.cmd = "sleep 1";
  app.version = app.last_config_change_at = app.last_scaling_at = "2026-01-01T00:00:00.000Z";
  ASSERT_TRUE((*store)->PutApp(app).ok());
  // Its member node gone (its session expired; another instance leads):
  ASSERT_TRUE(session_->Delete(guard_).ok());
  app.instances = 7;
  EXPECT_FALSE((*store)->PutApp(app).ok());
  EXPECT_FALSE((*store)->DeleteApp("/web").ok());
  EXPECT_FALSE((*store)->SetFrameworkId("fw-late").ok());
  auto guard = session_->Create(root_ + "/leader/member_", "127.0.0.1:2", true, true, true);
  ASSERT_TRUE(guard.ok());
  guard_ = *guard;
  auto next = Open();  // the next leader reads what the first wrote, and nothing after
  ASSERT_TRUE(next.ok()) << next.status();
  auto state = (*next)->Load();
  ASSERT_TRUE(state.ok()) << state.status();
  ASSERT_EQ(state->apps.size(), 1u);
  EXPECT_EQ(state->apps[0].instances, 1);
  EXPECT_FALSE(state->framework_id.has_value());
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreTest, ::testing::Values("sqlite", "zookeeper"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });
INSTANTIATE_TEST_SUITE_P(Stores, ZkStoreTest, ::testing::Values("zookeeper"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

}  // namespace
}  // namespace corral::marathon
