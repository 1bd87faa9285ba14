#include "corral/agent/checkpoint.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "corral/v1/internal.pb.h"

namespace corral {
namespace {

class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/corral-ckpt-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(CheckpointTest, RoundTrips) {
  v1::internal::ContainerCheckpoint c;
  c.set_container_id("c1");
  c.set_pid(1234);
  std::string path = dir_ + "/c1";
  ASSERT_TRUE(WriteCheckpointFile(path, c, true).ok());
  v1::internal::ContainerCheckpoint back;
  ASSERT_TRUE(ReadCheckpointFile(path, &back).ok());
  EXPECT_EQ(back.container_id(), "c1");
  EXPECT_EQ(back.pid(), 1234);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST_F(CheckpointTest, MissingIsNotFound) {
  v1::internal::ContainerCheckpoint c;
  EXPECT_EQ(ReadCheckpointFile(dir_ + "/none", &c).code(), absl::StatusCode::kNotFound);
}

TEST_F(CheckpointTest, TruncatedAndDamagedFilesAreRefusedByName) {
  v1::internal::TaskCheckpoint t;
  t.mutable_info()->set_name(std::string(200, 'x'));
  std::string path = dir_ + "/task";
  ASSERT_TRUE(WriteCheckpointFile(path, t, false).ok());
  auto size = std::filesystem::file_size(path);

  std::filesystem::resize_file(path, size - 10);
  v1::internal::TaskCheckpoint back;
  absl::Status s = ReadCheckpointFile(path, &back);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(s.message().find(path), std::string::npos) << s;
  EXPECT_NE(s.message().find("truncated"), std::string::npos) << s;

  ASSERT_TRUE(WriteCheckpointFile(path, t, false).ok());
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(size - 5));
    f.put('y');
  }
  s = ReadCheckpointFile(path, &back);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("checksum"), std::string::npos) << s;

  std::ofstream(path, std::ios::trunc) << "hello";
  s = ReadCheckpointFile(path, &back);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
}

TEST_F(CheckpointTest, NamesCannotEscapeTheirDirectory) {
  EXPECT_EQ(CheckpointName("task-1.a_b"), "task-1.a_b");
  EXPECT_EQ(CheckpointName("../x"), "%2E.%2Fx");
  EXPECT_EQ(CheckpointName("a/b c"), "a%2Fb%20c");
}

}  // namespace
}  // namespace corral
