// Reading sandboxes for the agent's /files endpoints and its LIST_FILES and
// READ_FILE calls, confined to the sandboxes: a path that names anything
// outside one (by "..", by a symlink out of it, or by being elsewhere) is
// refused, never served.
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

// The real path of `path`, an absolute path as the agent's /state gives a
// sandbox ("directory") or a file below it. InvalidArgument for an empty or
// relative path, PermissionDenied when it (or what its symlinks lead to) is
// outside every one of `sandboxes`, NotFound when it does not exist.
absl::StatusOr<std::string> Resolve(const std::vector<std::string>& sandboxes, const std::string& path);

// `ls -l` of a resolved directory (or of one file), each entry's path shown
// under `shown` (the path the client asked for).
absl::StatusOr<std::vector<v1::FileInfo>> List(const std::string& real, const std::string& shown);

// Up to `length` bytes (at most kMaxReadLength) of a resolved file from
// `offset`, and the file's size; nothing past the end.
absl::StatusOr<std::pair<std::string, uint64_t>> Read(const std::string& real, uint64_t offset, uint64_t length);

// "drwxr-xr-x", as `ls -l` prints a mode.
std::string ModeString(uint32_t mode);

}  // namespace corral::sandbox_files
