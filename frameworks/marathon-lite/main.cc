// corral-marathon: marathon-lite, the bundled long-running service
// scheduler, serving Marathon's REST API.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <optional>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "api/rest.h"
#include "corral/common/logging.h"
#include "corral/common/work_dir_lock.h"
#include "corral/http/server.h"
#include "corral/framework/rest_auth.h"
#include "daemon_flags.h"
#include "corral/framework/driver_adapter.h"
#include "corral/framework/election.h"

#include "scheduler/service.h"
#include "store/store.h"

ABSL_FLAG(std::string, master, "127.0.0.1:5050",
          "The master: host:port, or zk://host:port[,...]/path to follow the elected leader.");
ABSL_FLAG(std::string, http_address, "127.0.0.1", "Address the REST API listens on (0.0.0.0 for all).");
ABSL_FLAG(int, http_port, 8080, "Port of the REST API (0 picks one and prints it).");
ABSL_FLAG(std::string, work_dir, "/var/lib/corral/marathon", "Directory for marathon-lite's state (SQLite).");
ABSL_FLAG(std::string, framework_name, "marathon", "The framework's name.");
ABSL_FLAG(std::string, role, "*", "The role whose resources apps use.");
ABSL_FLAG(std::string, principal, "", "The framework's principal.");
ABSL_FLAG(std::string, failover_timeout, "1weeks",
          "How long the master keeps the framework's tasks while marathon-lite is away.");
ABSL_FLAG(std::string, reconciliation_interval, "1mins", "Period of task reconciliation with the master.");
ABSL_FLAG(std::string, mesos_authentication_principal, "",
          "The principal the framework authenticates to the master with (the same as --principal, Marathon's and "
          "Chronos's name).");
ABSL_FLAG(std::string, mesos_authentication_secret_file, "",
          "File holding the secret of the framework's principal (also: CORRAL_PRINCIPAL/CORRAL_SECRET).");
ABSL_FLAG(std::string, http_credentials, "",
          "user:password that the REST API requires (HTTP Basic), as Marathon's and Chronos's; empty: none.");
ABSL_FLAG(std::string, http_credentials_file, "",
          "File of principals and secrets the REST API accepts (Mesos's credentials formats).");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warning or error.");
ABSL_FLAG(std::string, zk, "",
          "zk://host:port[,...]/path: run as one of several instances, the leader elected through ZooKeeper and "
          "the state kept there; empty: one instance with its state in --work_dir.");
ABSL_FLAG(std::string, zk_session_timeout, "10secs",
          "ZooKeeper session timeout: a leader out of touch with ZooKeeper this long stops.");

namespace {

const char* const kProgram = "corral-marathon";

[[noreturn]] void Die(const std::string& msg) { corral::cli::Die(kProgram, msg); }

}  // namespace

int main(int argc, char** argv) {
  corral::cli::SetUsage(
      "marathon-lite/main.cc",
      "corral-marathon --master=host:port --work_dir=DIR [--zk=zk://...] [flags]: Marathon's API on Corral");
  absl::ParseCommandLine(argc, argv);
  corral::cli::SetLogLevelFlag(kProgram, absl::GetFlag(FLAGS_log_level));
  int port = absl::GetFlag(FLAGS_http_port);
  if (port < 0 || port > 65535) Die("--http_port must be between 0 and 65535");
  std::string master = absl::GetFlag(FLAGS_master);
  if (master.find(':') == std::string::npos) Die("--master must be host:port or a zk:// URL, got '" + master + "'");
  double failover =
      corral::cli::DurationFlag(kProgram, "failover_timeout", absl::GetFlag(FLAGS_failover_timeout), false);
  double reconcile = corral::cli::DurationFlag(kProgram, "reconciliation_interval",
                                               absl::GetFlag(FLAGS_reconciliation_interval), false);
  std::string work_dir = absl::GetFlag(FLAGS_work_dir);
  std::error_code ec;
  std::filesystem::create_directories(work_dir, ec);
  if (ec) Die("--work_dir: cannot create " + work_dir + ": " + ec.message());
  auto lock = corral::WorkDirLock::Acquire(work_dir, "corral-marathon");
  if (!lock.ok()) Die(std::string(lock.status().message()));

  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  // With --zk: stand by on the port until elected, then keep the state in
  // ZooKeeper (docs/high-availability.md).
  std::optional<corral::framework::Elected> elected;
  absl::StatusOr<std::unique_ptr<corral::marathon::Store>> store;
  if (!absl::GetFlag(FLAGS_zk).empty()) {
    corral::framework::ElectionOptions eo;
    eo.program = kProgram;
    eo.zk = absl::GetFlag(FLAGS_zk);
    eo.session_timeout =
        corral::cli::DurationFlag(kProgram, "zk_session_timeout", absl::GetFlag(FLAGS_zk_session_timeout), false);
    eo.http_address = absl::GetFlag(FLAGS_http_address);
    eo.http_port = port;
    eo.leader_paths = {"/v2/leader"};
    eo.redirect_paths = {"/v2/events", "/v2/events/"};
    eo.leader_header = "X-Marathon-Leader";
    auto e = corral::framework::StandByUntilElected(eo, stop);
    if (!e.ok()) Die("--zk: " + std::string(e.status().message()));
    if (!e->has_value()) return 0;  // stopped while standing by
    elected = std::move(**e);
    port = elected->http_port;
    store =
        corral::marathon::OpenZkStore(elected->contender->session(), elected->state_path, elected->contender->node());
  } else {
    store = corral::marathon::OpenSqliteStore(work_dir);
  }
  if (!store.ok()) Die(std::string(store.status().message()));
  corral::marathon::ServiceOptions so;
  so.role = absl::GetFlag(FLAGS_role);
  so.reconciliation_interval = reconcile;
  corral::marathon::Service service(std::move(*store), so);
  if (auto s = service.Load(); !s.ok()) Die(std::string(s.message()));

  corral::marathon::RestOptions ro;
  ro.master = master;
  ro.framework_name = absl::GetFlag(FLAGS_framework_name);
  ro.role = so.role;
  ro.failover_timeout = failover;
  ro.leader = absl::GetFlag(FLAGS_http_address) + ":" + std::to_string(port);
  auto rest_auth = corral::framework::RestAuthenticator(absl::GetFlag(FLAGS_http_credentials),
                                                        absl::GetFlag(FLAGS_http_credentials_file));
  if (!rest_auth.ok()) Die(std::string(rest_auth.status().message()));
  auto http = corral::http::Server::Start(
      absl::GetFlag(FLAGS_http_address), port,
      corral::framework::Guarded(corral::marathon::MakeRestHandler(&service, ro), *rest_auth, {"/ping"}));
  if (!http.ok()) Die(std::string(http.status().message()));
  ro.leader = absl::GetFlag(FLAGS_http_address) + ":" + std::to_string((*http)->port());

  corral::framework::FrameworkOptions fo;
  fo.master = master;
  fo.name = ro.framework_name;
  fo.role = so.role;
  fo.principal = absl::GetFlag(FLAGS_principal);
  if (fo.principal.empty()) fo.principal = absl::GetFlag(FLAGS_mesos_authentication_principal);
  if (!absl::GetFlag(FLAGS_mesos_authentication_secret_file).empty()) {
    if (fo.principal.empty()) Die("--mesos_authentication_secret_file needs --mesos_authentication_principal");
    auto secret = corral::framework::ReadSecretFile(absl::GetFlag(FLAGS_mesos_authentication_secret_file));
    if (!secret.ok()) Die("--mesos_authentication_secret_file: " + std::string(secret.status().message()));
    fo.secret = *secret;
  }
  fo.failover_timeout = failover;
  fo.webui_url = "http://" + ro.leader;
  fo.framework_id = service.StoredFrameworkId();
  corral::framework::DriverAdapter adapter(&service, fo);
  service.SetCluster(&adapter);
  if (auto s = adapter.Start(); !s.ok()) Die(std::string(s.message()));
  std::cout << "corral-marathon: serving http://" << ro.leader << " for master " << master << std::endl;

  int sig = 0;
  sigwait(&stop, &sig);
  CORRAL_LOG(INFO) << "Received signal " << sig << "; stopping";
  (*http)->Stop();
  service.SetCluster(nullptr);
  adapter.Stop();
  service.Stop();
  return 0;
}
