#include "corral/common/logging.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <algorithm>
#include <map>
#include <mutex>
#include <utility>

namespace corral {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};

struct Site {
  double tokens = kLogBurst;
  double refilled_at = 0;
  uint64_t dropped = 0;
};

struct Limiter {
  std::mutex mu;
  std::map<std::pair<const char*, int>, Site> sites;  // __FILE__ is one literal per file
  std::function<double()> now = [] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  };
};

Limiter& TheLimiter() {
  static Limiter* limiter = new Limiter();  // used until the process ends
  return *limiter;
}

}  // namespace

bool LogSiteAllows(const char* file, int line) {
  Limiter& l = TheLimiter();
  std::lock_guard<std::mutex> lock(l.mu);
  double now = l.now();
  auto [it, added] = l.sites.try_emplace({file, line});
  Site& site = it->second;
  if (added) site.refilled_at = now;
  site.tokens = std::min<double>(kLogBurst, site.tokens + (now - site.refilled_at) * kLogPerSecond);
  site.refilled_at = now;
  if (site.tokens < 1) {
    ++site.dropped;
    return false;
  }
  site.tokens -= 1;
  return true;
}

void SetLogClockForTesting(std::function<double()> now) {
  Limiter& l = TheLimiter();
  std::lock_guard<std::mutex> lock(l.mu);
  l.now = std::move(now);
  l.sites.clear();
}

namespace {
uint64_t TakeDropped(const char* file, int line) {
  Limiter& l = TheLimiter();
  std::lock_guard<std::mutex> lock(l.mu);
  auto it = l.sites.find({file, line});
  if (it == l.sites.end()) return 0;
  return std::exchange(it->second.dropped, 0);
}
}  // namespace

void SetLogLevel(LogLevel level) { g_level = static_cast<int>(level); }
LogLevel GetLogLevel() { return static_cast<LogLevel>(g_level.load()); }

bool ParseLogLevel(const std::string& text, LogLevel* out) {
  if (text == "debug")
    *out = LogLevel::kDebug;
  else if (text == "info")
    *out = LogLevel::kInfo;
  else if (text == "warning")
    *out = LogLevel::kWarning;
  else if (text == "error")
    *out = LogLevel::kError;
  else
    return false;
  return true;
}

LogMessage::LogMessage(LogLevel level, const char* file, int line) : level_(level), dropped_(TakeDropped(file, line)) {
  static const char kTag[] = {'D', 'I', 'W', 'E'};
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  int ms =
      static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%H:%M:%S", &tm);
  const char* base = std::strrchr(file, '/');
  stream_ << kTag[static_cast<int>(level)] << " " << buf << "." << ms / 100 << (ms / 10) % 10 << ms % 10 << " "
          << (base ? base + 1 : file) << ":" << line << "] ";
}

LogMessage::~LogMessage() {
  if (dropped_ > 0) stream_ << " [" << dropped_ << " more lines like this were dropped]";
  stream_ << "\n";
  std::string s = stream_.str();
  std::fwrite(s.data(), 1, s.size(), stderr);
  (void)level_;
}

}  // namespace corral
