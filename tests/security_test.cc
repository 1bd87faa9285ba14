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
  EXPECT_TRUE(absl::StrContains(err, "refusing to listen on 0.0.0.0 without authentication (its executor API")) << err;

  // --authenticate_* without the credentials to check is a mistake, said.
  std::vector<std::string> half = MasterArgs();
  half.push_back("--authenticate_agents");
  Child no_credentials(half, dir_, "no-credentials");
  EXPECT_EQ(no_credentials.Wait(20), 1);
  EXPECT_TRUE(
      absl::StrContains(ReadAll(dir_ + "/no-credentials.err"), "the --authenticate_* flags need --credentials"));
}

}  // namespace
}  // namespace corral
