// OperatorApi: the one home of the operator calls that /api/v1 and the gRPC
// OperatorService both serve. Driven here without either transport.
#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "corral/master/master.h"
#include "corral/master/operator_api.h"
#include "corral/master/registry.h"

namespace corral {
namespace {

namespace fs = std::filesystem;
using v1::master::Call;

class OperatorApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("operator_api_test." + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    MasterOptions options;
    options.allocation_interval = 3600;
    options.heartbeat_interval = 3600;
    master_ = std::make_unique<Master>(options);
    auto registry = OpenSqliteRegistry((dir_ / "registry.db").string());
    ASSERT_TRUE(registry.ok()) << registry.status();
    ASSERT_TRUE(master_->Recover(std::move(*registry)).ok());
    api_ = std::make_unique<OperatorApi>(master_.get());
  }
  void TearDown() override {
    master_->Stop();
    fs::remove_all(dir_);
  }
  static Call Of(Call::Type type) {
    Call call;
    call.set_type(type);
    return call;
  }

  fs::path dir_;
  std::unique_ptr<Master> master_;
  std::unique_ptr<OperatorApi> api_;
};

TEST_F(OperatorApiTest, WeightsSetAreTheWeightsRead) {
  Call update = Of(Call::UPDATE_WEIGHTS);
  auto* w = update.mutable_update_weights()->add_weight_infos();
  w->set_role("dev");
  w->set_weight(2.5);
  auto acted = api_->Call(update);
  ASSERT_TRUE(acted.ok()) << acted.status();
  EXPECT_FALSE(acted->has_value()) << "a call that only acts has no response";

  auto read = api_->Call(Of(Call::GET_WEIGHTS));
  ASSERT_TRUE(read.ok() && read->has_value());
  ASSERT_EQ((*read)->type(), v1::master::Response::GET_WEIGHTS);
  ASSERT_EQ((*read)->get_weights().weight_infos_size(), 1);
  EXPECT_EQ((*read)->get_weights().weight_infos(0).role(), "dev");
  EXPECT_EQ((*read)->get_weights().weight_infos(0).weight(), 2.5);

  auto roles = api_->Call(Of(Call::GET_ROLES));
  ASSERT_TRUE(roles.ok() && roles->has_value());
  ASSERT_EQ((*roles)->get_roles().roles_size(), 1);
  EXPECT_EQ((*roles)->get_roles().roles(0).name(), "dev");
}

TEST_F(OperatorApiTest, BadCallsAreRefusedNamingWhatIsWrong) {
  auto untyped = api_->Call(Call());
  EXPECT_EQ(untyped.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(untyped.status().message(), "Failed to validate master::Call: Expecting 'type' to be present");

  Call twice = Of(Call::UPDATE_WEIGHTS);
  for (int i = 0; i < 2; ++i) {
    auto* w = twice.mutable_update_weights()->add_weight_infos();
    w->set_role("dev");
    w->set_weight(1);
  }
  EXPECT_EQ(api_->Call(twice).status().message(), "Failed to validate master::Call: role 'dev' is given twice");

  Call negative = Of(Call::UPDATE_QUOTA);
  auto* config = negative.mutable_update_quota()->add_quota_configs();
  config->set_role("dev");
  (*config->mutable_guarantees())["cpus"].set_value(-1);
  auto refused = api_->Call(negative);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("the guarantee of 'cpus' must be a non-negative number"),
            std::string::npos);

  EXPECT_EQ(api_->Call(Of(Call::DRAIN_AGENT)).status().message(),
            "Failed to validate master::Call: Expecting 'drain_agent.agent_id' to be present");
  Call drain = Of(Call::DRAIN_AGENT);
  drain.mutable_drain_agent()->mutable_agent_id()->set_value("nope");
  EXPECT_EQ(api_->Call(drain).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(api_->Call(Of(Call::SUBSCRIBE)).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(api_->Call(Of(Call::GROW_VOLUME)).status().code(), absl::StatusCode::kUnimplemented);
  // Nothing of the refused calls stuck.
  EXPECT_EQ((*api_->Call(Of(Call::GET_WEIGHTS)))->get_weights().weight_infos_size(), 0);
  EXPECT_EQ((*api_->Call(Of(Call::GET_QUOTA)))->get_quota().status().configs_size(), 0);
}

TEST_F(OperatorApiTest, StateIsAnsweredWithEveryPartPresent) {
  auto state = api_->Call(Of(Call::GET_STATE));
  ASSERT_TRUE(state.ok() && state->has_value());
  const auto& s = (*state)->get_state();
  EXPECT_TRUE(s.has_get_tasks() && s.has_get_executors() && s.has_get_frameworks() && s.has_get_agents());
}

}  // namespace
}  // namespace corral
