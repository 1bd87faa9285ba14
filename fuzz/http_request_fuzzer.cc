// libFuzzer: raw bytes as one HTTP request, parsed as the server parses
// them and handed to the master's HTTP API (scheduler, operator and state
// endpoints) on a live in-memory master. Nothing may crash, and every
// request gets exactly one answer.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "corral/http/server.h"
#include "corral/master/master.h"
#include "corral/master/master_http.h"

namespace {

class CountingStream : public corral::http::ResponseStream {
 public:
  bool Write(std::string) override { return true; }
  void Close() override {}
  void OnClosed(std::function<void()> callback) override { callback(); }
};

class Answer : public corral::http::Responder {
 public:
  int answers = 0;
  void Reply(corral::http::Response) override { ++answers; }
  void SendFile(corral::http::Response, int fd, uint64_t) override {
    ::close(fd);
    ++answers;
  }
  std::shared_ptr<corral::http::ResponseStream> Stream(int, std::string,
                                                       std::vector<std::pair<std::string, std::string>>) override {
    ++answers;
    return std::make_shared<CountingStream>();
  }
};

corral::Master& TheMaster() {
  static corral::Master* master = [] {
    corral::MasterOptions options;
    options.allocation_interval = 3600;
    options.heartbeat_interval = 3600;
    return new corral::Master(options);
  }();
  return *master;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  corral::RequestLimits limits;  // the daemons' defaults, but a smaller body
  limits.max_body_bytes = 1 << 20;
  auto request = corral::http::ParseRequest(std::string(reinterpret_cast<const char*>(data), size), limits);
  if (!request.ok()) return 0;
  static corral::MasterHttpApi api(&TheMaster());
  Answer answer;
  api.Handle(*request, answer);
  if (answer.answers != 1) __builtin_trap();
  return 0;
}
