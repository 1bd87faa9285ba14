// libFuzzer: the JSON decoder for scheduler and operator calls, then the
// master's validation, must reject bad input with an error, never crash.
#include <cstddef>
#include <cstdint>
#include <string>

#include "corral/master/validation.h"
#include "corral/v1/master.pb.h"
#include "corral/v1/scheduler.pb.h"
#include "google/protobuf/util/json_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string input(reinterpret_cast<const char*>(data), size);
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;  // as the HTTP API parses
  corral::v1::scheduler::Call call;
  if (google::protobuf::util::JsonStringToMessage(input, &call, options).ok()) {
    if (call.type() == corral::v1::scheduler::Call::SUBSCRIBE) {
      (void)corral::validation::ValidateSubscribe(call);
    } else {
      (void)corral::validation::ValidateCall(call);
    }
    std::string json;
    (void)google::protobuf::util::MessageToJsonString(call, &json);
  }
  corral::v1::master::Call op;
  (void)google::protobuf::util::JsonStringToMessage(input, &op, options);
  corral::v1::scheduler::Call binary;
  (void)binary.ParseFromString(input);
  return 0;
}
