#include "corral/auth/authorizer.h"

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "absl/strings/match.h"

namespace corral::auth {
namespace {

std::shared_ptr<const Authorizer> Parse(const std::string& json) {
  auto parsed = Authorizer::Parse(json);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return parsed.ok() ? *parsed : nullptr;
}

TEST(AuthorizerTest, FirstMatchingRuleDecidesAndPermissiveTheRest) {
  auto acls = Parse(R"({
    "run_tasks": [
      {"principals": {"type": "NONE"}, "users": {"values": ["root"]}},
      {"principals": {"values": ["alice"]}, "users": {"values": ["alice"]}},
      {"principals": {"values": ["alice"]}, "users": {"type": "NONE"}}
    ]})");
  ASSERT_NE(acls, nullptr);
  EXPECT_TRUE(acls->permissive());
  // Nobody runs as root, whoever they are.
  EXPECT_FALSE(acls->Allows(Action::kRunTasks, "alice", "root"));
  EXPECT_FALSE(acls->Allows(Action::kRunTasks, "bob", "root"));
  EXPECT_FALSE(acls->Allows(Action::kRunTasks, std::nullopt, "root"));
  // alice as herself; as anyone else the third rule refuses.
  EXPECT_TRUE(acls->Allows(Action::kRunTasks, "alice", "alice"));
  EXPECT_FALSE(acls->Allows(Action::kRunTasks, "alice", "nobody"));
  // No rule is about bob as nobody: permissive.
  EXPECT_TRUE(acls->Allows(Action::kRunTasks, "bob", "nobody"));
  // Other actions have no rules at all.
  EXPECT_TRUE(acls->Allows(Action::kTeardownFrameworks, "bob", "alice"));
}

TEST(AuthorizerTest, NotPermissiveRefusesWhatNoRuleAllows) {
  auto acls = Parse(R"({"permissive": false,
    "register_frameworks": [{"principals": {"values": ["alice"]}, "roles": {"values": ["alice", "eng/%"]}}],
    "teardown_frameworks": [{"principals": {"type": "ANY"}, "framework_principals": {"type": "ANY"}}],
    "view_flags": [{"principals": {"values": ["ops"]}, "flags": {"type": "ANY"}}]})");
  ASSERT_NE(acls, nullptr);
  EXPECT_TRUE(acls->Allows(Action::kRegisterFrameworks, "alice", "alice"));
  EXPECT_FALSE(acls->Allows(Action::kRegisterFrameworks, "alice", "bob"));
  EXPECT_FALSE(acls->Allows(Action::kRegisterFrameworks, "bob", "alice"));
  // "eng/%" is every role below eng, not eng itself.
  EXPECT_TRUE(acls->Allows(Action::kRegisterFrameworks, "alice", "eng/dev"));
  EXPECT_TRUE(acls->Allows(Action::kRegisterFrameworks, "alice", "eng/dev/ci"));
  EXPECT_FALSE(acls->Allows(Action::kRegisterFrameworks, "alice", "eng"));
  EXPECT_FALSE(acls->Allows(Action::kRegisterFrameworks, "alice", "engineering/x"));
  // ANY principals: an anonymous caller too.
  EXPECT_TRUE(acls->Allows(Action::kTeardownFrameworks, std::nullopt, "alice"));
  // Actions without an object.
  EXPECT_TRUE(acls->Allows(Action::kViewFlags, "ops", std::nullopt));
  EXPECT_FALSE(acls->Allows(Action::kViewFlags, "alice", std::nullopt));
  // An anonymous caller matches no rule for some principals.
  EXPECT_FALSE(acls->Allows(Action::kViewFlags, std::nullopt, std::nullopt));
  // No rule at all for this action: not permissive.
  EXPECT_FALSE(acls->Allows(Action::kMarkAgentsGone, "ops", std::nullopt));
}

TEST(AuthorizerTest, AnActionOnEveryObjectNeedsARuleForEveryObject) {
  auto acls = Parse(R"({"permissive": false,
    "get_endpoints": [{"principals": {"values": ["ops"]}, "paths": {"values": ["/metrics/snapshot"]}},
                      {"principals": {"values": ["root"]}, "paths": {"type": "ANY"}}]})");
  ASSERT_NE(acls, nullptr);
  EXPECT_TRUE(acls->Allows(Action::kGetEndpoints, "ops", "/metrics/snapshot"));
  EXPECT_FALSE(acls->Allows(Action::kGetEndpoints, "ops", "/flags"));
  EXPECT_FALSE(acls->Allows(Action::kGetEndpoints, "ops", std::nullopt));
  EXPECT_TRUE(acls->Allows(Action::kGetEndpoints, "root", std::nullopt));
}

TEST(AuthorizerTest, BadFilesAreRefusedNamingWhatIsWrong) {
  struct Case {
    const char* json;
    const char* error;
  };
  for (
      const Case& c : {
          Case{R"({"run_tasks": [{"users": {"type": "ANY"}}]})", "run_tasks[0].principals is missing"},
          Case{R"({"run_tasks": [{"principals": {"type": "ANY"}}]})", "run_tasks[0].users is missing"},
          Case{R"({"run_task": []})", "run_task"},
          Case{R"({"register_frameworks": [{"principals": {"values": []}, "roles": {"type": "ANY"}}]})",
               "register_frameworks[0].principals lists no values"},
          Case{
              R"({"register_frameworks": [{"principals": {"type": "ANY", "values": ["a"]}, "roles": {"type": "ANY"}}]})",
              "has both a type and values"},
          Case{R"({"permissive": "maybe"})", "not valid ACLs JSON"},
          Case{"not json", "not valid ACLs JSON"},
      }) {
    auto parsed = Authorizer::Parse(c.json);
    ASSERT_FALSE(parsed.ok()) << c.json;
    EXPECT_TRUE(absl::StrContains(parsed.status().message(), c.error)) << parsed.status();
  }
  auto missing = Authorizer::Load("/nonexistent/acls.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(absl::StrContains(missing.status().message(), "/nonexistent/acls.json"));
}

TEST(AuthorizerTest, RefusalsNameTheActionAndAreAudited) {
  auto acls = Parse(R"({"run_tasks": [{"principals": {"type": "NONE"}, "users": {"values": ["root"]}}]})");
  ASSERT_NE(acls, nullptr);
  std::string log = ::testing::TempDir() + "/audit.log";
  std::remove(log.c_str());
  ASSERT_TRUE(SetAuditLog(log).ok());
  EXPECT_TRUE(Authorize(nullptr, Action::kRunTasks, "alice", "root").ok());  // no --acls: all allowed
  EXPECT_TRUE(Authorize(acls.get(), Action::kRunTasks, "alice", "alice").ok());
  absl::Status refused = Authorize(acls.get(), Action::kRunTasks, "alice", "root");
  EXPECT_EQ(refused.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(refused.message(), "Not authorized to run_tasks with user 'root' (principal 'alice'; see --acls)");
  AuditChange("TEARDOWN", "ops", absl::NotFoundError("framework 'F1' is unknown"));
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  std::string lines = text.str();
  // Only the refusal and the change: allowed decisions are not written.
  EXPECT_EQ(std::count(lines.begin(), lines.end(), '\n'), 2) << lines;
  EXPECT_TRUE(absl::StrContains(lines, R"("principal":"alice","action":"run_tasks","object":"root","allowed":false)"))
      << lines;
  EXPECT_TRUE(absl::StrContains(lines, R"("principal":"ops","call":"TEARDOWN","result":"framework 'F1' is unknown")"))
      << lines;
}

TEST(AuthorizerTest, ViewFilterRemembersEachUsersDecision) {
  auto acls = Parse(R"({"permissive": false,
    "view_tasks": [{"principals": {"values": ["alice"]}, "users": {"values": ["alice"]}}]})");
  ASSERT_NE(acls, nullptr);
  ViewFilter filter(acls.get(), "alice");
  EXPECT_TRUE(filter.filters());
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(filter.Allows(Action::kViewTasks, "alice"));
    EXPECT_FALSE(filter.Allows(Action::kViewTasks, "root"));
  }
  ViewFilter everything(nullptr, std::nullopt);
  EXPECT_FALSE(everything.filters());
  EXPECT_TRUE(everything.Allows(Action::kViewTasks, "root"));
}

}  // namespace
}  // namespace corral::auth
