#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "corral/master/master.h"
#include "corral/master/registry.h"

namespace corral {
namespace {

namespace fs = std::filesystem;

MasterOptions Options() {
  MasterOptions options;
  options.allocation_interval = 3600;
  options.heartbeat_interval = 3600;
  return options;
}

RoleQuota Quota(const std::string& name, double guarantee, double limit) {
  RoleQuota q;
  q.guarantee.Set(name, ToMilli(guarantee));
  q.limit.Set(name, ToMilli(limit));
  return q;
}

class RolesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("roles_test." + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::unique_ptr<Master> Start(MasterOptions options) {
    auto master = std::make_unique<Master>(options);
    auto registry = OpenSqliteRegistry((dir_ / "registry.db").string());
    EXPECT_TRUE(registry.ok()) << registry.status();
    EXPECT_TRUE(master->Recover(std::move(*registry)).ok());
    return master;
  }
  fs::path dir_;
};

TEST_F(RolesTest, OperatorsChangeWeightsAndQuotasAndTheyOutliveARestart) {
  MasterOptions options = Options();
  options.weights = {{"flagged", 3}, {"dev", 1}};
  {
    auto m = Start(options);
    EXPECT_TRUE(m->UpdateWeights({{"dev", 2.5}}).ok());
    EXPECT_EQ(m->Weights().at("dev"), 2.5);
    EXPECT_EQ(m->UpdateWeights({{"dev", 0}}).code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(m->UpdateWeights({{"-dev", 1}}).code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(m->Weights().at("dev"), 2.5) << "a refused update changes nothing";

    // No agent yet: a guarantee fits only when forced.
    auto unfit = m->UpdateQuotas({{"dev", Quota("cpus", 1, 2)}}, /*force=*/false);
    EXPECT_EQ(unfit.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_NE(unfit.message().find("force"), std::string::npos) << unfit;
    EXPECT_TRUE(m->UpdateQuotas({{"dev", Quota("cpus", 1, 2)}, {"ops", Quota("mem", 0, 512)}}, true).ok());
    auto over = m->UpdateQuotas({{"ops", Quota("mem", 10, 5)}}, true);
    EXPECT_EQ(over.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(over.message().find("limit"), std::string::npos) << over;
    EXPECT_EQ(m->UpdateQuotas({{"*", Quota("cpus", 1, 1)}}, true).code(), absl::StatusCode::kInvalidArgument);
    m->Stop();
  }
  // The next run's flags name dev again: what the operator set wins.
  options.weights = {{"flagged", 3}, {"dev", 9}};
  auto m = Start(options);
  auto weights = m->Weights();
  EXPECT_EQ(weights.at("dev"), 2.5);
  EXPECT_EQ(weights.at("flagged"), 3);
  auto quotas = m->Quotas();
  ASSERT_EQ(quotas.size(), 2u);
  EXPECT_EQ(quotas.at("dev").guarantee.Get("cpus"), ToMilli(1));
  EXPECT_EQ(quotas.at("dev").limit.Get("cpus"), ToMilli(2));
  EXPECT_EQ(quotas.at("ops").limit.Get("mem"), ToMilli(512));

  // An empty quota removes the role's.
  EXPECT_TRUE(m->UpdateQuotas({{"dev", RoleQuota{}}}, false).ok());
  EXPECT_EQ(m->Quotas().count("dev"), 0u);
  m->Stop();
}

}  // namespace
}  // namespace corral
