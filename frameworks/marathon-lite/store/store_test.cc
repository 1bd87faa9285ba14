#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "store/store.h"

namespace corral::marathon {
namespace {

std::string TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "marathon-store-XXXXXX").string();
  return mkdtemp(tmpl.data());
}

TEST(SqliteStore, EverythingSurvivesAReopen) {
  std::string dir = TempDir();
  {
    auto store = OpenSqliteStore(dir);
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
  auto store = OpenSqliteStore(dir);
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
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace corral::marathon
