// Marathon's REST API (/v2, Marathon 1.x shapes) over the Service: parses
// requests, validates them, and renders the answers. Runs on the HTTP
// server's I/O threads; the Service does the rest on its loop.
#pragma once

#include <string>

#include "corral/http/server.h"
#include "scheduler/service.h"

namespace corral::marathon {

struct RestOptions {
  std::string leader;  // this instance's host:port, for /v2/leader and /v2/info
  std::string master;
  std::string framework_name = "marathon";
  std::string role = "*";
  double failover_timeout = 7 * 24 * 3600.0;
};

http::Handler MakeRestHandler(Service* service, RestOptions options);

}  // namespace corral::marathon
