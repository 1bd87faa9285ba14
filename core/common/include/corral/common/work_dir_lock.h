// An exclusive lock on a daemon's work directory, held while it runs: two
// masters writing one registry, or two agents recovering one set of
// checkpoints, would each corrupt what the other relies on.
//
// The lock is flock(2) on <dir>/lock, which also holds the owner's pid for
// the message a second daemon gets. The kernel drops it when the owner
// exits, however it exits (kill -9 included); processes the daemon starts
// do not inherit it.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace corral {

class WorkDirLock {
 public:
  // Takes the lock on `dir` (which must exist) for `daemon` ("corral-master").
  // FailedPrecondition, naming the directory and the holder's pid, when
  // another process (or another daemon in this one) holds it.
  static absl::StatusOr<std::unique_ptr<WorkDirLock>> Acquire(const std::string& dir, const std::string& daemon);
  ~WorkDirLock();

  WorkDirLock(const WorkDirLock&) = delete;
  WorkDirLock& operator=(const WorkDirLock&) = delete;

 private:
  explicit WorkDirLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace corral
