// High availability for the bundled frameworks (--zk): several instances
// elected through ZooKeeper, as Marathon and Chronos ran. Each instance
// publishes its REST address in an ephemeral sequential node
// `<path>/leader/member_NNNNNNNNNN`; the smallest leads. Until elected an
// instance stands by on its REST port:
//   /ping                  pong
//   leader paths           {"leader": "host:port"} (404 while none leads)
//   redirect paths         307 to the same path and query on the leader
//                          (streams: an event stream is not proxied)
//   everything else        proxied to the leader, as Marathon's and
//                          Chronos's standbys do: the method, path, query,
//                          headers and body go on, the leader's answer
//                          comes back (503 while none leads, 502 when the
//                          leader cannot be reached)
// The leader keeps its state under `<path>/state`, writes guarded by its
// own member node (see the frameworks' ZooKeeper stores).
#pragma once

#include <signal.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "corral/zookeeper/leader.h"

namespace corral::framework {

struct ElectionOptions {
  std::string program;                      // for log lines
  std::string zk;                           // zk://host:port[,...]/path
  double session_timeout = 10;              // seconds
  std::string http_address = "127.0.0.1";   // where the REST API listens
  int http_port = 0;                        // 0 picks one
  std::vector<std::string> leader_paths;    // "/v2/leader" (Marathon), "/leader" (Chronos)
  std::vector<std::string> redirect_paths;  // answered with a 307 instead of proxied ("/v2/events")
  std::string leader_header;                // set on proxied answers to http://leader ("X-Marathon-Leader")
  double proxy_timeout = 30;                // seconds the leader has to answer a proxied request
};

struct Elected {
  std::unique_ptr<zk::LeaderContender> contender;  // keep it: leadership lasts as long as it
  std::string self;                                // "host:port" of this instance's REST API
  int http_port = 0;                               // the port to serve the REST API on
  std::string state_path;                          // `<path>/state`, for the store
};

// Stands by until this instance is elected (the result), or until one of
// `stop`'s signals arrives (nullopt). A leader that loses ZooKeeper later
// exits the process at once (status 1): it cannot tell whether another
// instance leads, and its supervisor starts it again as a standby.
absl::StatusOr<std::optional<Elected>> StandByUntilElected(const ElectionOptions& options, const sigset_t& stop);

}  // namespace corral::framework
