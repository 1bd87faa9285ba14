#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "corral/master/master.h"
#include "corral/master/registry.h"
#include "corral/master/testing/fakes.h"

namespace corral {
namespace {

namespace fs = std::filesystem;
using v1::internal::MasterMessage;

using Link = testing::RecordingLink;
using Sink = testing::RecordingSink;

Resources Reserved(const std::string& text, const std::string& role, const std::string& principal) {
  Resources out;
  Resources parsed = *Resources::Parse(text);
  for (ResourceItem item : parsed.items()) {
    item.role = role;
    item.dynamic = true;
    item.principal = PrincipalIndex(principal);
    out.Add(item);
  }
  return out;
}

class ReservationsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("reservations_test." + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<Master> Start() {
    MasterOptions options;
    options.allocation_interval = 3600;
    options.heartbeat_interval = 3600;
    auto master = std::make_unique<Master>(options);
    auto registry = OpenSqliteRegistry((dir_ / "registry.db").string());
    EXPECT_TRUE(registry.ok()) << registry.status();
    EXPECT_TRUE(master->Recover(std::move(*registry)).ok());
    return master;
  }
  // Registers (or, with an ID, reregisters) an agent of cpus:4;mem:1024.
  std::string Agent(Master& m, const std::string& id = "") {
    auto link = std::make_shared<Link>();
    uint64_t link_id = m.AgentConnected(link);
    m.AgentMessageReceived(link_id, testing::RegisterAgentMessage("host-a", "cpus:4;mem:1024", id, secrets_[id]));
    auto registered = link->out.WaitFor([](const MasterMessage& mm) { return mm.has_registered(); });
    EXPECT_TRUE(registered.has_value());
    links_.push_back(link);
    if (!registered) return "";
    const std::string& agent_id = registered->registered().agent_id().value();
    if (!registered->registered().agent_secret().empty()) secrets_[agent_id] = registered->registered().agent_secret();
    return agent_id;
  }
  Resources Total(Master& m) {
    auto state = m.GetState();
    EXPECT_EQ(state.agents_size(), 1);
    return *Resources::FromProto(state.agents(0).total());
  }

  fs::path dir_;
  std::vector<std::shared_ptr<Link>> links_;
  std::map<std::string, std::string> secrets_;  // agent ID -> the secret issued with it
};

TEST_F(ReservationsTest, OperatorsReserveAndUnreserveAndTheReservationsOutliveARestart) {
  std::string agent_id;
  {
    auto m = Start();
    agent_id = Agent(*m);
    ASSERT_FALSE(agent_id.empty());
    ASSERT_TRUE(m->ReserveResources(agent_id, Reserved("cpus:1.5;mem:256", "dev", "ops")).ok());
    Resources total = Total(*m);
    EXPECT_EQ(total.Unreserved(), *Resources::Parse("cpus:2.5;mem:768"));
    EXPECT_EQ(total.DynamicallyReserved(), Reserved("cpus:1.5;mem:256", "dev", "ops"));

    // Refusals change nothing, and say why.
    auto too_much = m->ReserveResources(agent_id, Reserved("cpus:3", "dev", "ops"));
    EXPECT_EQ(too_much.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_NE(too_much.message().find("cpus:3"), std::string::npos) << too_much;
    auto statically = m->ReserveResources(agent_id, *Resources::Parse("cpus(dev):1"));
    EXPECT_EQ(statically.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(statically.message().find("DYNAMIC"), std::string::npos) << statically;
    EXPECT_EQ(m->ReserveResources("no-such-agent", Reserved("cpus:1", "dev", "ops")).code(),
              absl::StatusCode::kNotFound);
    EXPECT_EQ(m->ReserveResources(agent_id, Reserved("cpus:1", "-bad", "ops")).code(),
              absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(m->UnreserveResources(agent_id, *Resources::Parse("cpus:1")).code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(Total(*m), total);

    // A framework of role dev is offered the reservation, marked as Mesos
    // marks a dynamic one.
    auto sink = std::make_shared<Sink>();
    v1::scheduler::Call subscribe;
    subscribe.set_type(v1::scheduler::Call::SUBSCRIBE);
    auto* info = subscribe.mutable_subscribe()->mutable_framework_info();
    info->set_user("test");
    info->set_name("dev-framework");
    info->add_roles("dev");
    info->add_capabilities()->set_type(v1::FrameworkInfo::Capability::MULTI_ROLE);
    ASSERT_TRUE(m->Subscribe(subscribe, sink).ok());
    auto offers = sink->out.WaitFor([](const v1::scheduler::Event& e) { return e.has_offers(); });
    ASSERT_TRUE(offers.has_value());
    bool reserved_cpus = false;
    for (const v1::Resource& r : offers->offers().offers(0).resources()) {
      if (r.name() != "cpus" || r.reservations_size() == 0) continue;
      reserved_cpus = true;
      EXPECT_EQ(r.reservations(0).type(), v1::Resource::ReservationInfo::DYNAMIC);
      EXPECT_EQ(r.reservations(0).role(), "dev");
      EXPECT_EQ(r.reservations(0).principal(), "ops");
      EXPECT_DOUBLE_EQ(r.scalar().value(), 1.5);
    }
    EXPECT_TRUE(reserved_cpus) << offers->DebugString();

    // The offer holds the reservation; unreserving rescinds it first.
    ASSERT_TRUE(m->UnreserveResources(agent_id, Reserved("cpus:0.5", "dev", "ops")).ok());
    EXPECT_TRUE(sink->out.WaitFor([](const v1::scheduler::Event& e) { return e.has_rescind(); }).has_value());
    EXPECT_EQ(Total(*m).DynamicallyReserved(), Reserved("cpus:1;mem:256", "dev", "ops"));
    EXPECT_EQ(Total(*m).Unreserved(), *Resources::Parse("cpus:3;mem:768"));
    m->Stop();
  }
  // A new master finds the reservation in the registry, and keeps it when
  // the agent comes back reporting only its unreserved --resources.
  auto m = Start();
  EXPECT_EQ(Total(*m).DynamicallyReserved(), Reserved("cpus:1;mem:256", "dev", "ops"));
  ASSERT_EQ(Agent(*m, agent_id), agent_id);
  EXPECT_EQ(Total(*m).DynamicallyReserved(), Reserved("cpus:1;mem:256", "dev", "ops"));
  EXPECT_EQ(Total(*m).Unreserved(), *Resources::Parse("cpus:3;mem:768"));
  m->Stop();
}

}  // namespace
}  // namespace corral
