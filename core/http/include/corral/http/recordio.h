// RecordIO, as Mesos frames its streams: each record is its length in
// decimal ASCII, a newline, then that many bytes.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace corral::http {

std::string RecordIOFrame(absl::string_view record);

// Incremental reader: feed bytes as they arrive, take whole records out.
class RecordIOReader {
 public:
  explicit RecordIOReader(size_t max_record = 64 << 20) : max_record_(max_record) {}
  // Appends the records completed by `data`. An error (a length that is not
  // a number, or larger than the limit) is final: the stream is corrupt.
  absl::Status Feed(absl::string_view data, std::vector<std::string>* records);
  // Bytes of an unfinished record are waiting.
  bool partial() const { return !buffer_.empty(); }

 private:
  size_t max_record_;
  std::string buffer_;
  absl::Status error_;
};

}  // namespace corral::http
