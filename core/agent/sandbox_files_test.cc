#include "corral/agent/sandbox_files.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

namespace corral::sandbox_files {
namespace {

namespace fs = std::filesystem;

class SandboxFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("sandbox_files_test." + std::to_string(::getpid()));
    fs::remove_all(root_);
    sandbox_ = root_ / "slaves/a/frameworks/f/executors/e/runs/c1";
    fs::create_directories(sandbox_ / "sub");
    fs::create_directories(root_ / "outside");
    std::ofstream(sandbox_ / "stdout") << "hello sandbox\n";
    std::ofstream(root_ / "outside/secret") << "secret\n";
    // A sibling whose name starts with the sandbox's: not inside it.
    fs::create_directories(root_ / "slaves/a/frameworks/f/executors/e/runs/c10");
    std::ofstream(root_ / "slaves/a/frameworks/f/executors/e/runs/c10/stdout") << "other\n";
    sandboxes_ = {sandbox_.string()};
  }
  void TearDown() override { fs::remove_all(root_); }

  fs::path root_, sandbox_;
  std::vector<std::string> sandboxes_;
};

TEST_F(SandboxFilesTest, OpensPathsInsideASandbox) {
  auto dir = Open(sandboxes_, sandbox_.string());
  ASSERT_TRUE(dir.ok()) << dir.status();
  EXPECT_TRUE(dir->directory());
  auto file = Open(sandboxes_, (sandbox_ / "stdout").string());
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_FALSE(file->directory());
  EXPECT_EQ(file->name(), "stdout");
  auto trailing = Open(sandboxes_, sandbox_.string() + "/sub/");
  EXPECT_TRUE(trailing.ok()) << trailing.status();
}

TEST_F(SandboxFilesTest, RefusesEverythingOutside) {
  auto dots = Open(sandboxes_, (sandbox_ / "../../../../../../../outside/secret").string());
  EXPECT_EQ(dots.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(dots.status().message().find(".."), std::string::npos);
  auto elsewhere = Open(sandboxes_, "/etc/passwd");
  EXPECT_EQ(elsewhere.status().code(), absl::StatusCode::kPermissionDenied);
  auto sibling = Open(sandboxes_, root_.string() + "/slaves/a/frameworks/f/executors/e/runs/c10/stdout");
  EXPECT_EQ(sibling.status().code(), absl::StatusCode::kPermissionDenied);
  auto relative = Open(sandboxes_, "stdout");
  EXPECT_EQ(relative.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Open(sandboxes_, "").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Open({}, sandbox_.string()).status().code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(SandboxFilesTest, NoSymlinkInsideASandboxIsFollowed) {
  fs::create_symlink(root_ / "outside/secret", sandbox_ / "link");
  fs::create_directory_symlink(root_ / "outside", sandbox_ / "dirlink");
  fs::create_symlink(sandbox_ / "stdout", sandbox_ / "inner");
  auto link = Open(sandboxes_, (sandbox_ / "link").string());
  EXPECT_EQ(link.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(link.status().message(),
            "'" + (sandbox_ / "link").string() + "' passes through a symlink, which the files API does not follow");
  EXPECT_EQ(Open(sandboxes_, (sandbox_ / "dirlink/secret").string()).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Open(sandboxes_, (sandbox_ / "inner").string()).status().code(), absl::StatusCode::kPermissionDenied);
  // Listed as what they are, not as what they point to.
  auto entries = List(*Open(sandboxes_, sandbox_.string()), "/shown");
  ASSERT_TRUE(entries.ok());
  for (const auto& e : *entries) {
    if (e.path() == "/shown/dirlink") EXPECT_EQ(ModeString(e.mode()).front(), 'l');
  }
}

TEST_F(SandboxFilesTest, AFifoIsNotOpened) {
  ASSERT_EQ(::mkfifo((sandbox_ / "pipe").c_str(), 0644), 0);
  auto fifo = Open(sandboxes_, (sandbox_ / "pipe").string());  // would block forever if it were opened for reading
  EXPECT_EQ(fifo.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(fifo.status().message(),
            "'" + (sandbox_ / "pipe").string() + "' is neither a regular file nor a directory");
}

// The race the files API must not lose: a task swaps a directory of its
// sandbox for a symlink to a directory outside it, over and over, while the
// agent reads. A check of the path followed by an open of the path serves
// the secret now and then; a walk of descriptors never does.
TEST_F(SandboxFilesTest, SwappingADirectoryForASymlinkMidReadServesNothingOutside) {
  fs::create_directories(sandbox_ / "logs");
  std::ofstream(sandbox_ / "logs/secret") << "not the secret\n";
  std::atomic<bool> stop{false};
  std::thread swapper([&] {
    fs::path real = sandbox_ / "logs", parked = sandbox_ / "logs.real", link = sandbox_ / "logs.link";
    std::error_code ec;
    fs::create_directory_symlink(root_ / "outside", link, ec);
    while (!stop) {
      ::rename(real.c_str(), parked.c_str());
      ::rename(link.c_str(), real.c_str());  // logs -> outside
      ::rename(real.c_str(), link.c_str());
      ::rename(parked.c_str(), real.c_str());  // logs is the directory again
    }
  });
  int served = 0, leaked = 0;
  for (int i = 0; i < 20000; ++i) {
    auto file = Open(sandboxes_, (sandbox_ / "logs/secret").string());
    if (!file.ok()) continue;
    auto got = Read(*file, 0, 0);
    if (!got.ok()) continue;
    ++served;
    if (got->first == "secret\n") ++leaked;
  }
  stop = true;
  swapper.join();
  EXPECT_EQ(leaked, 0);
  EXPECT_GT(served, 0);  // the real file was read whenever the directory was in place
}

TEST_F(SandboxFilesTest, SandboxesUnderASymlinkedWorkDirAreServed) {
  fs::create_directory_symlink(root_ / "slaves", root_ / "work");
  std::string linked = (root_ / "work/a/frameworks/f/executors/e/runs/c1").string();
  auto file = Open({linked}, linked + "/stdout");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(Read(*file, 0, 0)->first, "hello sandbox\n");
  fs::create_symlink(root_ / "outside/secret", sandbox_ / "link");
  EXPECT_EQ(Open({linked}, linked + "/link").status().code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(SandboxFilesTest, MissingFilesAreNotFound) {
  EXPECT_EQ(Open(sandboxes_, (sandbox_ / "nope").string()).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Open(sandboxes_, (sandbox_ / "nope/deeper").string()).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Open(sandboxes_, (sandbox_ / "stdout/deeper").string()).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SandboxFilesTest, ListsAndReadsInPages) {
  auto entries = List(*Open(sandboxes_, sandbox_.string()), "/shown");
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_EQ(entries->size(), 2u);
  EXPECT_EQ((*entries)[0].path(), "/shown/stdout");
  EXPECT_EQ((*entries)[0].size(), 14u);
  EXPECT_EQ((*entries)[1].path(), "/shown/sub");
  EXPECT_EQ(ModeString((*entries)[1].mode()).front(), 'd');
  auto one = List(*Open(sandboxes_, (sandbox_ / "stdout").string()), "/shown/stdout");
  ASSERT_TRUE(one.ok());
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ((*one)[0].size(), 14u);

  auto stdout_file = Open(sandboxes_, (sandbox_ / "stdout").string());
  ASSERT_TRUE(stdout_file.ok());
  auto all = Read(*stdout_file, 0, 0);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->first, "hello sandbox\n");
  EXPECT_EQ(all->second, 14u);
  auto page = Read(*stdout_file, 6, 7);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->first, "sandbox");
  auto past = Read(*stdout_file, 100, 10);
  ASSERT_TRUE(past.ok());
  EXPECT_EQ(past->first, "");
  EXPECT_EQ(past->second, 14u);
  EXPECT_EQ(Read(*Open(sandboxes_, sandbox_.string()), 0, 0).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ModeStringTest, PrintsLikeLs) {
  EXPECT_EQ(ModeString(S_IFDIR | 0755), "drwxr-xr-x");
  EXPECT_EQ(ModeString(S_IFREG | 0640), "-rw-r-----");
}

}  // namespace
}  // namespace corral::sandbox_files
