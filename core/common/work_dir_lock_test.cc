#include "corral/common/work_dir_lock.h"

#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

namespace corral {
namespace {

TEST(WorkDirLock, ASecondHolderIsRefusedWithTheFirstOnesPid) {
  char tmpl[] = "/tmp/corral-lock-XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  {
    auto first = WorkDirLock::Acquire(dir, "corral-agent");
    ASSERT_TRUE(first.ok()) << first.status();
    auto second = WorkDirLock::Acquire(dir, "corral-agent");
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.status().message(), "--work_dir " + dir + " is in use by another corral-agent (pid " +
                                             std::to_string(::getpid()) + "); each daemon needs a work dir of its own");
  }
  // Released with its holder.
  EXPECT_TRUE(WorkDirLock::Acquire(dir, "corral-agent").ok());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace corral
