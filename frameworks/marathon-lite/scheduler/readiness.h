// Readiness checks: HTTP(S) GETs that marathon-lite itself makes to a new
// task (Marathon runs them in the scheduler, not on the agent), on a few
// threads of their own so that a slow task never holds the service's loop.
//
// Threading: Check() from any thread; `done` runs on a checker thread and
// should only post to its owner.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace corral::marathon {

class ReadinessChecker {
 public:
  explicit ReadinessChecker(int threads = 4);
  ~ReadinessChecker();  // drops what is queued, finishes what runs

  // GET `url` within `timeout_seconds`; `done(status)` with the HTTP status,
  // or 0 when there was no answer.
  void Check(std::string url, double timeout_seconds, std::function<void(int status)> done);

 private:
  struct Job {
    std::string url;
    double timeout;
    std::function<void(int)> done;
  };
  void Run();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace corral::marathon
