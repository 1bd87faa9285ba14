#include "corral/agent/sandbox_files.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

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

TEST_F(SandboxFilesTest, ResolvesPathsInsideASandbox) {
  auto dir = Resolve(sandboxes_, sandbox_.string());
  ASSERT_TRUE(dir.ok()) << dir.status();
  EXPECT_EQ(*dir, fs::canonical(sandbox_).string());
  auto file = Resolve(sandboxes_, (sandbox_ / "stdout").string());
  ASSERT_TRUE(file.ok()) << file.status();
  auto trailing = Resolve(sandboxes_, sandbox_.string() + "/sub/");
  EXPECT_TRUE(trailing.ok()) << trailing.status();
}

TEST_F(SandboxFilesTest, RefusesEverythingOutside) {
  auto dots = Resolve(sandboxes_, (sandbox_ / "../../../../../../../outside/secret").string());
  EXPECT_EQ(dots.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(dots.status().message().find(".."), std::string::npos);
  auto elsewhere = Resolve(sandboxes_, "/etc/passwd");
  EXPECT_EQ(elsewhere.status().code(), absl::StatusCode::kPermissionDenied);
  auto sibling = Resolve(sandboxes_, root_.string() + "/slaves/a/frameworks/f/executors/e/runs/c10/stdout");
  EXPECT_EQ(sibling.status().code(), absl::StatusCode::kPermissionDenied);
  auto relative = Resolve(sandboxes_, "stdout");
  EXPECT_EQ(relative.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Resolve(sandboxes_, "").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Resolve({}, sandbox_.string()).status().code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(SandboxFilesTest, SymlinksOutOfTheSandboxAreRefused) {
  fs::create_symlink(root_ / "outside/secret", sandbox_ / "link");
  fs::create_directory_symlink(root_ / "outside", sandbox_ / "dirlink");
  fs::create_symlink(sandbox_ / "stdout", sandbox_ / "inner");
  EXPECT_EQ(Resolve(sandboxes_, (sandbox_ / "link").string()).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Resolve(sandboxes_, (sandbox_ / "dirlink/secret").string()).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(Resolve(sandboxes_, (sandbox_ / "inner").string()).ok());
}

TEST_F(SandboxFilesTest, SandboxesUnderASymlinkedWorkDirAreServed) {
  fs::create_directory_symlink(root_ / "slaves", root_ / "work");
  std::string linked = (root_ / "work/a/frameworks/f/executors/e/runs/c1").string();
  auto file = Resolve({linked}, linked + "/stdout");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(*file, fs::canonical(sandbox_ / "stdout").string());
  fs::create_symlink(root_ / "outside/secret", sandbox_ / "link");
  EXPECT_EQ(Resolve({linked}, linked + "/link").status().code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(SandboxFilesTest, MissingFilesAreNotFound) {
  EXPECT_EQ(Resolve(sandboxes_, (sandbox_ / "nope").string()).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SandboxFilesTest, ListsAndReadsInPages) {
  auto entries = List(sandbox_.string(), "/shown");
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_EQ(entries->size(), 2u);
  EXPECT_EQ((*entries)[0].path(), "/shown/stdout");
  EXPECT_EQ((*entries)[0].size(), 14u);
  EXPECT_EQ((*entries)[1].path(), "/shown/sub");
  EXPECT_EQ(ModeString((*entries)[1].mode()).front(), 'd');

  auto all = Read((sandbox_ / "stdout").string(), 0, 0);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->first, "hello sandbox\n");
  EXPECT_EQ(all->second, 14u);
  auto page = Read((sandbox_ / "stdout").string(), 6, 7);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->first, "sandbox");
  auto past = Read((sandbox_ / "stdout").string(), 100, 10);
  ASSERT_TRUE(past.ok());
  EXPECT_EQ(past->first, "");
  EXPECT_EQ(past->second, 14u);
  EXPECT_EQ(Read(sandbox_.string(), 0, 0).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ModeStringTest, PrintsLikeLs) {
  EXPECT_EQ(ModeString(S_IFDIR | 0755), "drwxr-xr-x");
  EXPECT_EQ(ModeString(S_IFREG | 0640), "-rw-r-----");
}

}  // namespace
}  // namespace corral::sandbox_files
