#include "corral/master/registry.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace corral {
namespace {

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/corral-registry-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    path_ = dir_ + "/registry.db";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_, path_;
};

TEST_F(RegistryTest, WhatIsWrittenIsRecoveredByTheNextOpen) {
  {
    auto r = OpenSqliteRegistry(path_);
    ASSERT_TRUE(r.ok()) << r.status();
    v1::AgentInfo a;
    a.mutable_id()->set_value("S1");
    a.set_hostname("h1");
    ASSERT_TRUE((*r)->AdmitAgent(a).ok());
    a.mutable_id()->set_value("S2");
    ASSERT_TRUE((*r)->AdmitAgent(a).ok());
    ASSERT_TRUE((*r)->MarkAgentUnreachable("S2", 1234.5).ok());
    v1::FrameworkInfo f;
    f.mutable_id()->set_value("F1");
    f.set_name("one");
    ASSERT_TRUE((*r)->AddFramework(f).ok());
    f.mutable_id()->set_value("F2");
    ASSERT_TRUE((*r)->AddFramework(f).ok());
    ASSERT_TRUE((*r)->RemoveFramework("F2").ok());
    ASSERT_TRUE((*r)->PutOperatorState("weights", "w").ok());
  }
  auto r = OpenSqliteRegistry(path_);
  ASSERT_TRUE(r.ok()) << r.status();
  auto state = (*r)->Recover();
  ASSERT_TRUE(state.ok()) << state.status();
  ASSERT_EQ(state->agents.size(), 2u);
  EXPECT_EQ(state->agents[0].info.hostname(), "h1");
  EXPECT_EQ(state->agents[0].unreachable_since, 0);
  EXPECT_EQ(state->agents[1].unreachable_since, 1234.5);
  ASSERT_EQ(state->frameworks.size(), 1u);
  EXPECT_EQ(state->frameworks[0].name(), "one");
  EXPECT_EQ(*(*r)->GetOperatorState("weights"), "w");
  EXPECT_TRUE(absl::IsNotFound((*r)->GetOperatorState("quotas").status()));
  // Readmitting an unreachable agent makes it reachable again.
  v1::AgentInfo a;
  a.mutable_id()->set_value("S2");
  ASSERT_TRUE((*r)->AdmitAgent(a).ok());
  EXPECT_EQ((*r)->Recover()->agents[1].unreachable_since, 0);
}

TEST_F(RegistryTest, AFileThatIsNotARegistryIsRefusedByName) {
  std::ofstream(path_) << "this is not a database, just some text that is long enough to look like a header";
  auto r = OpenSqliteRegistry(path_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(path_), std::string::npos) << r.status();
}

TEST_F(RegistryTest, AnUnreadableDirectoryIsRefusedByName) {
  auto r = OpenSqliteRegistry(dir_ + "/missing/registry.db");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("missing/registry.db"), std::string::npos) << r.status();
}

}  // namespace
}  // namespace corral
