// batch's HTTP APIs over the Service: Metronome's (/v1/jobs, /ping, /info,
// /v1/metrics) and Chronos's (/v1/scheduler/..., /metrics), one view of the
// same jobs, plus Prometheus text at /metrics for a scraper (Accept:
// text/plain). Runs on the HTTP server's I/O threads; the Service does the
// rest on its loop.
#pragma once

#include <string>

#include "corral/http/server.h"
#include "scheduler/service.h"

namespace corral::batch {

struct RestOptions {
  std::string leader;  // this instance's host:port, for /leader
  std::string master;
  std::string framework_name = "batch";
};

http::Handler MakeRestHandler(Service* service, RestOptions options);

}  // namespace corral::batch
