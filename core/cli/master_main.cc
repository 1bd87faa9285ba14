// corral-master: the master daemon.
#include <signal.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <iostream>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/str_split.h"
#include "daemon_flags.h"
#include "request_limit_flags.h"
#include "tls_flags.h"
#include "corral/auth/authorizer.h"
#include "corral/auth/credentials.h"
#include "corral/common/logging.h"
#include "corral/common/process.h"
#include "corral/master/master_server.h"
#include "corral/master/standby.h"
#include "corral/master/zk_registry.h"
#include "corral/zookeeper/leader.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

ABSL_FLAG(std::string, ip, "127.0.0.1", "Address to listen on (0.0.0.0 for all interfaces).");
ABSL_FLAG(int, port, 5050, "Port to listen on (gRPC: scheduler API, agents, operators).");
ABSL_FLAG(std::string, hostname, "localhost", "Hostname the master advertises.");
ABSL_FLAG(std::string, work_dir, "/var/lib/corral/master", "Directory for the master's durable state.");
ABSL_FLAG(std::string, agent_reregister_timeout, "10mins",
          "After a restart, how long agents have to reregister before they are marked unreachable.");
ABSL_FLAG(std::string, registry_max_agent_age, "2weeks",
          "How long an unreachable agent is remembered before it is removed from the registry.");
ABSL_FLAG(std::string, agent_ping_timeout, "15secs", "Time to wait for an agent to answer one ping.");
ABSL_FLAG(int, max_agent_ping_timeouts, 5, "Missed pings after which an agent is unreachable.");
ABSL_FLAG(std::string, offer_timeout, "0secs", "Rescind offers not used within this time (0 = never).");
ABSL_FLAG(std::string, allocation_interval, "1secs", "Period of full allocation cycles.");
ABSL_FLAG(std::string, heartbeat_interval, "15secs", "Period of HEARTBEAT events to schedulers.");
ABSL_FLAG(std::string, weights, "", "Role weights, e.g. 'dev=2,ops=1'.");
ABSL_FLAG(std::string, quotas, "",
          "Quotas as JSON: {\"dev\": {\"guarantee\": \"cpus:2;mem:1024\", \"limit\": \"cpus:8\"}}.");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warning or error.");
ABSL_FLAG(std::string, credentials, "",
          "File of principals and secrets callers authenticate with (Mesos's JSON, or 'principal secret' lines).");
ABSL_FLAG(bool, authenticate_frameworks, false,
          "Frameworks must authenticate (gRPC and the HTTP scheduler API); same as --authenticate_http_frameworks.");
ABSL_FLAG(bool, authenticate_http_frameworks, false, "Same as --authenticate_frameworks (Mesos's name).");
ABSL_FLAG(bool, authenticate_agents, false, "Agents must authenticate (their --credential).");
ABSL_FLAG(bool, authenticate_http_readonly, false, "Reads (state, metrics, flags, GET_* calls) must authenticate.");
ABSL_FLAG(bool, authenticate_http_readwrite, false, "Operator calls that change something must authenticate.");
ABSL_FLAG(std::string, acls, "",
          "File of ACLs (Mesos's local authorizer JSON): what each principal may do; see docs/security.md.");
ABSL_FLAG(std::string, audit_log, "",
          "File the audit log is appended to (one JSON line per refused authorization or state-changing operator "
          "call); empty: standard error.");
ABSL_FLAG(bool, insecure, false,
          "Allow listening beyond loopback while frameworks, agents or operator writes need no authentication.");
ABSL_FLAG(std::string, zk, "",
          "zk://[user:pass@]host:port[,host:port...]/path: run as one of several masters, elected through "
          "ZooKeeper, with the registry there; empty: a single master with its registry in --work_dir.");
ABSL_FLAG(std::string, zk_session_timeout, "10secs",
          "ZooKeeper session timeout: a leader out of touch with ZooKeeper this long stops leading.");

namespace {

[[noreturn]] void Die(const std::string& msg) { corral::cli::Die("corral-master", msg); }

double Duration(const std::string& flag, const std::string& value, bool allow_zero) {
  return corral::cli::DurationFlag("corral-master", flag, value, allow_zero);
}

// One of several masters: serve as a standby (redirecting to the leader)
// until elected, then recover the registry from ZooKeeper and lead. A master
// that loses its leadership, or its session while waiting, exits at once
// (status 1) for its supervisor to start it again: nothing it still holds in
// memory can be trusted once another master may lead.
int RunElected(corral::MasterOptions opts, const std::string& listen, int port, const sigset_t& stop) {
  auto url = corral::zk::ParseUrl(absl::GetFlag(FLAGS_zk));
  if (!url.ok()) Die("--zk: " + std::string(url.status().message()));
  double session_timeout = Duration("zk_session_timeout", absl::GetFlag(FLAGS_zk_session_timeout), false);
  if (port == 0) Die("--port must not be 0 with --zk: the port is published before the master listens on it");
  opts.port = port;
  corral::v1::MasterInfo info = corral::Master::InfoFor(opts);
  opts.id = info.id();

  auto standby = corral::MasterStandby::Start(absl::GetFlag(FLAGS_ip), port, opts.tls);
  if (!standby.ok()) Die(std::string(standby.status().message()));
  corral::MasterStandby* front = standby->get();
  auto detector = corral::zk::LeaderDetector::Start(
      *url, session_timeout, [front, self = info.id()](const std::optional<corral::v1::MasterInfo>& leader) {
        // Seen leading before the contender says so: not serving yet, so
        // "no leader" (503), not a redirect to this very port.
        bool other = leader && leader->id() != self;
        front->SetLeader(other ? corral::zk::MasterAddress(*leader) : "");
      });
  std::atomic<bool> elected{false};
  corral::zk::LeaderContender::Callbacks callbacks;
  callbacks.elected = [&elected] { elected = true; };
  callbacks.lost = [](const std::string& why) {
    CORRAL_LOG(ERROR) << "Exiting: " << why << "; another master leads or will";
    std::fflush(stderr);
    std::_Exit(1);
  };
  auto contender = corral::zk::LeaderContender::Start(*url, info, session_timeout, callbacks);
  if (!contender.ok()) Die("--zk: " + std::string(contender.status().message()));
  CORRAL_LOG(INFO) << "Master " << info.id() << " standing by on " << listen << " until elected";

  timespec tick{0, 100 * 1000 * 1000};
  int sig = -1;
  while (!elected) {
    sig = sigtimedwait(&stop, nullptr, &tick);
    if (sig > 0) {
      CORRAL_LOG(INFO) << "Received signal " << sig << " while standing by; stopping";
      return 0;
    }
  }
  (*standby)->Stop();
  detector.reset();
  auto registry = corral::OpenZkRegistry((*contender)->session(), url->path + "/registry", (*contender)->node());
  if (!registry.ok()) {
    CORRAL_LOG(ERROR) << "Exiting: cannot open the registry in ZooKeeper: " << registry.status().message();
    return 1;
  }
  auto server = corral::MasterServer::Start(opts, listen, std::move(*registry));
  if (!server.ok()) {
    CORRAL_LOG(ERROR) << "Exiting: " << server.status().message();
    return 1;
  }
  CORRAL_LOG(INFO) << "Leading as " << info.id();
  sigwait(&stop, &sig);
  CORRAL_LOG(INFO) << "Received signal " << sig << "; stopping";
  (*server)->Shutdown();
  return 0;  // the contender goes last: its node goes with its session
}

}  // namespace

namespace auth = corral::auth;

int main(int argc, char** argv) {
  corral::cli::SetUsage("master_main.cc", "The Corral master. Usage: corral-master [flags]");
  absl::ParseCommandLine(argc, argv);
  corral::cli::SetLogLevelFlag("corral-master", absl::GetFlag(FLAGS_log_level));

  corral::MasterOptions opts;
  opts.hostname = absl::GetFlag(FLAGS_hostname);
  opts.address = absl::GetFlag(FLAGS_ip);
  opts.work_dir = absl::GetFlag(FLAGS_work_dir);
  if (opts.work_dir.empty()) Die("--work_dir must not be empty: the registry lives there");
  opts.agent_reregister_timeout =
      Duration("agent_reregister_timeout", absl::GetFlag(FLAGS_agent_reregister_timeout), false);
  opts.registry_max_agent_age = Duration("registry_max_agent_age", absl::GetFlag(FLAGS_registry_max_agent_age), false);
  opts.agent_ping_timeout = Duration("agent_ping_timeout", absl::GetFlag(FLAGS_agent_ping_timeout), false);
  opts.max_agent_ping_timeouts = absl::GetFlag(FLAGS_max_agent_ping_timeouts);
  if (opts.max_agent_ping_timeouts < 1) Die("--max_agent_ping_timeouts must be at least 1");
  opts.offer_timeout = Duration("offer_timeout", absl::GetFlag(FLAGS_offer_timeout), true);
  opts.allocation_interval = Duration("allocation_interval", absl::GetFlag(FLAGS_allocation_interval), false);
  opts.heartbeat_interval = Duration("heartbeat_interval", absl::GetFlag(FLAGS_heartbeat_interval), false);
  for (absl::string_view kv : absl::StrSplit(absl::GetFlag(FLAGS_weights), ',', absl::SkipWhitespace())) {
    std::vector<std::string> parts = absl::StrSplit(kv, '=');
    double w = 0;
    if (parts.size() != 2 || parts[0].empty() || !absl::SimpleAtod(parts[1], &w) || !(w > 0)) {
      Die("--weights: '" + std::string(kv) + "' is not role=positive_number");
    }
    opts.weights[parts[0]] = w;
  }
  if (!absl::GetFlag(FLAGS_quotas).empty()) {
    google::protobuf::Struct quotas;
    auto st = google::protobuf::util::JsonStringToMessage(absl::GetFlag(FLAGS_quotas), &quotas);
    if (!st.ok()) {
      std::string why(st.message());
      why.erase(std::remove(why.begin(), why.end(), '\n'), why.end());
      Die("--quotas is not valid JSON: " + why);
    }
    for (const auto& [role, spec] : quotas.fields()) {
      corral::RoleQuota q;
      for (const char* key : {"guarantee", "limit"}) {
        auto it = spec.struct_value().fields().find(key);
        if (it == spec.struct_value().fields().end()) continue;
        auto parsed = corral::Quantities::Parse(it->second.string_value());
        if (!parsed.ok()) Die("--quotas: role '" + role + "' " + key + ": " + std::string(parsed.status().message()));
        (std::string(key) == "guarantee" ? q.guarantee : q.limit) = *parsed;
      }
      opts.quotas[role] = q;
    }
  }
  opts.limits = corral::cli::RequestLimitsFromFlags("corral-master");
  opts.tls = corral::cli::TlsFromFlags("corral-master");
  auth::AuthenticationPolicy& policy = opts.authentication;
  policy.frameworks = absl::GetFlag(FLAGS_authenticate_frameworks) || absl::GetFlag(FLAGS_authenticate_http_frameworks);
  policy.agents = absl::GetFlag(FLAGS_authenticate_agents);
  policy.readonly = absl::GetFlag(FLAGS_authenticate_http_readonly);
  policy.readwrite = absl::GetFlag(FLAGS_authenticate_http_readwrite);
  if (!absl::GetFlag(FLAGS_credentials).empty()) {
    auto credentials = corral::auth::LoadCredentials(absl::GetFlag(FLAGS_credentials));
    if (!credentials.ok()) Die("--credentials: " + std::string(credentials.status().message()));
    policy.authenticator = std::make_shared<corral::auth::Authenticator>(*credentials);
    CORRAL_LOG(INFO) << "Loaded " << credentials->size() << " credentials";
  } else if (policy.frameworks || policy.agents || policy.readonly || policy.readwrite) {
    Die("the --authenticate_* flags need --credentials, the principals and secrets to check");
  }
  opts.authorizer =
      corral::cli::AuthorizationFlags("corral-master", absl::GetFlag(FLAGS_acls), absl::GetFlag(FLAGS_audit_log));
  std::string missing;
  for (auto [on, what] :
       {std::pair{policy.frameworks, "frameworks"}, {policy.agents, "agents"}, {policy.readwrite, "operator writes"}}) {
    if (!on) missing += std::string(missing.empty() ? "" : ", ") + what;
  }
  corral::cli::CheckExposure("corral-master", opts.address, policy.GuardsWrites(), absl::GetFlag(FLAGS_insecure),
                             missing + " unauthenticated");
  if (policy.GuardsWrites() && !policy.readonly && !corral::cli::IsLoopback(opts.address)) {
    CORRAL_LOG(WARNING) << "--authenticate_http_readonly is off: anyone who reaches " << opts.address
                        << " can read the cluster's state, task environments included";
  }
  int port = absl::GetFlag(FLAGS_port);
  if (port < 0 || port > 65535) Die("--port must be between 0 and 65535");
  uint64_t files = corral::RaiseFileLimit();
  CORRAL_LOG(INFO) << "Open-file limit " << files;

  // Block the stop signals before any thread starts; wait for them below.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  std::string listen = absl::GetFlag(FLAGS_ip) + ":" + std::to_string(port);
  if (!absl::GetFlag(FLAGS_zk).empty()) return RunElected(opts, listen, port, stop);
  auto server = corral::MasterServer::Start(opts, listen);
  if (!server.ok()) Die(std::string(server.status().message()));
  int sig = 0;
  sigwait(&stop, &sig);
  CORRAL_LOG(INFO) << "Received signal " << sig << "; stopping";
  (*server)->Shutdown();
  return 0;
}
