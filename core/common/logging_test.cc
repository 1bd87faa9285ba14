#include "corral/common/logging.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

namespace corral {
namespace {

// What the logging writes to stderr while `fn` runs.
std::string CaptureStderr(const std::function<void()>& fn) {
  std::fflush(stderr);
  char path[] = "/tmp/corral-logging-XXXXXX";
  int file = ::mkstemp(path);
  int saved = ::dup(2);
  ::dup2(file, 2);
  fn();
  std::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  ::close(file);
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  ::unlink(path);
  return ss.str();
}

size_t Lines(const std::string& text, const std::string& containing) {
  size_t n = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) n += line.find(containing) != std::string::npos;
  return n;
}

TEST(Logging, ALineRepeatedInALoopIsLimitedAndTheDropsAreCounted) {
  double now = 1000;
  SetLogClockForTesting([&] { return now; });
  auto flood = [](int n) {
    for (int i = 0; i < n; ++i) CORRAL_LOG(WARNING) << "stream fell behind, closing it (" << i << ")";
  };
  std::string first = CaptureStderr([&] { flood(100000); });
  EXPECT_EQ(Lines(first, "stream fell behind"), static_cast<size_t>(kLogBurst));
  // Another site is not held back by the first.
  std::string other = CaptureStderr([] { CORRAL_LOG(INFO) << "something else"; });
  EXPECT_EQ(Lines(other, "something else"), 1u);
  // A second later: kLogPerSecond more lines, the first of them counting
  // what was dropped.
  now += 1;
  std::string later = CaptureStderr([&] { flood(1000); });
  EXPECT_EQ(Lines(later, "stream fell behind"), static_cast<size_t>(kLogPerSecond));
  EXPECT_EQ(Lines(later, "[99900 more lines like this were dropped]"), 1u) << later.substr(0, 300);
  SetLogClockForTesting(
      [] { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); });
}

}  // namespace
}  // namespace corral
