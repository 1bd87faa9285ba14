#include "corral/common/work_dir_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace corral {

absl::StatusOr<std::unique_ptr<WorkDirLock>> WorkDirLock::Acquire(const std::string& dir, const std::string& daemon) {
  std::string path = dir + "/lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) { return absl::FailedPreconditionError(absl::StrCat("cannot open ", path, ": ", std::strerror(errno))); }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int error = errno;
    char buf[32] = {0};
    ssize_t n = ::pread(fd, buf, sizeof(buf) - 1, 0);
    ::close(fd);
    if (error != EWOULDBLOCK) {
      return absl::FailedPreconditionError(absl::StrCat("cannot lock ", path, ": ", std::strerror(error)));
    }
    std::string holder(buf, n > 0 ? n : 0);
    absl::StripAsciiWhitespace(&holder);
    return absl::FailedPreconditionError(
        absl::StrCat("--work_dir ", dir, " is in use by another ", daemon,
                     holder.empty() ? std::string() : absl::StrCat(" (pid ", holder, ")"),
                     "; each daemon needs a work dir of its own"));
  }
  // Without the pid the lock still holds; only a second daemon's message is poorer.
  std::string pid = absl::StrCat(::getpid(), "\n");
  if (::ftruncate(fd, 0) == 0) (void)!::pwrite(fd, pid.data(), pid.size(), 0);
  return std::unique_ptr<WorkDirLock>(new WorkDirLock(fd));
}

WorkDirLock::~WorkDirLock() { ::close(fd_); }

}  // namespace corral
