// Minimal leveled logging to stderr: CORRAL_LOG(INFO) << "text";
//
// Each call site may write a burst of kLogBurst lines, then kLogPerSecond a
// second: a line repeated in a loop (a subscriber that never reads, a
// peer that keeps failing) cannot flood the log. The next line a site
// writes after some were dropped says how many.
#pragma once

#include <cstdint>
#include <functional>
#include <sstream>
#include <string>

namespace corral {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
// "debug", "info", "warning", "error"; false if unknown.
bool ParseLogLevel(const std::string& text, LogLevel* out);

inline constexpr int kLogBurst = 100;
inline constexpr double kLogPerSecond = 10;

// Whether the call site at file:line may write a line now (counts it).
bool LogSiteAllows(const char* file, int line);
// The clock of the limit, in seconds; tests advance their own.
void SetLogClockForTesting(std::function<double()> now);

// Turns the stream expression into void for CORRAL_LOG's conditional.
struct LogVoidify {
  void operator&(std::ostream&) {}
};

class LogMessage {
 public:
  LogMessage(LogLevel level, const char* file, int line);
  ~LogMessage();
  std::ostream& stream() { return stream_; }

 private:
  LogLevel level_;
  uint64_t dropped_ = 0;  // lines of this site dropped before this one
  std::ostringstream stream_;
};

}  // namespace corral

#define CORRAL_LOG_DEBUG ::corral::LogLevel::kDebug
#define CORRAL_LOG_INFO ::corral::LogLevel::kInfo
#define CORRAL_LOG_WARNING ::corral::LogLevel::kWarning
#define CORRAL_LOG_ERROR ::corral::LogLevel::kError
// An expression, not an if-statement, so it is safe inside an unbraced if.
#define CORRAL_LOG(level)                                                                        \
  (CORRAL_LOG_##level < ::corral::GetLogLevel() || !::corral::LogSiteAllows(__FILE__, __LINE__)) \
      ? (void)0                                                                                  \
      : ::corral::LogVoidify() & ::corral::LogMessage(CORRAL_LOG_##level, __FILE__, __LINE__).stream()
