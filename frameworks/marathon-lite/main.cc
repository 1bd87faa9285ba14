// corral-marathon: marathon-lite, the bundled long-running service
// scheduler, serving Marathon's REST API.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <iostream>
#include <mutex>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "api/rest.h"
#include "corral/common/logging.h"
#include "corral/common/work_dir_lock.h"
#include "corral/http/server.h"
#include "corral/zookeeper/leader.h"
#include "daemon_flags.h"
#include "corral/framework/driver_adapter.h"

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
ABSL_FLAG(std::string, log_level, "info", "debug, info, warning or error.");
ABSL_FLAG(std::string, zk, "",
          "zk://host:port[,...]/path: run as one of several instances, the leader elected through ZooKeeper and "
          "the state kept there; empty: one instance with its state in --work_dir.");
ABSL_FLAG(std::string, zk_session_timeout, "10secs",
          "ZooKeeper session timeout: a leader out of touch with ZooKeeper this long stops.");

namespace {

const char* const kProgram = "corral-marathon";

[[noreturn]] void Die(const std::string& msg) { corral::cli::Die(kProgram, msg); }

// What an instance that does not lead serves: /ping, /v2/leader naming the
// leader, and everything else redirected (307) to the leader, path and
// query kept, as Marathon's standbys do.
class Standby {
 public:
  void SetLeader(const std::string& leader) {
    std::lock_guard<std::mutex> lock(mu_);
    leader_ = leader;
  }
  void Handle(const corral::http::Request& req, corral::http::Responder& r) {
    using corral::http::Response;
    std::string leader;
    {
      std::lock_guard<std::mutex> lock(mu_);
      leader = leader_;
    }
    if (req.path == "/ping") return r.Reply(Response::Text(200, "pong\n"));
    if (req.path == "/v2/leader" && req.method == "GET") {
      if (leader.empty()) return r.Reply(Response::Json("{\"message\":\"There is no leader\"}", 404));
      return r.Reply(Response::Json("{\"leader\":\"" + leader + "\"}"));
    }
    if (leader.empty()) {
      Response res = Response::Json("{\"message\":\"Could not determine the current leader\"}", 503);
      res.headers.emplace_back("Retry-After", "1");
      return r.Reply(std::move(res));
    }
    Response res = Response::Text(307, "");
    res.headers.emplace_back("Location", "http://" + leader + req.path + corral::http::QueryString(req));
    r.Reply(std::move(res));
  }

 private:
  std::mutex mu_;
  std::string leader_;
};

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
  // ZooKeeper. A leader that loses ZooKeeper exits at once (status 1) for
  // its supervisor to start it again as a standby.
  std::unique_ptr<corral::zk::LeaderContender> contender;
  std::unique_ptr<corral::http::Server> standby_http;
  std::string zk_flag = absl::GetFlag(FLAGS_zk);
  absl::StatusOr<std::unique_ptr<corral::marathon::Store>> store;
  if (!zk_flag.empty()) {
    auto url = corral::zk::ParseUrl(zk_flag);
    if (!url.ok()) Die("--zk: " + std::string(url.status().message()));
    double session_timeout =
        corral::cli::DurationFlag(kProgram, "zk_session_timeout", absl::GetFlag(FLAGS_zk_session_timeout), false);
    Standby standby;
    auto listening = corral::http::Server::Start(
        absl::GetFlag(FLAGS_http_address), port,
        [&standby](const corral::http::Request& req, corral::http::Responder& r) { standby.Handle(req, r); });
    if (!listening.ok()) Die(std::string(listening.status().message()));
    port = (*listening)->port();
    std::string self = absl::GetFlag(FLAGS_http_address) + ":" + std::to_string(port);
    corral::zk::Url election = *url;
    election.path += "/leader";
    auto detector = corral::zk::LeaderDetector::StartForData(
        election, "member_", session_timeout, [&standby, self](const std::optional<std::string>& leader) {
          standby.SetLeader(leader && *leader != self ? *leader : "");
        });
    std::atomic<bool> elected{false};
    corral::zk::LeaderContender::Callbacks callbacks;
    callbacks.elected = [&elected] { elected = true; };
    callbacks.lost = [](const std::string& why) {
      CORRAL_LOG(ERROR) << "Exiting: " << why;
      std::fflush(stderr);
      std::_Exit(1);
    };
    auto c = corral::zk::LeaderContender::Start(election, "member_", self, session_timeout, callbacks);
    if (!c.ok()) Die("--zk: " + std::string(c.status().message()));
    contender = std::move(*c);
    std::cout << "corral-marathon: standing by on http://" << self << " until elected" << std::endl;
    timespec tick{0, 100 * 1000 * 1000};
    while (!elected) {
      int sig = sigtimedwait(&stop, nullptr, &tick);
      if (sig > 0) {
        CORRAL_LOG(INFO) << "Received signal " << sig << " while standing by; stopping";
        return 0;
      }
    }
    (*listening)->Stop();
    detector.reset();
    store = corral::marathon::OpenZkStore(contender->session(), url->path + "/state", contender->node());
    if (!store.ok()) {
      CORRAL_LOG(ERROR) << "Exiting: cannot open the store in ZooKeeper: " << store.status().message();
      return 1;
    }
    CORRAL_LOG(INFO) << "Elected: leading as http://" << self;
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
  auto http = corral::http::Server::Start(absl::GetFlag(FLAGS_http_address), port,
                                          corral::marathon::MakeRestHandler(&service, ro));
  if (!http.ok()) Die(std::string(http.status().message()));
  ro.leader = absl::GetFlag(FLAGS_http_address) + ":" + std::to_string((*http)->port());

  corral::framework::FrameworkOptions fo;
  fo.master = master;
  fo.name = ro.framework_name;
  fo.role = so.role;
  fo.principal = absl::GetFlag(FLAGS_principal);
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
