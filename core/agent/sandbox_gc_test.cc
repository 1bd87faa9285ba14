#include "corral/agent/sandbox_gc.h"

#include <gtest/gtest.h>

namespace corral {
namespace {

TEST(SandboxMaxAge, ShrinksAsTheDiskFillsAndIsZeroPastTheHeadroom) {
  const double week = 7 * 24 * 3600.0;
  EXPECT_DOUBLE_EQ(SandboxMaxAge(week, 0.1, 0.0), 0.9 * week);
  EXPECT_DOUBLE_EQ(SandboxMaxAge(week, 0.1, 0.5), 0.4 * week);
  EXPECT_DOUBLE_EQ(SandboxMaxAge(week, 0.1, 0.9), 0.0);
  EXPECT_DOUBLE_EQ(SandboxMaxAge(week, 0.1, 0.97), 0.0);  // past the headroom: remove every finished one
  EXPECT_DOUBLE_EQ(SandboxMaxAge(0, 0.1, 0.2), 0.0);
}

}  // namespace
}  // namespace corral
