// The Go SDK's in-process cluster (corraltest), over binding::Cluster in
// the same plain types as drivers.h. Linked only by corraltest, so that a
// framework never links master or agent code unless its tests ask for it.
//
// Threading: one goroutine at a time per Cluster (corraltest serializes).
#pragma once

#include <memory>
#include <string>

namespace corral::binding {
class Cluster;
}

namespace corral::gobinding {

class Cluster {
 public:
  Cluster();
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  // `launcher_dir` empty: the helpers installed beside this library (../bin).
  int Start(int agents, const std::string& resources, const std::string& work_dir, const std::string& launcher_dir,
            double offer_timeout, double allocation_interval, const std::string& log_level, std::string* message);
  // TLS on the master's and agents' ports, for the next Start; empty
  // cert_file: off.
  void SetTls(const std::string& cert_file, const std::string& key_file, const std::string& ca_file, bool require_cert);
  std::string Master();
  std::string WorkDir();
  int AgentCount();
  int WaitForAgents(double timeout_seconds, std::string* message);
  // On success the new agent's index; else -1 and *message.
  int AddAgent(const std::string& resources, std::string* message);
  int StopAgent(int index, std::string* message);
  // *state: a serialized v1.internal.ClusterState.
  int State(std::string* state, std::string* message);
  void Shutdown();

 private:
  std::unique_ptr<binding::Cluster> cluster_;
  std::string tls_[3];
  bool tls_require_cert_ = false;
};

// Where corral-default-executor and the other helpers are looked for.
std::string DefaultLauncherDir();

}  // namespace corral::gobinding
