#include "corral/http/recordio.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace corral::http {

std::string RecordIOFrame(absl::string_view record) { return absl::StrCat(record.size(), "\n", record); }

absl::Status RecordIOReader::Feed(absl::string_view data, std::vector<std::string>* records) {
  if (!error_.ok()) return error_;
  buffer_.append(data.data(), data.size());
  size_t pos = 0;
  while (pos < buffer_.size()) {
    size_t newline = buffer_.find('\n', pos);
    if (newline == std::string::npos) {
      // A length has at most 20 digits; more without a newline is garbage.
      if (buffer_.size() - pos > 20) {
        error_ = absl::DataLossError("RecordIO: record length is not followed by a newline");
      }
      break;
    }
    absl::string_view digits(buffer_.data() + pos, newline - pos);
    uint64_t length = 0;
    bool all_digits = !digits.empty() && digits.size() <= 20;
    for (char c : digits) all_digits = all_digits && c >= '0' && c <= '9';
    if (!all_digits || !absl::SimpleAtoi(digits, &length)) {
      error_ = absl::DataLossError(absl::StrCat("RecordIO: '", digits.substr(0, 32), "' is not a record length"));
      break;
    }
    if (length > max_record_) {
      error_ = absl::DataLossError(
          absl::StrCat("RecordIO: record of ", length, " bytes exceeds the limit of ", max_record_));
      break;
    }
    if (buffer_.size() - newline - 1 < length) break;  // record incomplete
    records->emplace_back(buffer_, newline + 1, length);
    pos = newline + 1 + length;
  }
  buffer_.erase(0, pos);
  if (!error_.ok()) buffer_.clear();
  return error_;
}

}  // namespace corral::http
