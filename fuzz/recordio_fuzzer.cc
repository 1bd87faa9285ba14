// libFuzzer: the RecordIO reader must never crash, must find the same
// records however the bytes are split, and its records must survive being
// framed and read again.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "corral/http/recordio.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string input(reinterpret_cast<const char*>(data), size);
  corral::http::RecordIOReader whole(1 << 20);
  std::vector<std::string> records;
  absl::Status st = whole.Feed(input, &records);
  // Fed byte by byte, the reader finds the same records and the same verdict.
  corral::http::RecordIOReader bytewise(1 << 20);
  std::vector<std::string> again;
  absl::Status st2;
  for (char c : input) {
    st2 = bytewise.Feed(std::string(1, c), &again);
    if (!st2.ok()) break;
  }
  if (st.ok() != st2.ok()) __builtin_trap();
  if (st.ok()) {
    if (records != again) __builtin_trap();
    // Framed again and read back, the records come out unchanged.
    std::string framed;
    for (const auto& r : records) framed += corral::http::RecordIOFrame(r);
    corral::http::RecordIOReader reread(1 << 20);
    std::vector<std::string> back;
    if (!reread.Feed(framed, &back).ok() || back != records || reread.partial()) __builtin_trap();
  }
  return 0;
}
