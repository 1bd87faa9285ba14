#include <gtest/gtest.h>

#include <map>

#include "model/app_json.h"

namespace corral::marathon {
namespace {

App Read(const std::string& json, std::vector<FieldError>* errors, App base = App()) {
  rapidjson::Document doc;
  doc.Parse(json.c_str());
  EXPECT_FALSE(doc.HasParseError()) << json;
  ReadApp(doc, &base, errors);
  base.id = CanonicalId(base.id);
  ValidateApp(base, errors);
  return base;
}

bool HasError(const std::vector<FieldError>& errors, const std::string& path) {
  for (const auto& e : errors) {
    if (e.path == path) return true;
  }
  return false;
}

TEST(AppModel, DefaultsAreMarathons) {
  std::vector<FieldError> errors;
  App app = Read(R"({"id": "web", "cmd": "sleep 100"})", &errors);
  ASSERT_TRUE(errors.empty()) << errors.front().path << ": " << errors.front().error;
  EXPECT_EQ(app.id, "/web");
  EXPECT_EQ(app.instances, 1);
  EXPECT_DOUBLE_EQ(app.cpus, 1);
  EXPECT_DOUBLE_EQ(app.mem, 128);
  EXPECT_DOUBLE_EQ(app.backoff_factor, 1.15);
  EXPECT_EQ(app.kill_selection, "YOUNGEST_FIRST");
  ASSERT_EQ(app.port_definitions.size(), 1u);
  EXPECT_EQ(app.port_definitions[0].port, 0);
  EXPECT_DOUBLE_EQ(app.upgrade_strategy.minimum_health_capacity, 1);
  EXPECT_DOUBLE_EQ(app.upgrade_strategy.maximum_over_capacity, 1);
}

TEST(AppModel, EveryInvalidFieldIsNamedAtOnce) {
  std::vector<FieldError> errors;
  Read(R"({"id": "Bad_Id", "cpus": -1, "mem": "lots", "instances": 1.5, "killSelection": "RANDOM",
          "constraints": [["hostname", "SOMETIMES"]], "upgradeStrategy": {"minimumHealthCapacity": 2}})",
       &errors);
  for (const char* path : {"/id", "/cpus", "/mem", "/instances", "/killSelection", "/constraints(0)",
                           "/upgradeStrategy/minimumHealthCapacity", "/"}) {
    EXPECT_TRUE(HasError(errors, path)) << path;
  }
}

TEST(AppModel, CmdOrArgsButNotBoth) {
  std::vector<FieldError> errors;
  Read(R"({"id": "a", "cmd": "x", "args": ["y"]})", &errors);
  EXPECT_TRUE(HasError(errors, "/"));
  errors.clear();
  Read(R"({"id": "a"})", &errors);
  EXPECT_TRUE(HasError(errors, "/"));
  errors.clear();
  Read(R"({"id": "a", "args": ["sleep", "1"]})", &errors);
  EXPECT_TRUE(errors.empty());
}

TEST(AppModel, UnknownAndReadOnlyKeysAreIgnored) {
  std::vector<FieldError> errors;
  App app = Read(R"({"id": "/a/b", "cmd": "x", "tasksRunning": 3, "version": "2020-01-01T00:00:00.000Z",
                     "someFutureField": {"x": 1}})",
                 &errors);
  EXPECT_TRUE(errors.empty());
  EXPECT_EQ(app.id, "/a/b");
  EXPECT_EQ(app.version, "");  // set by the service only
}

TEST(AppModel, PartialUpdateKeepsAbsentFields) {
  std::vector<FieldError> errors;
  App base = Read(R"({"id": "a", "cmd": "x", "cpus": 0.5, "env": {"A": "1"}})", &errors);
  App updated = Read(R"({"instances": 4})", &errors, base);
  EXPECT_TRUE(errors.empty());
  EXPECT_EQ(updated.instances, 4);
  EXPECT_DOUBLE_EQ(updated.cpus, 0.5);
  EXPECT_EQ(updated.env.at("A"), "1");
}

TEST(AppModel, ConstraintsInBothForms) {
  std::vector<FieldError> errors;
  App app = Read(R"({"id": "a", "cmd": "x", "constraints": [["hostname", "UNIQUE"],
                     {"fieldName": "rack", "operator": "MAX_PER", "value": "2"}, ["zone", "LIKE", "eu-.*"]]})",
                 &errors);
  ASSERT_TRUE(errors.empty());
  ASSERT_EQ(app.constraints.size(), 3u);
  EXPECT_EQ(app.constraints[1].field, "rack");
  EXPECT_EQ(app.constraints[1].op, "MAX_PER");
  errors.clear();
  Read(R"({"id": "a", "cmd": "x", "constraints": [["rack", "MAX_PER", "zero"], ["z", "LIKE", "(("]]})", &errors);
  EXPECT_TRUE(HasError(errors, "/constraints(0)"));
  EXPECT_TRUE(HasError(errors, "/constraints(1)"));
}

TEST(AppModel, StoredFormRoundTrips) {
  std::vector<FieldError> errors;
  App app = Read(R"({"id": "/prod/web", "args": ["a", "b"], "env": {"K": "V"}, "labels": {"team": "x"},
                     "portDefinitions": [{"port": 10001, "name": "http"}], "unreachableStrategy": "disabled",
                     "fetch": [{"uri": "http://example.com/a.tgz"}]})",
                 &errors);
  ASSERT_TRUE(errors.empty());
  app.version = app.last_scaling_at = app.last_config_change_at = "2026-01-02T03:04:05.678Z";
  rapidjson::Document doc;
  doc.Parse(AppJson(app).c_str());
  App back;
  back.port_definitions.clear();
  ReadApp(doc, &back, &errors, /*stored=*/true);
  ASSERT_TRUE(errors.empty());
  EXPECT_EQ(AppJson(back), AppJson(app));
  EXPECT_TRUE(back.unreachable_strategy.disabled);
}

TEST(AppModel, DependenciesResolveAgainstTheAppsGroup) {
  EXPECT_EQ(ResolveDependency("/prod/web", "db"), "/prod/db");
  EXPECT_EQ(ResolveDependency("/prod/web", "../shared/cache"), "/shared/cache");
  EXPECT_EQ(ResolveDependency("/prod/web", "/infra/dns/"), "/infra/dns");
  EXPECT_EQ(ResolveDependency("/web", "db"), "/db");
  EXPECT_TRUE(SatisfiesDependency("/prod/db", "/prod/db"));
  EXPECT_TRUE(SatisfiesDependency("/prod/db/primary", "/prod/db"));  // a group: every app under it
  EXPECT_FALSE(SatisfiesDependency("/prod/db-replica", "/prod/db"));
  EXPECT_FALSE(SatisfiesDependency("/prod", "/prod/db"));
}

TEST(AppModel, DependencyCyclesAreFoundAndNamed) {
  App a, b, c, d;
  a.id = "/g/a";
  b.id = "/g/b";
  c.id = "/g/c";
  d.id = "/g-x";
  a.dependencies = {"/g/b"};
  b.dependencies = {"/g/c"};
  c.dependencies = {"/g-x"};
  std::map<std::string, const App*> apps{{a.id, &a}, {b.id, &b}, {c.id, &c}, {d.id, &d}};
  EXPECT_EQ(DependencyCycle(apps), "");
  d.dependencies = {"/g"};  // the group, and so /g/a: a -> b -> c -> /g-x -> a
  EXPECT_EQ(DependencyCycle(apps), "/g-x -> /g/a -> /g/b -> /g/c -> /g-x");
  d.dependencies = {"/h"};  // nothing there
  EXPECT_EQ(DependencyCycle(apps), "");
  a.dependencies = {"/g/a"};
  EXPECT_EQ(DependencyCycle(apps), "/g/a -> /g/a");
}

TEST(AppModel, ChangesAreOrderedDependenciesFirst) {
  std::vector<App> apps(4);
  apps[0].id = "/s/web";
  apps[0].dependencies = {"/s/back"};  // a group
  apps[1].id = "/s/back/api";
  apps[1].dependencies = {"db"};  // relative to its group
  apps[2].id = "/s/back/db";
  apps[3].id = "/other";
  OrderByDependencies(&apps);
  std::vector<std::string> ids;
  for (const auto& a : apps) ids.push_back(a.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"/s/back/db", "/s/back/api", "/s/web", "/other"}));
}

TEST(AppModel, TaskIdsNameTheirApp) {
  std::string id = NewTaskId("/prod/web.v2");
  EXPECT_EQ(id.rfind("prod_web.v2.", 0), 0u);
  EXPECT_EQ(AppIdOfTask(id), "/prod/web.v2");
}

TEST(AppModel, TimestampsAreUtcWithZ) {
  absl::Time t = absl::FromUnixMillis(1767225600123);
  EXPECT_EQ(Timestamp(t), "2026-01-01T00:00:00.123Z");
  EXPECT_EQ(ParseTimestamp(Timestamp(t)), t);
}

TEST(AppModel, ErrorBodyGroupsByPath) {
  std::string body = ErrorsJson("Object is not valid", {{"/cpus", "a"}, {"/mem", "b"}, {"/cpus", "c"}});
  EXPECT_EQ(body, R"({"message":"Object is not valid","details":[{"path":"/cpus","errors":["a","c"]},)"
                  R"({"path":"/mem","errors":["b"]}]})");
}

}  // namespace
}  // namespace corral::marathon
