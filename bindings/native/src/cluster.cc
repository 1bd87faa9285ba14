#include "corral/binding/cluster.h"

#include <grpcpp/grpcpp.h>

#include <chrono>

#include "corral/common/logging.h"
#include "corral/local/local_cluster.h"
#include "corral/tls/tls_options.h"
#include "corral/v1/internal.grpc.pb.h"

namespace corral::binding {
namespace {

Result ToResult(const absl::Status& s) { return {static_cast<int>(s.code()), std::string(s.message())}; }
Result Invalid(std::string message) { return {static_cast<int>(absl::StatusCode::kInvalidArgument), message}; }
Result NotRunning() { return {static_cast<int>(absl::StatusCode::kFailedPrecondition), "the cluster is not running"}; }

}  // namespace

Cluster::Cluster() = default;
Cluster::~Cluster() { Shutdown(); }

Result Cluster::Start(const ClusterOptions& options) {
  if (cluster_) return {static_cast<int>(absl::StatusCode::kFailedPrecondition), "the cluster is already running"};
  if (options.agents < 0) return Invalid("agents: must be >= 0");
  if (options.offer_timeout < 0) return Invalid("offer_timeout: must be >= 0");
  if (options.allocation_interval < 0) return Invalid("allocation_interval: must be >= 0");
  if (options.agent_ping_timeout <= 0) return Invalid("agent_ping_timeout: must be > 0");
  LogLevel level;
  if (!ParseLogLevel(options.log_level, &level)) return Invalid("log_level: expected debug, info, warning or error");
  SetLogLevel(level);
  LocalClusterOptions o;
  o.agents = options.agents;
  if (!options.resources.empty()) o.agent_resources = options.resources;
  o.work_dir = options.work_dir;
  o.keep_work_dir = options.keep_work_dir;
  o.agent.launcher_dir = options.launcher_dir;
  o.agent.cgroups = options.cgroups;
  o.master.offer_timeout = options.offer_timeout;
  o.master.allocation_interval = options.allocation_interval;
  o.master.agent_ping_timeout = options.agent_ping_timeout;
  o.master.max_agent_ping_timeouts = options.max_agent_ping_timeouts;
  if (!options.tls_cert_file.empty()) {
    tls::TlsOptions t;
    t.enabled = true;
    t.cert_file = options.tls_cert_file;
    t.key_file = options.tls_key_file;
    t.ca_file = options.tls_ca_file;
    t.require_cert = options.tls_require_cert;
    if (absl::Status st = tls::ValidateServer(t); !st.ok()) return Invalid(std::string(st.message()));
    o.master.tls = t;
    o.agent.tls = t;
  }
  auto c = LocalCluster::Start(o);
  if (!c.ok()) return ToResult(c.status());
  cluster_ = std::move(*c);
  return {};
}

bool Cluster::running() const { return cluster_ != nullptr; }
std::string Cluster::master() const { return cluster_ ? cluster_->master_address() : ""; }
std::string Cluster::work_dir() const { return cluster_ ? cluster_->work_dir() : ""; }
int Cluster::agent_count() const { return cluster_ ? static_cast<int>(cluster_->agent_count()) : 0; }

Result Cluster::WaitForAgents(double timeout_seconds) {
  if (!cluster_) return NotRunning();
  return ToResult(cluster_->WaitForAgents(timeout_seconds));
}

Result Cluster::AddAgent(const std::string& resources, int* index) {
  if (!cluster_) return NotRunning();
  auto i = cluster_->AddAgent(resources);
  if (!i.ok()) return ToResult(i.status());
  if (index != nullptr) *index = static_cast<int>(*i);
  return {};
}

Result Cluster::StopAgent(int index) {
  if (!cluster_) return NotRunning();
  if (index < 0 || static_cast<size_t>(index) >= cluster_->agent_count()) {
    return {static_cast<int>(absl::StatusCode::kOutOfRange), "agent index out of range"};
  }
  cluster_->StopAgent(static_cast<size_t>(index));
  return {};
}

Result Cluster::State(std::string* out) {
  if (!cluster_) return NotRunning();
  *out = cluster_->master().GetState().SerializeAsString();
  return {};
}

void Cluster::Shutdown() { cluster_.reset(); }

Result MasterState(const std::string& address, double timeout_seconds, std::string* out) {
  auto stub = v1::internal::OperatorService::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() +
                   std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds * 1000)));
  v1::internal::ClusterState state;
  grpc::Status st = stub->GetState(&ctx, v1::internal::GetClusterState(), &state);
  if (!st.ok()) {
    return {static_cast<int>(absl::StatusCode::kUnavailable),
            "cannot read the state of " + address + ": " + st.error_message()};
  }
  *out = state.SerializeAsString();
  return {};
}

}  // namespace corral::binding
