// Who may talk to a master, with the real daemons as processes on loopback:
// authentication of frameworks, agents and operators over gRPC (the HTTP
// side is tests/http_api/test_security.py), and the identities nobody can
// take over by knowing an ID: an agent's, a framework's.
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/escaping.h"
#include "corral/auth/executor_tokens.h"
#include "corral/tls/channel_credentials.h"
#include "corral/v1/internal.grpc.pb.h"
#include "daemons.h"
#include "test_util.h"

namespace corral {
namespace {

using testing::Child;
using testing::PollUntil;
using testing::ReadAll;
using testing::RecordingScheduler;
using v1::internal::AgentMessage;
using v1::internal::MasterMessage;

std::string Basic(const std::string& principal, const std::string& secret) {
  return "Basic " + absl::Base64Escape(principal + ":" + secret);
}

class SecurityTest : public testing::DaemonTest {
 protected:
  void SetUp() override {
    DaemonTest::SetUp();
    std::ofstream(dir_ + "/credentials") << R"({"credentials": [{"principal": "ops", "secret": "ops-secret"},
                                {"principal": "web", "secret": "web-secret"},
                                {"principal": "agent", "secret": "agent-secret"}]})";
    std::ofstream(dir_ + "/agent-credential") << "agent agent-secret\n";
    std::ofstream(dir_ + "/wrong-credential") << "agent not-its-secret\n";
  }
  // A master that authenticates everyone.
  void StartGuardedMaster() {
    std::vector<std::string> args = MasterArgs();
    for (const char* f : {"--authenticate_frameworks", "--authenticate_agents", "--authenticate_http_readonly",
                          "--authenticate_http_readwrite"}) {
      args.push_back(f);
    }
    args.push_back("--credentials=" + dir_ + "/credentials");
    master_ = std::make_unique<Child>(args, dir_, LogName("master"));
    ASSERT_TRUE(testing::WaitForListening(master_addr_, 30));
  }
  // The master's state as `authorization` may read it.
  grpc::Status State(const std::string& authorization, v1::internal::ClusterState* state) {
    if (!stub_) {
      stub_ =
          v1::internal::OperatorService::NewStub(grpc::CreateChannel(master_addr_, grpc::InsecureChannelCredentials()));
    }
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    if (!authorization.empty()) ctx.AddMetadata("authorization", authorization);
    return stub_->GetState(&ctx, v1::internal::GetClusterState(), state);
  }
  bool WaitForAgents(int active, double seconds) {
    return PollUntil(
        [&] {
          v1::internal::ClusterState st;
          if (!State(Basic("ops", "ops-secret"), &st).ok()) return false;
          int n = 0;
          for (const auto& a : st.agents()) n += a.active() ? 1 : 0;
          return n == active;
        },
        seconds);
  }
  bool AgentLogSays(const std::string& text, double seconds) {
    return PollUntil([&] { return absl::StrContains(ReadAll(dir_ + "/" + last_agent_log_ + ".err"), text); }, seconds);
  }
  void StartAgentAs(std::vector<std::string> extra) {
    last_agent_log_ = LogName("agent");
    agent_ = std::make_unique<Child>(AgentArgs(std::move(extra)), dir_, last_agent_log_);
  }

  std::unique_ptr<v1::internal::OperatorService::Stub> stub_;
  std::string last_agent_log_;
};

// A raw agent stream (what a forger writes): sends `first`, returns the
// master's first answer.
MasterMessage FirstAnswer(const std::string& master, const AgentMessage& first, grpc::Status* status) {
  auto stub = v1::internal::AgentService::NewStub(grpc::CreateChannel(master, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  auto stream = stub->Connect(&ctx);
  stream->Write(first);
  MasterMessage answer;
  if (!stream->Read(&answer)) answer.Clear();
  ctx.TryCancel();
  *status = stream->Finish();
  return answer;
}

TEST_F(SecurityTest, OperatorsFrameworksAndAgentsMustProveWhoTheyAre) {
  ASSERT_NO_FATAL_FAILURE(StartGuardedMaster());
  v1::internal::ClusterState state;
  grpc::Status none = State("", &state);
  EXPECT_EQ(none.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(none.error_message(), "no credentials were given");
  grpc::Status wrong = State(Basic("ops", "guess"), &state);
  EXPECT_EQ(wrong.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(wrong.error_message(), "wrong principal or secret");
  ASSERT_TRUE(State(Basic("ops", "ops-secret"), &state).ok());
  // The refusal is logged with the peer, never with the secret.
  std::string log = ReadAll(dir_ + "/master.err");
  EXPECT_TRUE(absl::StrContains(log, "Refused read-only access from 127.0.0.1:")) << log;
  EXPECT_FALSE(absl::StrContains(log, "guess"));

  // An agent without a credential, or with a wrong one, is never admitted
  // and says why; with its credential it is.
  StartAgentAs({});
  EXPECT_TRUE(AgentLogSays("the master refused this agent's credential (no credentials were given)", 20));
  agent_.reset();
  StartAgentAs({"--credential=" + dir_ + "/wrong-credential"});
  EXPECT_TRUE(AgentLogSays("the master refused this agent's credential (wrong principal or secret)", 20));
  agent_.reset();
  ASSERT_TRUE(State(Basic("ops", "ops-secret"), &state).ok());
  EXPECT_EQ(state.agents_size(), 0);
  StartAgentAs({"--credential=" + dir_ + "/agent-credential"});
  ASSERT_TRUE(WaitForAgents(1, 30));

  // A framework without a credential is refused; with one it subscribes,
  // its FrameworkInfo.principal filled in by the SDK.
  {
    RecordingScheduler sched;
    SchedulerDriver driver(&sched, testing::Framework("anonymous"), master_addr_);
    ASSERT_TRUE(driver.start().ok());
    ASSERT_TRUE(sched.WaitFor([&] { return !sched.errors_.empty(); }, 20));
    EXPECT_EQ(sched.Locked([&] { return sched.errors_[0]; }),
              "the master refused the subscription: no credentials were given");
  }
  {
    RecordingScheduler sched;
    SchedulerDriverOptions options;
    options.principal = "web";
    options.secret = "web-secret";
    v1::FrameworkInfo fw = testing::Framework("claims-ops");
    fw.set_principal("ops");  // another principal than it proves
    SchedulerDriver driver(&sched, fw, master_addr_, options);
    ASSERT_TRUE(driver.start().ok());
    ASSERT_TRUE(sched.WaitFor([&] { return !sched.errors_.empty(); }, 20));
    EXPECT_EQ(sched.Locked([&] { return sched.errors_[0]; }),
              "the master refused the subscription: Authenticated principal 'web' does not match principal 'ops' "
              "set in `FrameworkInfo`");
  }
  RecordingScheduler ops_sched;
  SchedulerDriverOptions ops;
  ops.principal = "ops";
  ops.secret = "ops-secret";
  SchedulerDriver ops_driver(&ops_sched, testing::Framework("ops-framework"), master_addr_, ops);
  ASSERT_TRUE(ops_driver.start().ok());
  ASSERT_TRUE(ops_sched.WaitSubscribed(20));
  v1::Offer offer;
  ASSERT_TRUE(ops_sched.TakeOffer(&offer, 20));  // the authenticated agent's resources
  ASSERT_TRUE(State(Basic("ops", "ops-secret"), &state).ok());
  ASSERT_EQ(state.frameworks_size(), 1);
  EXPECT_EQ(state.frameworks(0).framework_info().principal(), "ops");

  // Another principal cannot call for it: not TEARDOWN, not anything.
  auto scheduler_stub =
      v1::internal::SchedulerService::NewStub(grpc::CreateChannel(master_addr_, grpc::InsecureChannelCredentials()));
  v1::scheduler::Call teardown;
  teardown.set_type(v1::scheduler::Call::TEARDOWN);
  teardown.mutable_framework_id()->set_value(ops_driver.framework_id().value());
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", Basic("web", "web-secret"));
  v1::internal::CallResponse resp;
  grpc::Status refused = scheduler_stub->Call(&ctx, teardown, &resp);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(refused.error_message(),
            absl::StrCat("principal 'web' may not call for framework '", ops_driver.framework_id().value(),
                         "', which belongs to principal 'ops'"));
  ASSERT_TRUE(State(Basic("ops", "ops-secret"), &state).ok());
  EXPECT_EQ(state.frameworks_size(), 1);
  EXPECT_TRUE(ops_sched.Locked([&] { return ops_sched.errors_.empty(); }));
}

// --acls over gRPC (the HTTP side, with the sample ACLs, is
// tests/http_api/test_authorization.py): the SDK's subscription in a role
// its principal may not use, state filtered by who reads it, an operator
// call refused, a task as root refused with its reason.
TEST_F(SecurityTest, TheAclsGovernTheGrpcApis) {
  std::ofstream(dir_ + "/acls.json") << R"({"permissive": false,
    "register_frameworks": [{"principals": {"values": ["web"]}, "roles": {"values": ["web", "*"]}}],
    "run_tasks": [{"principals": {"type": "NONE"}, "users": {"values": ["root"]}},
                  {"principals": {"type": "ANY"}, "users": {"type": "ANY"}}],
    "view_frameworks": [{"principals": {"values": ["ops"]}, "users": {"type": "ANY"}}],
    "view_tasks": [{"principals": {"values": ["ops"]}, "users": {"type": "ANY"}}],
    "register_agents": [{"principals": {"values": ["agent"]}, "agents": {"type": "ANY"}}]})";
  std::vector<std::string> args = MasterArgs();
  for (const char* f : {"--authenticate_frameworks", "--authenticate_agents", "--authenticate_http_readonly",
                        "--authenticate_http_readwrite"}) {
    args.push_back(f);
  }
  args.push_back("--credentials=" + dir_ + "/credentials");
  args.push_back("--acls=" + dir_ + "/acls.json");
  master_ = std::make_unique<Child>(args, dir_, LogName("master"));
  ASSERT_TRUE(testing::WaitForListening(master_addr_, 30));
  StartAgentAs({"--credential=" + dir_ + "/agent-credential"});
  ASSERT_TRUE(WaitForAgents(1, 30));

  SchedulerDriverOptions web;
  web.principal = "web";
  web.secret = "web-secret";
  {
    RecordingScheduler sched;
    v1::FrameworkInfo fw = testing::Framework("elsewhere");
    fw.add_capabilities()->set_type(v1::FrameworkInfo::Capability::MULTI_ROLE);
    fw.add_roles("ops");
    SchedulerDriver driver(&sched, fw, master_addr_, web);
    ASSERT_TRUE(driver.start().ok());
    ASSERT_TRUE(sched.WaitFor([&] { return !sched.errors_.empty(); }, 20));
    EXPECT_EQ(sched.Locked([&] { return sched.errors_[0]; }),
              "the master refused the subscription: Not authorized to register_frameworks with role 'ops' "
              "(principal 'web'; see --acls)");
  }
  RecordingScheduler sched;
  SchedulerDriver driver(&sched, testing::Framework("web"), master_addr_, web);
  ASSERT_TRUE(driver.start().ok());
  ASSERT_TRUE(sched.WaitSubscribed(20));
  v1::Offer offer;
  ASSERT_TRUE(sched.TakeOffer(&offer, 20));
  v1::TaskInfo task = testing::ShellTask("as-root", offer.agent_id(), "true");
  task.mutable_command()->set_user("root");
  ASSERT_TRUE(driver.launch(offer.id(), {task}).ok());
  v1::TaskStatus status = sched.WaitForState("as-root", v1::TASK_ERROR, 20);
  ASSERT_EQ(status.state(), v1::TASK_ERROR);
  EXPECT_EQ(status.reason(), v1::TaskStatus::REASON_TASK_UNAUTHORIZED);
  EXPECT_EQ(status.message(), "Not authorized to run_tasks with user 'root' (principal 'web'; see --acls)");

  // ops may view every framework; web, which may view none, sees an empty
  // state rather than a refusal.
  v1::internal::ClusterState state;
  ASSERT_TRUE(State(Basic("ops", "ops-secret"), &state).ok());
  EXPECT_EQ(state.frameworks_size(), 1);
  ASSERT_TRUE(State(Basic("web", "web-secret"), &state).ok());
  EXPECT_EQ(state.frameworks_size(), 0);
  EXPECT_EQ(state.agents_size(), 1);

  auto stub =
      v1::internal::OperatorService::NewStub(grpc::CreateChannel(master_addr_, grpc::InsecureChannelCredentials()));
  v1::master::Call teardown;
  teardown.set_type(v1::master::Call::TEARDOWN);
  teardown.mutable_teardown()->mutable_framework_id()->set_value(driver.framework_id().value());
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", Basic("ops", "ops-secret"));
  v1::master::Response response;
  grpc::Status refused = stub->Call(&ctx, teardown, &response);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(refused.error_message(),
            "Not authorized to teardown_frameworks with framework principal 'web' (principal 'ops'; see --acls)");
  // Refusals go to the audit log (standard error here), one JSON line each.
  std::string log = ReadAll(dir_ + "/master.err");
  EXPECT_TRUE(absl::StrContains(log, R"("principal":"web","action":"run_tasks","object":"root","allowed":false)"))
      << log;
  EXPECT_TRUE(absl::StrContains(log, R"("principal":"ops","call":"TEARDOWN","result":"Not authorized)")) << log;
}

TEST_F(SecurityTest, NobodyReregistersWithAnotherAgentsId) {
  StartMaster();  // no authentication: the ID is bound by the secret the master issues
  StartAgent();
  ASSERT_TRUE(WaitForActiveAgent(30));
  v1::internal::ClusterState state;
  ASSERT_TRUE(State("", &state).ok());
  const std::string id = state.agents(0).agent_info().id().value();

  // The ID is public; a forger that reregisters with it is refused, and the
  // real agent keeps it.
  AgentMessage forged;
  v1::AgentInfo* info = forged.mutable_reregister_agent()->mutable_agent_info();
  *info = state.agents(0).agent_info();
  forged.mutable_reregister_agent()->set_agent_secret("a guess");
  grpc::Status status;
  MasterMessage answer = FirstAnswer(master_addr_, forged, &status);
  ASSERT_TRUE(answer.has_refused()) << answer.DebugString();
  EXPECT_EQ(answer.refused().message(),
            absl::StrCat("agent ID '", id,
                         "' was issued to another agent (the secret issued with it does not match); an agent that "
                         "lost its work dir registers anew"));
  forged.mutable_reregister_agent()->clear_agent_secret();
  EXPECT_TRUE(FirstAnswer(master_addr_, forged, &status).has_refused());
  ASSERT_TRUE(State("", &state).ok());
  ASSERT_EQ(state.agents_size(), 1);
  EXPECT_TRUE(state.agents(0).active());

  // The real agent proves it after its own restart (kill -9: the secret is
  // in its checkpoint) and after the master's (it is in the registry).
  agent_->Signal(SIGKILL);
  agent_->Wait(10);
  StartAgent();
  ASSERT_TRUE(WaitForState(
      [&](const v1::internal::ClusterState& st) {
        return st.agents_size() == 1 && st.agents(0).active() &&
               absl::StrContains(ReadAll(dir_ + "/agent.2.err"), "Agent reregistered as " + id);
      },
      30));
  master_->Signal(SIGKILL);
  master_->Wait(10);
  master_ = std::make_unique<Child>(MasterArgs(), dir_, LogName("master"));
  ASSERT_TRUE(WaitForState(
      [&](const v1::internal::ClusterState& st) {
        return st.agents_size() == 1 && st.agents(0).active() && st.agents(0).agent_info().id().value() == id;
      },
      30));
  EXPECT_TRUE(FirstAnswer(master_addr_, forged, &status).has_refused());
}

TEST_F(SecurityTest, AFrameworkCannotBeTakenOverByItsId) {
  StartMaster();
  ASSERT_TRUE(testing::WaitForListening(master_addr_, 30));
  RecordingScheduler owner;
  v1::FrameworkInfo fw = testing::Framework("owned");
  fw.set_principal("alice");
  fw.set_user("nobody");
  fw.set_failover_timeout(60);
  SchedulerDriver driver(&owner, fw, master_addr_);
  ASSERT_TRUE(driver.start().ok());
  ASSERT_TRUE(owner.WaitSubscribed(20));

  // Subscribing with its ID as another principal, or as the same one with
  // another user (its next task would run as root), is refused; the owner's
  // stream stays.
  for (auto [principal, user, why] :
       {std::tuple<std::string, std::string, std::string>{
            "mallory", "nobody",
            absl::StrCat("framework '", driver.framework_id().value(),
                         "' belongs to principal 'alice'; it cannot be resubscribed as 'mallory'")},
        {"alice", "root", "Updating 'FrameworkInfo.user' is unsupported"}}) {
    RecordingScheduler thief;
    v1::FrameworkInfo stolen = fw;
    *stolen.mutable_id() = driver.framework_id();
    stolen.set_principal(principal);
    stolen.set_user(user);
    SchedulerDriver other(&thief, stolen, master_addr_);
    ASSERT_TRUE(other.start().ok());
    ASSERT_TRUE(thief.WaitFor([&] { return !thief.errors_.empty(); }, 20));
    EXPECT_EQ(thief.Locked([&] { return thief.errors_[0]; }), "the master refused the subscription: " + why);
  }
  EXPECT_TRUE(owner.Locked([&] { return owner.errors_.empty() && owner.disconnected_ == 0; }));
  EXPECT_EQ(owner.Locked([&] { return owner.subscribed_; }), 1);
}

// An executor call for one container made by anyone else: the agent's
// executor API is reachable by every task on the machine.
// A task under corral-test-executor (executor "test-executor").
v1::TaskInfo TestExecutorTask(const std::string& name, const v1::AgentID& agent) {
  v1::TaskInfo t = testing::ShellTask(name, agent, "");
  t.clear_command();
  v1::ExecutorInfo* ex = t.mutable_executor();
  ex->mutable_executor_id()->set_value("test-executor");
  ex->mutable_command()->set_value(testing::BinDir() + "/corral-test-executor");
  testing::AddScalar(ex->mutable_resources(), "cpus", 0.1);
  testing::AddScalar(ex->mutable_resources(), "mem", 32);
  return t;
}

grpc::Status ExecutorUpdate(const std::string& agent, const std::string& framework_id, const std::string& executor_id,
                            const std::string& task_id, const std::string& authorization) {
  auto stub = v1::internal::ExecutorService::NewStub(grpc::CreateChannel(agent, grpc::InsecureChannelCredentials()));
  v1::executor::Call call;
  call.set_type(v1::executor::Call::UPDATE);
  call.mutable_framework_id()->set_value(framework_id);
  call.mutable_executor_id()->set_value(executor_id);
  v1::TaskStatus* st = call.mutable_update()->mutable_status();
  st->mutable_task_id()->set_value(task_id);
  st->set_state(v1::TASK_FINISHED);
  st->set_source(v1::TaskStatus::SOURCE_EXECUTOR);
  st->set_uuid(std::string(16, 'u'));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  if (!authorization.empty()) ctx.AddMetadata("authorization", authorization);
  v1::internal::CallResponse resp;
  return stub->Call(&ctx, call, &resp);
}

TEST_F(SecurityTest, OnlyAnExecutorsOwnTokenSpeaksForIt) {
  const std::string key(40, 'k');
  std::ofstream(dir_ + "/jwt-key") << key;
  StartMaster();
  StartAgentAs({"--jwt_secret_key=" + dir_ + "/jwt-key", "--authenticate_http_executors"});
  ASSERT_TRUE(WaitForActiveAgent(30));
  RecordingScheduler sched;
  SchedulerDriver driver(&sched, testing::Framework("executors"), master_addr_);
  ASSERT_TRUE(driver.start().ok());
  v1::Offer offer;
  ASSERT_TRUE(sched.TakeOffer(&offer, 20));
  ASSERT_TRUE(driver.launch(offer.id(), {TestExecutorTask("guarded", offer.agent_id())}).ok());
  // The executor (the C++ SDK) sent the token its container was given.
  v1::TaskStatus running = sched.WaitForState("guarded", v1::TASK_RUNNING);
  ASSERT_TRUE(running.has_state());
  EXPECT_EQ(running.source(), v1::TaskStatus::SOURCE_EXECUTOR);

  const std::string agent = "127.0.0.1:" + std::to_string(agent_port_);
  const std::string fid = driver.framework_id().value();
  grpc::Status none = ExecutorUpdate(agent, fid, "test-executor", "guarded", "");
  EXPECT_EQ(none.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(none.error_message(), "no executor token was given (MESOS_EXECUTOR_AUTHENTICATION_TOKEN)");
  auto tokens = auth::ExecutorTokens::FromKey(key);
  ASSERT_TRUE(tokens.ok());
  auto other = auth::ExecutorTokens::FromKey(std::string(40, 'x'));
  grpc::Status unsigned_by_agent =
      ExecutorUpdate(agent, fid, "test-executor", "guarded", "Bearer " + other->Issue({fid, "test-executor", "c"}));
  EXPECT_EQ(unsigned_by_agent.error_message(), "the executor token is not one this agent signed");
  // Signed by the agent, but another executor's or another container's.
  grpc::Status another_executor =
      ExecutorUpdate(agent, fid, "test-executor", "guarded", "Bearer " + tokens->Issue({fid, "mallory", "c"}));
  EXPECT_EQ(another_executor.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  grpc::Status another_container = ExecutorUpdate(agent, fid, "test-executor", "guarded",
                                                  "Bearer " + tokens->Issue({fid, "test-executor", "not-its-own"}));
  EXPECT_EQ(another_container.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(another_container.error_message(),
            "the executor token is for container 'not-its-own', not the executor's container");
  // No forged TASK_FINISHED reached the framework: the task still runs,
  // and finishes when its executor says so.
  v1::ExecutorID eid;
  eid.set_value("test-executor");
  ASSERT_TRUE(driver.message(offer.agent_id(), eid, "finish:guarded").ok());
  v1::TaskStatus finished = sched.WaitForTerminal("guarded");
  EXPECT_EQ(finished.state(), v1::TASK_FINISHED);
  EXPECT_EQ(finished.message(), "finished on request");
}

TEST_F(SecurityTest, AnAgentsReadsNeedItsCredential) {
  std::ofstream(dir_ + "/agent-http") << "ops ops-secret\n";
  StartMaster();
  StartAgentAs(
      {"--http_credentials=" + dir_ + "/agent-http", "--authenticate_http_readonly", "--authenticate_http_readwrite"});
  ASSERT_TRUE(WaitForActiveAgent(30));
  // The CLI reads sandboxes over the agent's gRPC port: refused without the
  // credential, which it takes from CORRAL_PRINCIPAL/CORRAL_SECRET.
  auto stub = v1::internal::SandboxService::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(agent_port_), grpc::InsecureChannelCredentials()));
  v1::internal::ReadFileRequest req;
  req.mutable_framework_id()->set_value("F");
  req.mutable_task_id()->set_value("T");
  req.set_path("stdout");
  for (auto [authorization, code] : {std::pair<std::string, grpc::StatusCode>{"", grpc::StatusCode::UNAUTHENTICATED},
                                     {Basic("ops", "wrong"), grpc::StatusCode::UNAUTHENTICATED},
                                     {Basic("ops", "ops-secret"), grpc::StatusCode::NOT_FOUND}}) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    if (!authorization.empty()) ctx.AddMetadata("authorization", authorization);
    v1::internal::ReadFileResponse resp;
    EXPECT_EQ(stub->ReadFile(&ctx, req, &resp).error_code(), code) << authorization;
  }
}

TEST_F(SecurityTest, BeyondLoopbackADaemonWithoutAuthenticationNeedsInsecure) {
  // Both refuse before they listen anywhere.
  std::vector<std::string> master = MasterArgs();
  master.push_back("--ip=0.0.0.0");
  Child refused_master(master, dir_, "exposed-master");
  EXPECT_EQ(refused_master.Wait(20), 1);
  std::string err = ReadAll(dir_ + "/exposed-master.err");
  EXPECT_TRUE(absl::StrContains(err,
                                "refusing to listen on 0.0.0.0 without authentication (frameworks, agents, operator "
                                "writes unauthenticated)"))
      << err;
  EXPECT_TRUE(absl::StrContains(err, "pass --insecure to accept that")) << err;

  std::vector<std::string> agent = AgentArgs({"--ip=0.0.0.0"});
  Child refused_agent(agent, dir_, "exposed-agent");
  EXPECT_EQ(refused_agent.Wait(20), 1);
  err = ReadAll(dir_ + "/exposed-agent.err");
  EXPECT_TRUE(absl::StrContains(
      err, "refusing to listen on 0.0.0.0 without authentication (executors, reads, operator calls unauthenticated)"))
      << err;

  // --authenticate_* without the credentials to check is a mistake, said.
  std::vector<std::string> half = MasterArgs();
  half.push_back("--authenticate_agents");
  Child no_credentials(half, dir_, "no-credentials");
  EXPECT_EQ(no_credentials.Wait(20), 1);
  EXPECT_TRUE(
      absl::StrContains(ReadAll(dir_ + "/no-credentials.err"), "the --authenticate_* flags need --credentials"));
}

// TLS everywhere, with the certificates made for the run: the master and
// the agent require client certificates of the test CA (mutual TLS between
// them), a framework reaches the master over TLS with its own certificate,
// and its custom executor reaches the agent over TLS with only the CA the
// agent handed it. Plain clients, clients without a certificate and clients
// of another CA are refused.
TEST_F(SecurityTest, TlsBetweenEveryDaemonAndClient) {
  const std::string certs = dir_ + "/certs";
  ASSERT_EQ(std::system(("bash '" CORRAL_MAKE_CERTS "' '" + certs + "'").c_str()), 0);
  std::vector<std::string> tls = {"--ssl_cert_file=" + certs + "/server.crt", "--ssl_key_file=" + certs + "/server.key",
                                  "--ssl_ca_file=" + certs + "/ca.crt", "--ssl_require_cert"};
  std::vector<std::string> args = MasterArgs();
  args.insert(args.end(), tls.begin(), tls.end());
  master_ = std::make_unique<Child>(args, dir_, LogName("master"));
  ASSERT_TRUE(testing::WaitForListening(master_addr_, 30));
  StartAgentAs(tls);

  auto channel = [&](const std::string& ca, const std::string& cert) {
    tls::TlsOptions o;
    o.enabled = true;
    o.ca_file = certs + "/" + ca;
    if (!cert.empty()) {
      o.cert_file = certs + "/" + cert + ".crt";
      o.key_file = certs + "/" + cert + ".key";
    }
    auto credentials = tls::ChannelCredentials(o);
    EXPECT_TRUE(credentials.ok()) << credentials.status();
    return grpc::CreateChannel(master_addr_, *credentials);
  };
  auto state = [&](const std::shared_ptr<grpc::Channel>& ch, v1::internal::ClusterState* out) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
    return v1::internal::OperatorService::NewStub(ch)->GetState(&ctx, v1::internal::GetClusterState(), out);
  };
  auto trusted = channel("ca.crt", "client");
  ASSERT_TRUE(PollUntil(
      [&] {
        v1::internal::ClusterState st;
        return state(trusted, &st).ok() && st.agents_size() == 1 && st.agents(0).active();
      },
      30))
      << "the agent registered over mutual TLS";
  v1::internal::ClusterState st;
  EXPECT_EQ(state(grpc::CreateChannel(master_addr_, grpc::InsecureChannelCredentials()), &st).error_code(),
            grpc::StatusCode::UNAVAILABLE)
      << "plain gRPC";
  EXPECT_FALSE(state(channel("ca.crt", ""), &st).ok()) << "no client certificate";
  EXPECT_FALSE(state(channel("ca.crt", "rogue"), &st).ok()) << "a client certificate of another CA";
  EXPECT_FALSE(state(channel("other-ca.crt", "client"), &st).ok()) << "a client that does not trust the master";

  SchedulerDriverOptions options;
  options.tls = true;
  options.tls_ca_file = certs + "/ca.crt";
  options.tls_cert_file = certs + "/client.crt";
  options.tls_key_file = certs + "/client.key";
  RecordingScheduler sched;
  SchedulerDriver driver(&sched, testing::Framework("over-tls"), master_addr_, options);
  ASSERT_TRUE(driver.start().ok());
  v1::Offer offer;
  ASSERT_TRUE(sched.TakeOffer(&offer, 20));
  ASSERT_TRUE(driver.launch(offer.id(), {TestExecutorTask("custom", offer.agent_id())}).ok());
  v1::TaskStatus running = sched.WaitForState("custom", v1::TASK_RUNNING);
  ASSERT_TRUE(running.has_state()) << ReadAll(dir_ + "/" + last_agent_log_ + ".err");
  EXPECT_EQ(running.source(), v1::TaskStatus::SOURCE_EXECUTOR);
  // Messages both ways cross the executor's TLS connection to the agent.
  v1::ExecutorID eid;
  eid.set_value("test-executor");
  ASSERT_TRUE(driver.message(offer.agent_id(), eid, "finish:custom").ok());
  EXPECT_EQ(sched.WaitForTerminal("custom").state(), v1::TASK_FINISHED);

  // A framework that does not trust the master's CA never subscribes.
  SchedulerDriverOptions untrusting = options;
  untrusting.tls_ca_file = certs + "/other-ca.crt";
  RecordingScheduler lost;
  SchedulerDriver stranger(&lost, testing::Framework("untrusting"), master_addr_, untrusting);
  ASSERT_TRUE(stranger.start().ok());
  EXPECT_FALSE(lost.WaitSubscribed(3));
}

}  // namespace
}  // namespace corral
