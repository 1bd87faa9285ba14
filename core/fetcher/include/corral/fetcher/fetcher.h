// The fetcher: puts a task's CommandInfo.uris into its sandbox before the
// task starts, as Mesos's fetcher does.
//
// It runs in a process of its own (corral-fetcher), started by the agent as
// the task's user in the task's sandbox, so that a slow download never holds
// up the agent and files are owned by whoever runs the task. Each URI is
//   http:// or https://   downloaded (libcurl; redirects followed; an HTTP
//                         status of 400 or more is a failure)
//   file:///path, /path   copied from this machine
// and then, per the URI's fields:
//   output_file  the name in the sandbox (default: the URI's last path part)
//   executable   made executable (0755), never extracted
//   extract      (default true) .tar, .tar.gz/.tgz, .tar.xz/.txz,
//                .tar.bz2/.tbz2 and .zip archives are unpacked into the
//                sandbox (libarchive; entries that would land outside it are
//                refused)
//   cache        kept in the agent's cache directory, keyed by the URI, and
//                copied from there by later fetches
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "corral/v1/corral.pb.h"

namespace corral::fetcher {

struct FetchOptions {
  std::string sandbox;        // where the files go
  std::string cache_dir;      // empty: URIs with `cache` are fetched each time
  double stall_timeout = 60;  // seconds a download may make no progress
};

// Fetches every URI of `command`; the error names the URI and what failed.
absl::Status FetchAll(const v1::CommandInfo& command, const FetchOptions& options);

// One URI. Exposed for tests.
absl::Status FetchUri(const v1::CommandInfo::URI& uri, const FetchOptions& options);

// The name a URI gets in the sandbox, or an error if it has none usable.
absl::StatusOr<std::string> OutputName(const v1::CommandInfo::URI& uri);

}  // namespace corral::fetcher
