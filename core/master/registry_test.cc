#include "corral/master/registry.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <sqlite3.h>

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
    ASSERT_TRUE((*r)->AdmitAgent(a, {"agent-1", "digest-1"}).ok());
    a.mutable_id()->set_value("S2");
    ASSERT_TRUE((*r)->AdmitAgent(a, {}).ok());
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
  EXPECT_EQ(state->agents[0].identity.principal, "agent-1");
  EXPECT_EQ(state->agents[0].identity.secret_digest, "digest-1");
  EXPECT_EQ(state->agents[1].unreachable_since, 1234.5);
  EXPECT_EQ(state->agents[1].identity.principal, "");
  ASSERT_EQ(state->frameworks.size(), 1u);
  EXPECT_EQ(state->frameworks[0].name(), "one");
  EXPECT_EQ(*(*r)->GetOperatorState("weights"), "w");
  EXPECT_TRUE(absl::IsNotFound((*r)->GetOperatorState("quotas").status()));
  // Readmitting an unreachable agent makes it reachable again.
  v1::AgentInfo a;
  a.mutable_id()->set_value("S2");
  ASSERT_TRUE((*r)->AdmitAgent(a, {"", "digest-2"}).ok());
  EXPECT_EQ((*r)->Recover()->agents[1].unreachable_since, 0);
  EXPECT_EQ((*r)->Recover()->agents[1].identity.secret_digest, "digest-2");
}

TEST_F(RegistryTest, ARegistryOfSchemaVersionOneIsUpgradedKeepingItsAgents) {
  // The tables an older master wrote, with one agent in them.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  v1::AgentInfo a;
  a.mutable_id()->set_value("S1");
  a.set_hostname("old-host");
  std::string blob = a.SerializeAsString();
  std::string sql =
      "CREATE TABLE corral_registry (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
      "CREATE TABLE agents (id TEXT PRIMARY KEY, info BLOB NOT NULL,"
      "  unreachable_since REAL NOT NULL DEFAULT 0);"
      "INSERT INTO corral_registry VALUES ('schema_version', '1'), ('write_seq', 0);";
  ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "INSERT INTO agents (id, info) VALUES ('S1', ?1)", -1, &stmt, nullptr), SQLITE_OK);
  sqlite3_bind_blob(stmt, 1, blob.data(), static_cast<int>(blob.size()), SQLITE_TRANSIENT);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_DONE);
  sqlite3_finalize(stmt);
  sqlite3_close(db);

  auto r = OpenSqliteRegistry(path_);
  ASSERT_TRUE(r.ok()) << r.status();
  auto state = (*r)->Recover();
  ASSERT_TRUE(state.ok()) << state.status();
  ASSERT_EQ(state->agents.size(), 1u);
  EXPECT_EQ(state->agents[0].info.hostname(), "old-host");
  EXPECT_EQ(state->agents[0].identity.secret_digest, "");  // bound to nothing until it reregisters
  ASSERT_TRUE((*r)->AdmitAgent(state->agents[0].info, {"", "digest"}).ok());
  r->reset();
  auto again = OpenSqliteRegistry(path_);  // opens as version 2 now
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)->Recover()->agents[0].identity.secret_digest, "digest");
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

// A run of the master that admits `agents` agents and is then killed (no
// close, no checkpoint of the WAL into the database), in a child process.
void AdmitAndCrash(const std::string& path, int agents) {
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto r = OpenSqliteRegistry(path);
    if (!r.ok()) ::_exit(2);
    for (int i = 0; i < agents; ++i) {
      v1::AgentInfo a;
      a.mutable_id()->set_value("S" + std::to_string(i));
      a.set_hostname("h" + std::to_string(i));
      if (!(*r)->AdmitAgent(a, {}).ok()) ::_exit(3);
    }
    ::_exit(0);  // as kill -9 would: nothing closed
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

void Damage(const std::string& path, off_t offset, int bytes) {
  int fd = ::open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0) << path;
  if (offset < 0) offset += ::lseek(fd, 0, SEEK_END);
  for (int i = 0; i < bytes; ++i) {
    unsigned char c = 0;
    ASSERT_EQ(::pread(fd, &c, 1, offset + i), 1);
    c ^= 0x5a;
    ASSERT_EQ(::pwrite(fd, &c, 1, offset + i), 1);
  }
  ::close(fd);
}

TEST_F(RegistryTest, ACrashLosesNoAcknowledgedWrite) {
  AdmitAndCrash(path_, 20);
  ASSERT_TRUE(std::filesystem::exists(path_ + "-wal"));
  auto r = OpenSqliteRegistry(path_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->Recover()->agents.size(), 20u);
}

// SQLite ignores a WAL whose header checksum fails: the registry would open
// empty. The master refuses it instead, naming the file.
TEST_F(RegistryTest, ADamagedWalHeaderIsRefusedByName) {
  AdmitAndCrash(path_, 20);
  Damage(path_ + "-wal", 16, 4);  // the salts
  auto r = OpenSqliteRegistry(path_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(r.status().message().find(path_ + "-wal is damaged"), std::string::npos) << r.status();
  // Nothing was written over the evidence: refused again, the same way.
  EXPECT_EQ(OpenSqliteRegistry(path_).status(), r.status());
}

// Damage in the WAL's last frame drops the latest write.
TEST_F(RegistryTest, DamageNearTheEndOfTheWalIsRefusedByName) {
  AdmitAndCrash(path_, 20);
  Damage(path_ + "-wal", -200, 8);
  auto r = OpenSqliteRegistry(path_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(path_ + "-wal is damaged"), std::string::npos) << r.status();
  EXPECT_NE(r.status().message().find("but number 20 was acknowledged"), std::string::npos) << r.status();
}

// A registry written before the write count existed opens as it did.
TEST_F(RegistryTest, ARegistryWithoutAWriteCountOpens) {
  AdmitAndCrash(path_, 3);
  std::filesystem::remove(path_ + "-seq");
  auto r = OpenSqliteRegistry(path_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->Recover()->agents.size(), 3u);
}

}  // namespace
}  // namespace corral
