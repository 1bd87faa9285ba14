// A whole cluster in one process: a master and N agents on loopback, with
// a temporary work directory. Used by the tests, `corral local`, and the
// SDKs' testing helpers. Tasks run as real processes.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "corral/agent/agent_server.h"
#include "corral/master/master_server.h"

namespace corral {

struct LocalClusterOptions {
  int agents = 2;
  std::string agent_resources = "cpus:4;mem:4096;disk:10240;ports:[31000-32000]";
  std::string listen_host = "127.0.0.1";
  int master_port = 0;         // 0 = any free port
  std::string work_dir;        // empty = a new temporary directory
  bool keep_work_dir = false;  // keep it after the cluster stops
  MasterOptions master;
  AgentOptions agent;  // template; master, work_dir and resources are set per agent
};

class LocalCluster {
 public:
  static absl::StatusOr<std::unique_ptr<LocalCluster>> Start(LocalClusterOptions options);
  ~LocalCluster();

  // "127.0.0.1:port" of the master's gRPC endpoint.
  std::string master_address() const { return master_->address(); }
  Master& master() { return master_->master(); }
  size_t agent_count() const { return agents_.size(); }
  Agent& agent(size_t i) { return agents_.at(i)->agent(); }
  const std::string& work_dir() const { return work_dir_; }

  // Waits until every agent has registered (or `timeout_seconds` passes).
  absl::Status WaitForAgents(double timeout_seconds = 10);
  // Starts another agent (with the template's hostname unless given);
  // returns its index.
  absl::StatusOr<size_t> AddAgent(const std::string& resources = "", const std::string& hostname = "");
  // Stops agent i (its tasks are killed), as if the machine went away.
  void StopAgent(size_t i);
  // Crashes agent i (nothing is killed or cleaned up, as with kill -9) and
  // starts a new one on the same work dir and port, which recovers it.
  // Returns once the new agent has recovered (not yet reregistered).
  absl::Status RestartAgent(size_t i);
  void Shutdown();

 private:
  LocalCluster() = default;
  LocalClusterOptions options_;
  std::string work_dir_;
  bool own_work_dir_ = false;
  std::unique_ptr<MasterServer> master_;
  std::vector<std::unique_ptr<AgentServer>> agents_;
  std::vector<std::string> agent_resources_;  // as given to each agent
  std::vector<std::string> agent_hostnames_;
};

}  // namespace corral
