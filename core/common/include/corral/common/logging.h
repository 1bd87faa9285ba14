// Minimal leveled logging to stderr: CORRAL_LOG(INFO) << "text";
#pragma once

#include <sstream>
#include <string>

namespace corral {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
// "debug", "info", "warning", "error"; false if unknown.
bool ParseLogLevel(const std::string& text, LogLevel* out);

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
  std::ostringstream stream_;
};

}  // namespace corral

#define CORRAL_LOG_DEBUG ::corral::LogLevel::kDebug
#define CORRAL_LOG_INFO ::corral::LogLevel::kInfo
#define CORRAL_LOG_WARNING ::corral::LogLevel::kWarning
#define CORRAL_LOG_ERROR ::corral::LogLevel::kError
// An expression, not an if-statement, so it is safe inside an unbraced if.
#define CORRAL_LOG(level)                                  \
  (CORRAL_LOG_##level < ::corral::GetLogLevel())           \
      ? (void)0                                            \
      : ::corral::LogVoidify() & ::corral::LogMessage(CORRAL_LOG_##level, __FILE__, __LINE__).stream()
