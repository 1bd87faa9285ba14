// corral-fetcher: started by the agent as the task's user, in the task's
// sandbox, before the task. Reads the URIs from $CORRAL_FETCHER_INFO (a
// CommandInfo in protobuf's JSON form) and the cache directory from argv[1].
// On failure its last line on stderr, "corral-fetcher: <why>", is what the
// agent reports in the task's TASK_FAILED update.
#include <cstdio>
#include <cstdlib>
#include <string>

#include <google/protobuf/util/json_util.h>

#include "corral/fetcher/fetcher.h"

int main(int argc, char** argv) {
  const char* info = std::getenv("CORRAL_FETCHER_INFO");
  corral::v1::CommandInfo command;
  if (info == nullptr || !google::protobuf::util::JsonStringToMessage(info, &command).ok()) {
    std::fprintf(stderr, "corral-fetcher: CORRAL_FETCHER_INFO is missing or is not a CommandInfo in JSON\n");
    return 2;
  }
  corral::fetcher::FetchOptions options;
  options.sandbox = ".";
  if (argc > 1) options.cache_dir = argv[1];
  absl::Status s = corral::fetcher::FetchAll(command, options);
  if (!s.ok()) {
    std::fprintf(stderr, "corral-fetcher: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  for (const auto& uri : command.uris()) std::fprintf(stderr, "corral-fetcher: fetched %s\n", uri.value().c_str());
  return 0;
}
