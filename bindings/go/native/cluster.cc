#include "corral/go/cluster.h"

#include <dlfcn.h>

#include <filesystem>

#include "corral/binding/cluster.h"

namespace corral::gobinding {

Cluster::Cluster() : cluster_(std::make_unique<binding::Cluster>()) {}
Cluster::~Cluster() = default;

std::string DefaultLauncherDir() {
  // The library is laid out as <dir>/lib/libcorral_go_testing.so with the
  // helpers in <dir>/bin, in the build tree and once installed alike.
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&DefaultLauncherDir), &info) == 0 || info.dli_fname == nullptr) return "";
  std::error_code ec;
  auto lib = std::filesystem::canonical(info.dli_fname, ec);
  if (ec) return "";
  return (lib.parent_path().parent_path() / "bin").string();
}

int Cluster::Start(int agents, const std::string& resources, const std::string& work_dir,
                   const std::string& launcher_dir, double offer_timeout, double allocation_interval,
                   const std::string& log_level, std::string* message) {
  binding::ClusterOptions o;
  o.agents = agents;
  o.resources = resources;
  o.work_dir = work_dir;
  o.launcher_dir = launcher_dir.empty() ? DefaultLauncherDir() : launcher_dir;
  o.offer_timeout = offer_timeout;
  o.allocation_interval = allocation_interval;
  o.log_level = log_level;
  o.tls_cert_file = tls_[0];
  o.tls_key_file = tls_[1];
  o.tls_ca_file = tls_[2];
  o.tls_require_cert = tls_require_cert_;
  auto r = cluster_->Start(o);
  *message = r.message;
  return r.code;
}

void Cluster::SetTls(const std::string& cert_file, const std::string& key_file, const std::string& ca_file,
                     bool require_cert) {
  tls_[0] = cert_file;
  tls_[1] = key_file;
  tls_[2] = ca_file;
  tls_require_cert_ = require_cert;
}

std::string Cluster::Master() { return cluster_->master(); }
std::string Cluster::WorkDir() { return cluster_->work_dir(); }
int Cluster::AgentCount() { return cluster_->agent_count(); }

int Cluster::WaitForAgents(double timeout_seconds, std::string* message) {
  auto r = cluster_->WaitForAgents(timeout_seconds);
  *message = r.message;
  return r.code;
}

int Cluster::AddAgent(const std::string& resources, std::string* message) {
  int index = -1;
  auto r = cluster_->AddAgent(resources, &index);
  *message = r.message;
  return r.ok() ? index : -1;
}

int Cluster::StopAgent(int index, std::string* message) {
  auto r = cluster_->StopAgent(index);
  *message = r.message;
  return r.code;
}

int Cluster::State(std::string* state, std::string* message) {
  auto r = cluster_->State(state);
  *message = r.message;
  return r.code;
}

void Cluster::Shutdown() { cluster_->Shutdown(); }

}  // namespace corral::gobinding
