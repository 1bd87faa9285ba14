// Small files that must survive a crash: written whole to a temporary file,
// synced, then renamed over the old one, so a reader sees the old or the new
// contents and never a mix. Each file carries its length and a CRC-32 of its
// contents, so a truncated or damaged file is refused rather than half read.
#pragma once

#include <string>

#include <google/protobuf/message_lite.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace corral {

// The bytes of a checkpoint file holding `message`.
std::string EncodeCheckpoint(const google::protobuf::MessageLite& message);

// Creates or truncates `path` and writes all of `data` to it; with
// `datasync`, fdatasyncs it too. On failure the file is removed.
absl::Status WriteWholeFile(const std::string& path, const std::string& data, bool datasync);

// `sync`: fsync the file before the rename (and the directory after), for
// state that must outlive the machine, not just the process.
absl::Status WriteCheckpointFile(const std::string& path, const google::protobuf::MessageLite& message, bool sync);

// NotFound if there is no file; DataLoss, naming the file and what is wrong
// with it, if it is truncated, damaged, or not a checkpoint.
absl::Status ReadCheckpointFile(const std::string& path, google::protobuf::MessageLite* message);

// An ID as a file name: [A-Za-z0-9._-] kept, anything else (and a leading
// '.') as %XX, so no ID can name another directory.
std::string CheckpointName(absl::string_view id);

}  // namespace corral
