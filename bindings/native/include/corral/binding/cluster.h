// The in-process LocalCluster for the languages' testing helpers, over the
// same plain types as drivers.h. A separate library (corral_binding_testing)
// so that a framework never loads master or agent code unless its tests ask
// for a cluster.
//
// Threading: one thread at a time per Cluster (the languages' wrappers
// serialize calls); every method blocks until done.
#pragma once

#include <memory>
#include <string>

#include "corral/binding/drivers.h"

namespace corral {
class LocalCluster;
}

namespace corral::binding {

struct ClusterOptions {
  int agents = 2;
  std::string resources;  // each agent's; empty = LocalCluster's default
  std::string work_dir;   // empty = a new temporary directory
  bool keep_work_dir = false;
  std::string launcher_dir;  // where corral-default-executor and the other helpers are
  bool cgroups = false;
  double offer_timeout = 0;  // seconds; 0 = never
  double allocation_interval = 1.0;
  double agent_ping_timeout = 15;
  int max_agent_ping_timeouts = 5;
  std::string log_level = "warning";  // debug, info, warning or error
  // TLS on the master's and the agents' ports (their --ssl_* flags), for
  // testing clients over TLS; empty tls_cert_file: off.
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_ca_file;
  bool tls_require_cert = false;
};

class Cluster {
 public:
  Cluster();
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  // Starts the master and agents; an error names the bad option.
  Result Start(const ClusterOptions& options);
  bool running() const;
  std::string master() const;  // "127.0.0.1:port"
  std::string work_dir() const;
  int agent_count() const;
  Result WaitForAgents(double timeout_seconds);
  // Starts one more agent; on success `index` is its number.
  Result AddAgent(const std::string& resources, int* index);
  Result StopAgent(int index);
  // The master's state, a serialized v1.internal.ClusterState.
  Result State(std::string* out);
  void Shutdown();

 private:
  std::unique_ptr<LocalCluster> cluster_;
};

// The state of the master at `address` (a serialized
// v1.internal.ClusterState), read over gRPC.
Result MasterState(const std::string& address, double timeout_seconds, std::string* out);

}  // namespace corral::binding
