// corral: the command-line tool.
//   corral local                 a master and agents in this process
//   corral run [flags] -- CMD    run one task and stream its output
//   corral agents|frameworks|tasks
//   corral maintenance schedule|status|start|stop
//   corral drain AGENT_ID | corral reactivate AGENT_ID
//   corral reserve|unreserve AGENT_ID RESOURCES --role=R
//   corral quota [set ROLE] | corral weights [set ROLE=W...] | corral roles
// The operator commands send Mesos's operator calls over gRPC's
// OperatorService.Call: the same calls, answers and errors as /api/v1.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "corral/common/duration.h"
#include "corral/auth/credentials.h"
#include "corral/tls/channel_credentials.h"
#include "corral/common/logging.h"
#include "corral/common/process.h"
#include "corral/common/resources.h"
#include "corral/common/task_state.h"
#include "corral/local/local_cluster.h"
#include "corral/scheduler.h"
#include "corral/v1/internal.grpc.pb.h"
#include "corral/v1/master.pb.h"
#include "corral/zookeeper/leader.h"
#include "google/protobuf/util/json_util.h"
#include <fstream>

ABSL_FLAG(std::string, master, "127.0.0.1:5050",
          "Master to talk to: host:port, or zk://host:port[,...]/path for the leader elected there.");
ABSL_FLAG(int, agents, 2, "corral local: number of agents.");
ABSL_FLAG(int, port, 5050, "corral local: master port.");
ABSL_FLAG(std::string, agent_resources, "cpus:4;mem:4096;disk:10240;ports:[31000-32000]",
          "corral local: resources of each agent.");
ABSL_FLAG(std::string, work_dir, "", "corral local: work directory (default: a new temporary one).");
ABSL_FLAG(double, cpus, 0.1, "corral run: cpus for the task.");
ABSL_FLAG(double, mem, 32, "corral run: memory (MB) for the task.");
ABSL_FLAG(double, disk, 0, "corral run: disk (MB) for the task.");
ABSL_FLAG(std::string, role, "*",
          "corral run: role to run the task in; corral reserve/unreserve: the role reserved for.");
ABSL_FLAG(std::string, name, "", "corral run: task name (default: the command).");
ABSL_FLAG(bool, shell, false, "corral run: run the command through /bin/sh -c.");
ABSL_FLAG(std::string, offer_wait, "60secs", "corral run: how long to wait for a large enough offer.");
ABSL_FLAG(std::string, schedule, "",
          "corral maintenance schedule: a file with the new schedule as JSON (Mesos's maintenance Schedule); "
          "without it, the current schedule is printed.");
ABSL_FLAG(std::string, max_grace_period, "",
          "corral drain: the longest kill grace period the agent's tasks get (default: their own).");
ABSL_FLAG(bool, mark_gone, false, "corral drain: remove the agent for good once it is drained.");
ABSL_FLAG(std::string, principal, "", "corral reserve/unreserve: the principal the reservation is made by.");
ABSL_FLAG(std::string, guarantee, "", "corral quota set: the role's guaranteed quantities, as \"cpus:2;mem:1024\".");
ABSL_FLAG(std::string, limit, "", "corral quota set: the most the role may be allocated, as \"cpus:8;mem:8192\".");
ABSL_FLAG(bool, force, false, "corral quota set: set a guarantee even if the cluster cannot hold it now.");
ABSL_FLAG(std::string, log_level, "warning", "debug, info, warning or error.");
ABSL_FLAG(bool, ssl, false,
          "Reach the master and agents over TLS (also on with --ssl_ca_file or --ssl_cert_file, or "
          "LIBPROCESS_SSL_ENABLED=true).");
ABSL_FLAG(std::string, ssl_ca_file, "",
          "PEM CA certificates the master's and agents' certificates are verified against (default: "
          "LIBPROCESS_SSL_CA_FILE, else the system's).");
ABSL_FLAG(std::string, ssl_cert_file, "",
          "PEM client certificate, for daemons with --ssl_require_cert (default: LIBPROCESS_SSL_CERT_FILE).");
ABSL_FLAG(std::string, ssl_key_file, "", "PEM key of --ssl_cert_file (default: LIBPROCESS_SSL_KEY_FILE).");
ABSL_FLAG(std::string, credential, "",
          "File with the principal and secret to authenticate to the master with (default: CORRAL_PRINCIPAL and "
          "CORRAL_SECRET, or the file CORRAL_CREDENTIAL names).");

namespace {

using namespace corral;

[[noreturn]] void Die(const std::string& msg, int code = 2) {
  std::cerr << "corral: " << msg << std::endl;
  std::exit(code);
}

// The leading master's host:port, looked up once in ZooKeeper.
std::string LeaderOf(const std::string& url) {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<std::string> found;
  auto detector = corral::zk::MasterDetector::Start(url, [&](const std::string& address) {
    std::lock_guard<std::mutex> lock(mu);
    if (!found || !address.empty()) found = address;
    cv.notify_all();
  });
  if (!detector.ok()) Die("--master: " + std::string(detector.status().message()));
  std::unique_lock<std::mutex> lock(mu);
  cv.wait_for(lock, std::chrono::seconds(10), [&] { return found && !found->empty(); });
  if (!found || found->empty()) Die("--master: no master leads under " + url + " (or ZooKeeper cannot be reached)");
  return *found;
}

// The credential of --credential or the environment; nullopt: none.
const std::optional<auth::Credential>& Credential() {
  static const std::optional<auth::Credential> credential = [] {
    if (!absl::GetFlag(FLAGS_credential).empty()) {
      auto c = auth::LoadCredential(absl::GetFlag(FLAGS_credential));
      if (!c.ok()) Die("--credential: " + std::string(c.status().message()));
      return std::optional<auth::Credential>(*c);
    }
    auto c = auth::CredentialFromEnvironment();
    if (!c.ok()) Die(std::string(c.status().message()));
    return *c;
  }();
  return credential;
}

// TLS as the --ssl* flags say, else as LIBPROCESS_SSL_* does.
const tls::TlsOptions& ClientTls() {
  static const tls::TlsOptions options = [] {
    auto env = tls::TlsFromEnvironment();
    if (!env.ok()) Die(std::string(env.status().message()));
    tls::TlsOptions o = *env;
    for (auto [flag, field] : {std::pair{&FLAGS_ssl_ca_file, &o.ca_file}, std::pair{&FLAGS_ssl_cert_file, &o.cert_file},
                               std::pair{&FLAGS_ssl_key_file, &o.key_file}}) {
      if (!absl::GetFlag(*flag).empty()) {
        *field = absl::GetFlag(*flag);
        o.enabled = true;
      }
    }
    o.enabled = o.enabled || absl::GetFlag(FLAGS_ssl);
    return o;
  }();
  return options;
}

// A channel to a master or an agent, over TLS where ClientTls says.
std::shared_ptr<grpc::Channel> Channel(const std::string& address) {
  static const std::shared_ptr<grpc::ChannelCredentials> credentials = [] {
    auto c = tls::ChannelCredentials(ClientTls());
    if (!c.ok()) Die("TLS: " + std::string(c.status().message()));
    return *c;
  }();
  return grpc::CreateChannel(address, credentials);
}

void Authorize(grpc::ClientContext* ctx) {
  if (Credential()) ctx->AddMetadata("authorization", auth::BasicAuthorization(*Credential()));
}

absl::StatusOr<v1::internal::ClusterState> FetchState(const std::string& master) {
  auto stub = v1::internal::OperatorService::NewStub(Channel(master));
  grpc::ClientContext ctx;
  Authorize(&ctx);
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1::internal::ClusterState state;
  grpc::Status s = stub->GetState(&ctx, v1::internal::GetClusterState(), &state);
  if (!s.ok()) {
    return absl::UnavailableError(absl::StrCat("cannot reach the master at ", master, ": ", s.error_message(),
                                               " (is corral-master running there? set --master)"));
  }
  return state;
}

std::string Short(const std::string& id) { return id.size() > 12 ? "…" + id.substr(id.size() - 11) : id; }

void PrintTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size(); ++i) {
      if (widths.size() <= i) widths.push_back(0);
      widths[i] = std::max(widths[i], r[i].size());
    }
  }
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size(); ++i) {
      std::cout << std::left << std::setw(static_cast<int>(widths[i]) + 2) << r[i];
    }
    std::cout << "\n";
  }
}

std::string Fmt(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

int Agents(const std::string& master) {
  auto state = FetchState(master);
  if (!state.ok()) Die(std::string(state.status().message()));
  std::vector<std::vector<std::string>> rows = {{"ID", "ADDRESS", "CPUS", "MEM", "STATE"}};
  for (const auto& a : state->agents()) {
    auto total = Resources::FromProto(a.total());
    auto used = Resources::FromProto(a.allocated());
    rows.push_back({a.agent_info().id().value(), absl::StrCat(a.agent_info().hostname(), ":", a.agent_info().port()),
                    Fmt(FromMilli(used->Scalar("cpus"))) + "/" + Fmt(FromMilli(total->Scalar("cpus"))),
                    Fmt(FromMilli(used->Scalar("mem"))) + "/" + Fmt(FromMilli(total->Scalar("mem"))),
                    a.active() ? "active" : "unreachable"});
  }
  PrintTable(rows);
  return 0;
}

int Frameworks(const std::string& master) {
  auto state = FetchState(master);
  if (!state.ok()) Die(std::string(state.status().message()));
  std::vector<std::vector<std::string>> rows = {{"ID", "NAME", "ROLES", "TASKS", "CONNECTED"}};
  for (const auto& f : state->frameworks()) {
    int tasks = 0;
    for (const auto& t : state->tasks())
      if (t.framework_id().value() == f.framework_info().id().value()) ++tasks;
    std::vector<std::string> roles(f.framework_info().roles().begin(), f.framework_info().roles().end());
    if (roles.empty()) roles.push_back("*");  // the default role of a framework without MULTI_ROLE
    rows.push_back({f.framework_info().id().value(), f.framework_info().name(), absl::StrJoin(roles, ","),
                    std::to_string(tasks), f.connected() ? "yes" : "no"});
  }
  PrintTable(rows);
  return 0;
}

int Tasks(const std::string& master) {
  auto state = FetchState(master);
  if (!state.ok()) Die(std::string(state.status().message()));
  std::vector<std::vector<std::string>> rows = {{"ID", "NAME", "FRAMEWORK", "AGENT", "STATE"}};
  auto add = [&](const v1::Task& t) {
    rows.push_back({t.task_id().value(), t.name(), Short(t.framework_id().value()), Short(t.agent_id().value()),
                    v1::TaskState_Name(t.state())});
  };
  for (const auto& t : state->tasks()) add(t);
  for (const auto& t : state->completed_tasks()) add(t);
  PrintTable(rows);
  return 0;
}

int Local() {
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  RaiseFileLimit();  // a whole cluster's connections and containers in one process
  LocalClusterOptions opts;
  opts.agents = absl::GetFlag(FLAGS_agents);
  if (opts.agents < 1) Die("--agents must be at least 1");
  opts.master_port = absl::GetFlag(FLAGS_port);
  opts.agent_resources = absl::GetFlag(FLAGS_agent_resources);
  auto check = Resources::Parse(opts.agent_resources);
  if (!check.ok()) Die("--agent_resources: " + std::string(check.status().message()));
  opts.work_dir = absl::GetFlag(FLAGS_work_dir);
  opts.keep_work_dir = !opts.work_dir.empty();
  auto cluster = LocalCluster::Start(opts);
  if (!cluster.ok()) Die(std::string(cluster.status().message()), 1);
  if (auto s = (*cluster)->WaitForAgents(10); !s.ok()) Die(std::string(s.message()), 1);
  std::cout << "Corral master at " << (*cluster)->master_address() << " with " << opts.agents << " agents (work dir "
            << (*cluster)->work_dir() << ").\n"
            << (*cluster)->agent(0).cgroups_status() << ".\n"
            << "Try: corral run --master=" << (*cluster)->master_address() << " -- echo hello\n"
            << "Ctrl-C stops the cluster." << std::endl;
  int sig = 0;
  sigwait(&stop, &sig);
  std::cout << "Stopping." << std::endl;
  (*cluster)->Shutdown();
  return 0;
}

// The scheduler behind `corral run`: one task, then done.
class RunScheduler : public Scheduler {
 public:
  RunScheduler(v1::TaskInfo task, Resources need, std::string role)
      : task_(std::move(task)), need_(std::move(need)), role_(std::move(role)) {}

  void offers(SchedulerDriver* driver, const std::vector<v1::Offer>& offers) override {
    std::vector<v1::OfferID> decline;
    for (const v1::Offer& o : offers) {
      std::lock_guard<std::mutex> lock(mu_);
      auto have = Resources::FromProto(o.resources());
      if (launched_ || !have.ok() || !have->AllocatableTo(role_).Flattened().Contains(need_)) {
        decline.push_back(o.id());
        continue;
      }
      launched_ = true;
      v1::TaskInfo t = task_;
      *t.mutable_agent_id() = o.agent_id();
      // Take the resources from what the offer holds (reserved first).
      Resources take;
      Resources left = need_;
      const Resources usable = have->AllocatableTo(role_);
      for (const ResourceItem& item : usable.items()) {
        if (item.kind != ResourceKind::kScalar || left.Scalar(item.name) <= 0) continue;
        ResourceItem part = item;
        part.scalar = std::min(item.scalar, left.Scalar(item.name));
        ResourceItem minus;
        minus.name = item.name;
        minus.scalar = part.scalar;
        Resources m;
        m.Add(minus);
        left -= m;
        take.Add(part);
      }
      take.ToProto(t.mutable_resources(), o.allocation_info().role());
      agent_ = o.agent_id().value();
      v1::Filters f;
      f.set_refuse_seconds(3600);
      absl::Status s = driver->launch(o.id(), {t}, f);
      if (!s.ok()) Finish(absl::StrCat("the master refused the task: ", s.message()));
      (void)driver->suppress();
    }
    v1::Filters f;
    f.set_refuse_seconds(3600);
    if (!decline.empty()) (void)driver->decline(decline, f);
  }

  void update(SchedulerDriver*, const v1::TaskStatus& st) override {
    std::lock_guard<std::mutex> lock(mu_);
    last_ = st;
    if (st.state() == v1::TASK_RUNNING) running_ = true;
    // Over: a terminal state (TASK_GONE_BY_OPERATOR too), or a master that
    // no longer knows the task.
    if (IsTerminalState(st.state()) || st.state() == v1::TASK_UNKNOWN) done_ = true;
    cv_.notify_all();
  }

  void error(SchedulerDriver*, const std::string& message) override { Finish(message); }

  void Finish(const std::string& why) {
    std::lock_guard<std::mutex> lock(mu_);
    fatal_ = why;
    done_ = true;
    cv_.notify_all();
  }

  std::mutex mu_;
  std::condition_variable cv_;
  v1::TaskInfo task_;
  Resources need_;
  std::string role_;
  bool launched_ = false;
  bool running_ = false;
  bool done_ = false;
  std::string agent_;
  std::string fatal_;
  v1::TaskStatus last_;
};

int ExitCodeOf(const v1::TaskStatus& st) {
  if (st.state() == v1::TASK_FINISHED) return 0;
  const std::string& m = st.message();
  int code;
  if (absl::StartsWith(m, "Command exited with status ") &&
      absl::SimpleAtoi(m.substr(std::string("Command exited with status ").size()), &code)) {
    return code;
  }
  if (st.state() == v1::TASK_KILLED || absl::StartsWith(m, "Command terminated with signal")) return 137;
  return 1;
}

int Run(const std::string& master, const std::vector<std::string>& cmd) {
  if (cmd.empty()) Die("corral run needs a command after --, e.g. corral run -- echo hello");
  auto state = FetchState(master);
  if (!state.ok()) Die(std::string(state.status().message()));
  auto offer_wait = ParseDurationSeconds(absl::GetFlag(FLAGS_offer_wait));
  if (!offer_wait.ok()) Die("--offer_wait: " + std::string(offer_wait.status().message()));
  double cpus = absl::GetFlag(FLAGS_cpus), mem = absl::GetFlag(FLAGS_mem), disk = absl::GetFlag(FLAGS_disk);
  if (!(cpus > 0) || !(mem > 0) || disk < 0) Die("--cpus and --mem must be positive, --disk not negative");
  auto need = Resources::Parse(absl::StrCat("cpus:", cpus, ";mem:", mem, disk > 0 ? absl::StrCat(";disk:", disk) : ""));
  if (!need.ok()) Die(std::string(need.status().message()));

  v1::TaskInfo task;
  task.mutable_task_id()->set_value(
      absl::StrCat("run-", getpid(), "-", std::chrono::steady_clock::now().time_since_epoch().count() % 1000000));
  task.set_name(absl::GetFlag(FLAGS_name).empty() ? absl::StrJoin(cmd, " ") : absl::GetFlag(FLAGS_name));
  if (absl::GetFlag(FLAGS_shell)) {
    task.mutable_command()->set_shell(true);
    task.mutable_command()->set_value(absl::StrJoin(cmd, " "));
  } else {
    task.mutable_command()->set_shell(false);
    task.mutable_command()->set_value(cmd[0]);
    for (const auto& a : cmd) task.mutable_command()->add_arguments(a);
  }
  std::string role = absl::GetFlag(FLAGS_role);
  RunScheduler sched(task, *need, role);
  v1::FrameworkInfo fw;
  fw.set_name("corral-run");
  if (role != "*") {
    fw.add_roles(role);
    fw.add_capabilities()->set_type(v1::FrameworkInfo::Capability::MULTI_ROLE);
  }
  SchedulerDriverOptions driver_options;
  if (Credential()) {
    driver_options.principal = Credential()->principal;
    driver_options.secret = Credential()->secret;
  }
  if (ClientTls().enabled) {
    driver_options.tls = true;
    driver_options.tls_ca_file = ClientTls().ca_file;
    driver_options.tls_cert_file = ClientTls().cert_file;
    driver_options.tls_key_file = ClientTls().key_file;
  }
  SchedulerDriver driver(&sched, fw, master, driver_options);
  if (auto s = driver.start(); !s.ok()) Die(std::string(s.message()));

  auto sandbox =
      v1::internal::SandboxService::NewStub(grpc::CreateChannel("unused:1", grpc::InsecureChannelCredentials()));
  std::string agent_addr;
  int64_t offsets[2] = {0, 0};
  auto pump = [&](bool final) {
    std::string agent_id;
    {
      std::lock_guard<std::mutex> lock(sched.mu_);
      agent_id = sched.agent_;
    }
    if (agent_id.empty()) return;
    if (agent_addr.empty()) {
      auto st = FetchState(master);
      if (!st.ok()) return;
      for (const auto& a : st->agents()) {
        if (a.agent_info().id().value() == agent_id) {
          agent_addr = absl::StrCat(a.agent_info().hostname(), ":", a.agent_info().port());
        }
      }
      if (agent_addr.empty()) return;
      sandbox = v1::internal::SandboxService::NewStub(Channel(agent_addr));
    }
    const char* files[2] = {"stdout", "stderr"};
    for (int i = 0; i < 2; ++i) {
      while (true) {
        v1::internal::ReadFileRequest req;
        req.mutable_framework_id()->set_value(driver.framework_id().value());
        req.mutable_task_id()->set_value(task.task_id().value());
        req.set_path(files[i]);
        req.set_offset(offsets[i]);
        req.set_length(1 << 20);
        v1::internal::ReadFileResponse resp;
        grpc::ClientContext ctx;
        Authorize(&ctx);
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
        if (!sandbox->ReadFile(&ctx, req, &resp).ok() || resp.data().empty()) break;
        offsets[i] += static_cast<int64_t>(resp.data().size());
        (i == 0 ? std::cout : std::cerr) << resp.data() << std::flush;
        if (!final) break;
      }
    }
  };

  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(*offer_wait);
  while (true) {
    std::unique_lock<std::mutex> lock(sched.mu_);
    if (sched.done_) break;
    if (!sched.launched_ && std::chrono::steady_clock::now() > deadline) {
      lock.unlock();
      (void)driver.stop(false);
      Die(absl::StrCat("no offer with ", need->ToString(), " in role '", role, "' arrived within ",
                       absl::GetFlag(FLAGS_offer_wait)),
          1);
    }
    sched.cv_.wait_for(lock, std::chrono::milliseconds(100));
    bool running = sched.running_;
    lock.unlock();
    if (running) pump(false);
  }
  pump(true);
  v1::TaskStatus last;
  std::string fatal;
  {
    std::lock_guard<std::mutex> lock(sched.mu_);
    last = sched.last_;
    fatal = sched.fatal_;
  }
  (void)driver.stop(false);
  if (!fatal.empty()) Die(fatal, 1);
  if (last.state() != v1::TASK_FINISHED) {
    std::cerr << "corral: task " << v1::TaskState_Name(last.state())
              << (last.message().empty() ? "" : ": " + last.message()) << std::endl;
  }
  return ExitCodeOf(last);
}

std::string ToJson(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions opts;
  opts.add_whitespace = true;
  opts.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, opts);
  return out;
}

// One call of the operator API over gRPC (the same calls /api/v1 takes);
// dies with the master's message on an error, naming `what`.
v1::master::Response OperatorCall(const std::string& master, const v1::master::Call& call, const std::string& what) {
  auto stub = v1::internal::OperatorService::NewStub(Channel(master));
  grpc::ClientContext ctx;
  Authorize(&ctx);
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::master::Response response;
  grpc::Status st = stub->Call(&ctx, call, &response);
  if (st.error_code() == grpc::StatusCode::UNAVAILABLE || st.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    Die(what + ": cannot reach the master at " + master + ": " + st.error_message() +
            " (is corral-master running there? set --master)",
        1);
  }
  if (!st.ok()) Die(what + ": " + st.error_message(), 1);
  return response;
}

v1::master::Call CallOf(v1::master::Call::Type type) {
  v1::master::Call call;
  call.set_type(type);
  return call;
}

// corral maintenance schedule [--schedule=FILE] | status | start HOST... | stop HOST...
int Maintenance(const std::string& master, const std::vector<std::string>& args) {
  if (args.empty()) Die("maintenance: missing subcommand; one of schedule, status, start, stop");
  const std::string& sub = args[0];
  const std::string what = "maintenance " + sub;
  if (sub == "schedule") {
    std::string file = absl::GetFlag(FLAGS_schedule);
    if (file.empty()) {
      auto response = OperatorCall(master, CallOf(v1::master::Call::GET_MAINTENANCE_SCHEDULE), what);
      std::cout << ToJson(response.get_maintenance_schedule().schedule());
      return 0;
    }
    std::ifstream in(file);
    if (!in) Die("--schedule: cannot read " + file);
    std::stringstream text;
    text << in.rdbuf();
    auto call = CallOf(v1::master::Call::UPDATE_MAINTENANCE_SCHEDULE);
    auto parsed = google::protobuf::util::JsonStringToMessage(
        text.str(), call.mutable_update_maintenance_schedule()->mutable_schedule());
    if (!parsed.ok()) Die("--schedule: " + file + " is not a maintenance schedule: " + std::string(parsed.message()));
    OperatorCall(master, call, what);
    return 0;
  }
  if (sub == "status") {
    auto response = OperatorCall(master, CallOf(v1::master::Call::GET_MAINTENANCE_STATUS), what);
    std::cout << ToJson(response.get_maintenance_status().status());
    return 0;
  }
  if (sub == "start" || sub == "stop") {
    if (args.size() < 2) Die(what + ": name the machines (hostnames)");
    auto call = CallOf(sub == "start" ? v1::master::Call::START_MAINTENANCE : v1::master::Call::STOP_MAINTENANCE);
    auto* machines = sub == "start" ? call.mutable_start_maintenance()->mutable_machines()
                                    : call.mutable_stop_maintenance()->mutable_machines();
    for (size_t i = 1; i < args.size(); ++i) machines->Add()->set_hostname(args[i]);
    OperatorCall(master, call, what);
    return 0;
  }
  Die("maintenance: unknown subcommand '" + sub + "'; one of schedule, status, start, stop");
}

// corral drain AGENT_ID [--max_grace_period=D] [--mark_gone] | corral reactivate AGENT_ID
int Drain(const std::string& master, const std::string& cmd, const std::vector<std::string>& args) {
  if (args.size() != 1) Die(cmd + ": name one agent ID (see `corral agents`)");
  v1::master::Call call;
  if (cmd == "drain") {
    call = CallOf(v1::master::Call::DRAIN_AGENT);
    auto* drain = call.mutable_drain_agent();
    drain->mutable_agent_id()->set_value(args[0]);
    if (!absl::GetFlag(FLAGS_max_grace_period).empty()) {
      auto grace = ParseDurationSeconds(absl::GetFlag(FLAGS_max_grace_period));
      if (!grace.ok()) Die("--max_grace_period: " + std::string(grace.status().message()));
      const auto nanos = static_cast<int64_t>(*grace * 1e9);
      drain->mutable_max_grace_period()->set_seconds(nanos / 1'000'000'000);
      drain->mutable_max_grace_period()->set_nanos(static_cast<int32_t>(nanos % 1'000'000'000));
    }
    drain->set_mark_gone(absl::GetFlag(FLAGS_mark_gone));
  } else {
    call = CallOf(v1::master::Call::REACTIVATE_AGENT);
    call.mutable_reactivate_agent()->mutable_agent_id()->set_value(args[0]);
  }
  OperatorCall(master, call, cmd);
  return 0;
}

// corral reserve|unreserve AGENT_ID RESOURCES --role=R [--principal=P]:
// RESOURCES in the agents' text syntax ("cpus:2;mem:512"), reserved
// dynamically for R (Mesos's RESERVE_RESOURCES and UNRESERVE_RESOURCES).
int Reserve(const std::string& master, const std::string& cmd, const std::vector<std::string>& args) {
  if (args.size() != 2)
    Die(cmd + ": give an agent ID and the resources, e.g. `corral " + cmd + " AGENT 'cpus:2;mem:512' --role=R`");
  std::string role = absl::GetFlag(FLAGS_role);
  if (role.empty() || role == "*") Die(cmd + ": name the role the resources are reserved for with --role");
  auto parsed = Resources::Parse(args[1]);
  if (!parsed.ok()) Die(cmd + ": " + args[1] + ": " + std::string(parsed.status().message()));
  Resources reserved;
  for (ResourceItem item : parsed->items()) {
    if (!item.role.empty() && item.role != "*")
      Die(cmd + ": give unreserved resources (no \"(role)\"); --role names the role");
    item.role = role;
    item.dynamic = true;
    reserved.Add(item);
  }
  bool reserve = cmd == "reserve";
  auto call = CallOf(reserve ? v1::master::Call::RESERVE_RESOURCES : v1::master::Call::UNRESERVE_RESOURCES);
  if (reserve) {
    call.mutable_reserve_resources()->mutable_agent_id()->set_value(args[0]);
    reserved.ToProto(call.mutable_reserve_resources()->mutable_resources());
  } else {
    call.mutable_unreserve_resources()->mutable_agent_id()->set_value(args[0]);
    reserved.ToProto(call.mutable_unreserve_resources()->mutable_resources());
  }
  auto* resources = reserve ? call.mutable_reserve_resources()->mutable_resources()
                            : call.mutable_unreserve_resources()->mutable_resources();
  if (!absl::GetFlag(FLAGS_principal).empty()) {
    for (auto& r : *resources) {
      for (auto& res : *r.mutable_reservations()) res.set_principal(absl::GetFlag(FLAGS_principal));
    }
  }
  OperatorCall(master, call, cmd);
  return 0;
}

std::string QuantitiesText(const google::protobuf::Map<std::string, v1::Value::Scalar>& q) {
  std::vector<std::string> parts;
  std::map<std::string, double> sorted;
  for (const auto& [name, value] : q) sorted[name] = value.value();
  for (const auto& [name, value] : sorted) parts.push_back(name + ":" + Fmt(value));
  return parts.empty() ? "-" : absl::StrJoin(parts, ";");
}

// corral quota | corral quota set ROLE [--guarantee=Q] [--limit=Q] [--force]
int Quota(const std::string& master, const std::vector<std::string>& args) {
  if (args.empty()) {
    auto response = OperatorCall(master, CallOf(v1::master::Call::GET_QUOTA), "quota");
    std::vector<std::vector<std::string>> rows = {{"ROLE", "GUARANTEE", "LIMIT"}};
    for (const auto& c : response.get_quota().status().configs()) {
      rows.push_back({c.role(), QuantitiesText(c.guarantees()), QuantitiesText(c.limits())});
    }
    PrintTable(rows);
    return 0;
  }
  if (args[0] != "set" || args.size() != 2)
    Die("quota: `corral quota` shows quotas, `corral quota set ROLE --guarantee=Q --limit=Q` sets one");
  auto call = CallOf(v1::master::Call::UPDATE_QUOTA);
  call.mutable_update_quota()->set_force(absl::GetFlag(FLAGS_force));
  auto* config = call.mutable_update_quota()->add_quota_configs();
  config->set_role(args[1]);
  auto fill = [&](const std::string& flag, const std::string& text,
                  google::protobuf::Map<std::string, v1::Value::Scalar>* out) {
    if (text.empty()) return;
    auto q = Quantities::Parse(text);
    if (!q.ok()) Die("--" + flag + ": " + std::string(q.status().message()));
    for (const auto& [name, value] : q->entries()) (*out)[name].set_value(FromMilli(value));
  };
  fill("guarantee", absl::GetFlag(FLAGS_guarantee), config->mutable_guarantees());
  fill("limit", absl::GetFlag(FLAGS_limit), config->mutable_limits());
  OperatorCall(master, call, "quota set");
  return 0;
}

// corral weights | corral weights set ROLE=WEIGHT...
int Weights(const std::string& master, const std::vector<std::string>& args) {
  if (args.empty()) {
    auto response = OperatorCall(master, CallOf(v1::master::Call::GET_WEIGHTS), "weights");
    std::vector<std::vector<std::string>> rows = {{"ROLE", "WEIGHT"}};
    for (const auto& w : response.get_weights().weight_infos()) rows.push_back({w.role(), Fmt(w.weight())});
    PrintTable(rows);
    return 0;
  }
  if (args[0] != "set" || args.size() < 2)
    Die("weights: `corral weights` shows weights, `corral weights set ROLE=W...` sets them");
  auto call = CallOf(v1::master::Call::UPDATE_WEIGHTS);
  for (size_t i = 1; i < args.size(); ++i) {
    auto eq = args[i].find('=');
    double weight = 0;
    if (eq == std::string::npos || eq == 0 || !absl::SimpleAtod(args[i].substr(eq + 1), &weight)) {
      Die("weights set: '" + args[i] + "' is not ROLE=WEIGHT");
    }
    auto* info = call.mutable_update_weights()->add_weight_infos();
    info->set_role(args[i].substr(0, eq));
    info->set_weight(weight);
  }
  OperatorCall(master, call, "weights set");
  return 0;
}

// corral roles: every role with a weight, a quota or a framework.
int Roles(const std::string& master) {
  auto response = OperatorCall(master, CallOf(v1::master::Call::GET_ROLES), "roles");
  std::vector<std::vector<std::string>> rows = {{"ROLE", "WEIGHT", "FRAMEWORKS", "GUARANTEE", "LIMIT"}};
  for (const auto& r : response.get_roles().roles()) {
    rows.push_back({r.name(), Fmt(r.weight()), std::to_string(r.frameworks_size()),
                    QuantitiesText(r.quota().guarantees()), QuantitiesText(r.quota().limits())});
  }
  PrintTable(rows);
  return 0;
}

}  // namespace

constexpr char kCommands[] =
    "one of local, run, agents, frameworks, tasks, maintenance, drain, reactivate, reserve, unreserve, quota, "
    "weights, roles";

int main(int argc, char** argv) {
  absl::FlagsUsageConfig config;
  config.contains_help_flags = [](absl::string_view file) { return absl::EndsWith(file, "corral_main.cc"); };
  config.contains_helpshort_flags = config.contains_help_flags;
  absl::SetFlagsUsageConfig(config);
  absl::SetProgramUsageMessage(
      "Corral command line.\n"
      "  corral local [--agents=N --port=P]       run a master and N agents in this process\n"
      "  corral run [--cpus --mem --role] -- CMD  run CMD as a task, stream its output, exit with its code\n"
      "  corral agents | frameworks | tasks       show the cluster\n"
      "  corral maintenance schedule [--schedule=FILE] | status | start HOST... | stop HOST...\n"
      "                                           maintenance windows and machines down/up\n"
      "  corral drain AGENT_ID [--max_grace_period=D --mark_gone] | corral reactivate AGENT_ID\n"
      "                                           kill an agent's tasks and keep it out of offers, or undo it\n"
      "  corral reserve|unreserve AGENT_ID 'cpus:2;mem:512' --role=R [--principal=P]\n"
      "                                           set an agent's resources aside for a role, or give them back\n"
      "  corral quota [set ROLE --guarantee=Q --limit=Q [--force]]   show or set a role's quota\n"
      "  corral weights [set ROLE=W...]           show or set roles' weights\n"
      "  corral roles                             roles with their weights, quotas and frameworks\n");
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  corral::LogLevel level;
  if (!corral::ParseLogLevel(absl::GetFlag(FLAGS_log_level), &level))
    Die("--log_level must be debug, info, warning or error");
  corral::SetLogLevel(level);
  if (rest.size() < 2) { Die(std::string("missing command; ") + kCommands + " (see --help)"); }
  std::string cmd = rest[1];
  std::string master = absl::GetFlag(FLAGS_master);
  if (cmd == "local") return Local();
  if (corral::zk::IsZkUrl(master)) master = LeaderOf(master);
  if (cmd == "agents") return Agents(master);
  if (cmd == "frameworks") return Frameworks(master);
  if (cmd == "tasks") return Tasks(master);
  if (cmd == "run") return Run(master, std::vector<std::string>(rest.begin() + 2, rest.end()));
  if (cmd == "maintenance") return Maintenance(master, std::vector<std::string>(rest.begin() + 2, rest.end()));
  std::vector<std::string> args(rest.begin() + 2, rest.end());
  if (cmd == "drain" || cmd == "reactivate") return Drain(master, cmd, args);
  if (cmd == "reserve" || cmd == "unreserve") return Reserve(master, cmd, args);
  if (cmd == "quota") return Quota(master, args);
  if (cmd == "weights") return Weights(master, args);
  if (cmd == "roles") return Roles(master);
  Die("unknown command '" + cmd + "'; " + kCommands);
}
