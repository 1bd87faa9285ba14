// Reading sandboxes for the agent's /files endpoints, its LIST_FILES and
// READ_FILE calls and the CLI's ReadFile, confined to the sandboxes: a path
// that names anything outside one (by "..", by a symlink, or by being
// elsewhere) is refused, never served.
//
// Paths are never checked and then opened: a file is reached from its
// sandbox's own directory one component at a time (openat with O_NOFOLLOW),
// so a task that swaps a directory of its sandbox for a symlink to /etc
// while the agent reads cannot make the agent (root) serve /etc/shadow. No
// symlink inside a sandbox is followed, even one that points inside it.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "corral/v1/corral.pb.h"

namespace corral::sandbox_files {

// The most one read returns, as Mesos caps it: 16 pages.
inline constexpr uint64_t kMaxReadLength = 16 * 4096;

// A regular file or a directory of a sandbox, open for reading. Move-only;
// closes its descriptor when destroyed.
class OpenFile {
 public:
  OpenFile(int fd, bool directory, std::string name) : fd_(fd), directory_(directory), name_(std::move(name)) {}
  OpenFile(OpenFile&& other) noexcept;
  OpenFile& operator=(OpenFile&& other) noexcept;
  OpenFile(const OpenFile&) = delete;
  OpenFile& operator=(const OpenFile&) = delete;
  ~OpenFile();

  int fd() const { return fd_; }
  bool directory() const { return directory_; }
  const std::string& name() const { return name_; }  // the last component
  // Gives the descriptor up to the caller, who closes it.
  int Release();

 private:
  int fd_;
  bool directory_;
  std::string name_;
};

// Opens `path`, an absolute path as the agent's /state gives a sandbox
// ("directory") or a file below it. InvalidArgument for an empty or relative
// path; PermissionDenied when it is outside every one of `sandboxes`, passes
// through a symlink, or names something that is neither a regular file nor a
// directory; NotFound when it does not exist.
absl::StatusOr<OpenFile> Open(const std::vector<std::string>& sandboxes, const std::string& path);

// The index in `sandboxes` of the innermost one `path` names (as Open picks
// it, by the path's text alone), or -1 where none does or the path is not
// one Open takes.
int Innermost(const std::vector<std::string>& sandboxes, const std::string& path);

// `ls -l` of an open directory (or of one file), each entry's path shown
// under `shown` (the path the client asked for).
absl::StatusOr<std::vector<v1::FileInfo>> List(const OpenFile& file, const std::string& shown);

// Up to `length` bytes (at most kMaxReadLength) of an open file from
// `offset`, and the file's size; nothing past the end.
absl::StatusOr<std::pair<std::string, uint64_t>> Read(const OpenFile& file, uint64_t offset, uint64_t length);

// "drwxr-xr-x", as `ls -l` prints a mode.
std::string ModeString(uint32_t mode);

}  // namespace corral::sandbox_files
