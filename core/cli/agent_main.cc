// corral-agent: the agent daemon that runs tasks on one machine.
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <iostream>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "corral/agent/agent_server.h"
#include "corral/zookeeper/zk.h"
#include "daemon_flags.h"
#include "request_limit_flags.h"
#include "tls_flags.h"
#include "corral/auth/credentials.h"
#include "corral/auth/executor_tokens.h"
#include "corral/common/logging.h"
#include "corral/common/process.h"

ABSL_FLAG(std::string, master, "", "Master to register with, as host:port (required).");
ABSL_FLAG(std::string, ip, "127.0.0.1", "Address to listen on for executors and sandbox reads.");
ABSL_FLAG(int, port, 5051, "Port to listen on.");
ABSL_FLAG(std::string, hostname, "localhost", "Hostname the agent advertises.");
ABSL_FLAG(std::string, work_dir, "/var/lib/corral/agent", "Directory for sandboxes and agent state.");
ABSL_FLAG(std::string, resources, "",
          "Resources to offer, overriding detection per name: 'cpus:4;mem:8192;ports:[31000-32000]'.");
ABSL_FLAG(std::string, attributes, "", "Attributes, e.g. 'rack:r1;zone:a'.");
ABSL_FLAG(bool, cgroups, true, "Enforce cpu, memory and pids limits with cgroups where possible.");
ABSL_FLAG(bool, cgroups_enable_cfs, false, "Also cap cpu time with a CFS quota (hard limit).");
ABSL_FLAG(std::string, cgroups_root, "",
          "Cgroup directory created under each hierarchy, this agent's alone (default: corral/agent-<hash of "
          "--work_dir>).");
ABSL_FLAG(int64_t, cgroups_pids_max, 4096, "Largest number of processes and threads per container (0 = unlimited).");
ABSL_FLAG(std::string, launcher_dir, "", "Directory holding corral-default-executor (default: beside this binary).");
ABSL_FLAG(std::string, executor_registration_timeout, "1mins", "Time an executor has to subscribe.");
ABSL_FLAG(std::string, executor_shutdown_grace_period, "5secs", "Time an executor has to exit after SHUTDOWN.");
ABSL_FLAG(std::string, registration_backoff, "1secs", "Base delay between attempts to reach the master.");
ABSL_FLAG(std::string, gc_delay, "1weeks", "How long a finished task's sandbox is kept (less as the disk fills).");
ABSL_FLAG(double, gc_disk_headroom, 0.1,
          "Disk fraction to keep free: sandboxes are removed sooner as usage nears 1 - this (0 to 1).");
ABSL_FLAG(std::string, disk_watch_interval, "1mins", "How often disk usage is checked and old sandboxes removed.");
ABSL_FLAG(std::string, container_disk_watch_interval, "15secs",
          "How often each running container's sandbox is measured against its disk resource.");
ABSL_FLAG(bool, enforce_container_disk_quota, true,
          "Kill a container that uses more disk than its tasks' disk resource (TASK_FAILED, "
          "REASON_CONTAINER_LIMITATION_DISK).");
ABSL_FLAG(std::string, recover, "reconnect",
          "After a restart: 'reconnect' recovers checkpointed tasks; 'cleanup' kills what the last run left "
          "and registers as a new agent.");
ABSL_FLAG(std::string, executor_reregistration_timeout, "10secs",
          "After a restart, how long recovered executors have to subscribe again before they are killed.");
ABSL_FLAG(std::string, recovery_timeout, "15mins",
          "How long a checkpointing framework's executor keeps trying to reach a restarting agent before it exits "
          "(passed to it as MESOS_RECOVERY_TIMEOUT).");
ABSL_FLAG(std::string, executor_subscription_backoff_max, "2secs",
          "The longest wait between an executor's tries to subscribe again (MESOS_SUBSCRIPTION_BACKOFF_MAX).");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warning or error.");
ABSL_FLAG(std::string, credential, "",
          "File with the principal and secret this agent authenticates to the master with (Mesos's JSON, or one "
          "'principal secret' line).");
ABSL_FLAG(std::string, http_credentials, "",
          "File of principals and secrets readers and operators of this agent's API authenticate with (Mesos's "
          "JSON, or 'principal secret' lines).");
ABSL_FLAG(bool, authenticate_http_readonly, false,
          "Reads of this agent (state, metrics, flags, sandbox files, GET_* calls) must authenticate.");
ABSL_FLAG(bool, authenticate_http_readwrite, false, "Operator calls to this agent that act must authenticate.");
ABSL_FLAG(std::string, acls, "",
          "File of ACLs (Mesos's local authorizer JSON); the agent enforces access_sandboxes, by the user each "
          "sandbox's container runs as. See docs/security.md.");
ABSL_FLAG(std::string, audit_log, "",
          "File the audit log (refused authorizations, one JSON line each) is appended to; empty: standard error.");
ABSL_FLAG(std::string, jwt_secret_key, "",
          "File holding the key (32 bytes or more) that signs each executor's MESOS_EXECUTOR_AUTHENTICATION_TOKEN.");
ABSL_FLAG(bool, authenticate_http_executors, false,
          "Executor calls must carry the token of their own container (needs --jwt_secret_key).");
ABSL_FLAG(bool, insecure, false,
          "Allow listening beyond loopback while executors, reads or operator calls need no authentication.");

namespace {

[[noreturn]] void Die(const std::string& msg) { corral::cli::Die("corral-agent", msg); }

double Duration(const std::string& flag, const std::string& value) {
  return corral::cli::DurationFlag("corral-agent", flag, value, /*allow_zero=*/false);
}

}  // namespace

int main(int argc, char** argv) {
  corral::cli::SetUsage("agent_main.cc", "The Corral agent. Usage: corral-agent --master=host:port|zk://... [flags]");
  absl::ParseCommandLine(argc, argv);
  corral::cli::SetLogLevelFlag("corral-agent", absl::GetFlag(FLAGS_log_level));

  corral::AgentOptions opts;
  opts.master = absl::GetFlag(FLAGS_master);
  if (opts.master.empty()) Die("--master is required (host:port of the master, or zk://host:port[,...]/path)");
  if (corral::zk::IsZkUrl(opts.master)) {
    if (auto url = corral::zk::ParseUrl(opts.master); !url.ok())
      Die("--master: " + std::string(url.status().message()));
  } else if (opts.master.find(':') == std::string::npos) {
    Die("--master must be host:port or a zk:// URL, got '" + opts.master + "'");
  }
  opts.ip = absl::GetFlag(FLAGS_ip);
  opts.hostname = absl::GetFlag(FLAGS_hostname);
  opts.work_dir = absl::GetFlag(FLAGS_work_dir);
  opts.resources = absl::GetFlag(FLAGS_resources);
  opts.attributes = absl::GetFlag(FLAGS_attributes);
  opts.cgroups = absl::GetFlag(FLAGS_cgroups);
  opts.cgroups_enable_cfs = absl::GetFlag(FLAGS_cgroups_enable_cfs);
  opts.cgroups_root = absl::GetFlag(FLAGS_cgroups_root);
  if (absl::GetFlag(FLAGS_cgroups_pids_max) < 0) Die("--cgroups_pids_max must not be negative");
  opts.cgroups_pids_max = static_cast<uint64_t>(absl::GetFlag(FLAGS_cgroups_pids_max));
  opts.launcher_dir = absl::GetFlag(FLAGS_launcher_dir);
  opts.executor_registration_timeout =
      Duration("executor_registration_timeout", absl::GetFlag(FLAGS_executor_registration_timeout));
  opts.executor_shutdown_grace =
      Duration("executor_shutdown_grace_period", absl::GetFlag(FLAGS_executor_shutdown_grace_period));
  opts.registration_backoff = Duration("registration_backoff", absl::GetFlag(FLAGS_registration_backoff));
  opts.gc_delay =
      corral::cli::DurationFlag("corral-agent", "gc_delay", absl::GetFlag(FLAGS_gc_delay), /*allow_zero=*/true);
  opts.gc_disk_headroom = absl::GetFlag(FLAGS_gc_disk_headroom);
  if (!(opts.gc_disk_headroom >= 0 && opts.gc_disk_headroom <= 1)) Die("--gc_disk_headroom must be between 0 and 1");
  opts.disk_watch_interval = Duration("disk_watch_interval", absl::GetFlag(FLAGS_disk_watch_interval));
  opts.container_disk_watch_interval =
      Duration("container_disk_watch_interval", absl::GetFlag(FLAGS_container_disk_watch_interval));
  opts.enforce_container_disk_quota = absl::GetFlag(FLAGS_enforce_container_disk_quota);
  opts.recover = absl::GetFlag(FLAGS_recover);
  if (opts.recover != "reconnect" && opts.recover != "cleanup") {
    Die("--recover must be 'reconnect' or 'cleanup', got '" + opts.recover + "'");
  }
  opts.executor_reregistration_timeout =
      Duration("executor_reregistration_timeout", absl::GetFlag(FLAGS_executor_reregistration_timeout));
  opts.recovery_timeout = Duration("recovery_timeout", absl::GetFlag(FLAGS_recovery_timeout));
  opts.executor_subscription_backoff_max =
      Duration("executor_subscription_backoff_max", absl::GetFlag(FLAGS_executor_subscription_backoff_max));
  opts.limits = corral::cli::RequestLimitsFromFlags("corral-agent");
  opts.tls = corral::cli::TlsFromFlags("corral-agent");
  if (!absl::GetFlag(FLAGS_credential).empty()) {
    auto credential = corral::auth::LoadCredential(absl::GetFlag(FLAGS_credential));
    if (!credential.ok()) Die("--credential: " + std::string(credential.status().message()));
    opts.master_authorization = corral::auth::BasicAuthorization(*credential);
  }
  corral::auth::AuthenticationPolicy& policy = opts.http_authentication;
  policy.readonly = absl::GetFlag(FLAGS_authenticate_http_readonly);
  policy.readwrite = absl::GetFlag(FLAGS_authenticate_http_readwrite);
  if (!absl::GetFlag(FLAGS_http_credentials).empty()) {
    auto credentials = corral::auth::LoadCredentials(absl::GetFlag(FLAGS_http_credentials));
    if (!credentials.ok()) Die("--http_credentials: " + std::string(credentials.status().message()));
    policy.authenticator = std::make_shared<corral::auth::Authenticator>(*credentials);
  } else if (policy.readonly || policy.readwrite) {
    Die("--authenticate_http_readonly and --authenticate_http_readwrite need --http_credentials");
  }
  opts.authorizer =
      corral::cli::AuthorizationFlags("corral-agent", absl::GetFlag(FLAGS_acls), absl::GetFlag(FLAGS_audit_log));
  if (!absl::GetFlag(FLAGS_jwt_secret_key).empty()) {
    std::ifstream in(absl::GetFlag(FLAGS_jwt_secret_key), std::ios::binary);
    if (!in) Die("--jwt_secret_key: cannot read " + absl::GetFlag(FLAGS_jwt_secret_key));
    std::string key((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto tokens = corral::auth::ExecutorTokens::FromKey(std::move(key));
    if (!tokens.ok()) Die("--jwt_secret_key: " + std::string(tokens.status().message()));
    opts.executor_tokens = std::make_shared<corral::auth::ExecutorTokens>(std::move(*tokens));
  }
  opts.authenticate_executors = absl::GetFlag(FLAGS_authenticate_http_executors);
  if (opts.authenticate_executors && !opts.executor_tokens) {
    Die("--authenticate_http_executors needs --jwt_secret_key, the key executor tokens are signed with");
  }
  std::string missing;
  for (auto [on, what] : {std::pair{opts.authenticate_executors, "executors"},
                          {policy.Required(corral::auth::Access::kReadOnly), "reads"},
                          {policy.Required(corral::auth::Access::kReadWrite), "operator calls"}}) {
    if (!on) missing += std::string(missing.empty() ? "" : ", ") + what;
  }
  corral::cli::CheckExposure("corral-agent", opts.ip, missing.empty(), absl::GetFlag(FLAGS_insecure),
                             missing + " unauthenticated");
  int port = absl::GetFlag(FLAGS_port);
  if (port < 0 || port > 65535) Die("--port must be between 0 and 65535");
  uint64_t files = corral::RaiseFileLimit();
  CORRAL_LOG(INFO) << "Open-file limit " << files;

  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  auto server = corral::AgentServer::Start(opts, opts.ip + ":" + std::to_string(port));
  if (!server.ok()) Die(std::string(server.status().message()));
  (*server)->agent().SetOnRefused([](const std::string& why) {
    std::cerr << "corral-agent: the master refused this agent: " << why << std::endl;
    std::_Exit(1);
  });
  int sig = 0;
  sigwait(&stop, &sig);
  CORRAL_LOG(INFO) << "Received signal " << sig << "; stopping";
  (*server)->Shutdown();
  return 0;
}
