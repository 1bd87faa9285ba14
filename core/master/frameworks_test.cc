// Frameworks across master restarts: what the registry keeps of them.
#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "corral/master/master.h"
#include "corral/master/registry.h"
#include "corral/master/testing/fakes.h"

namespace corral {
namespace {

namespace fs = std::filesystem;
using testing::RecordingSink;
using testing::SubscribeCall;

class FrameworksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("frameworks_test." + std::to_string(::getpid()));
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

  fs::path dir_;
};

// TEARDOWN from the scheduler removes the framework from the registry too:
// it must not come back when the master restarts. (The master once removed
// the registry row by a reference into the entry it had just erased; the
// fuzz build runs this test under AddressSanitizer.)
TEST_F(FrameworksTest, ASchedulerTeardownIsForgottenByTheRegistry) {
  std::string torn_down, kept;
  {
    auto m = Start();
    auto sink = std::make_shared<RecordingSink>();
    auto id = m->Subscribe(SubscribeCall("torn-down"), sink);
    ASSERT_TRUE(id.ok()) << id.status();
    torn_down = *id;
    v1::scheduler::Call keep = SubscribeCall("kept");
    keep.mutable_subscribe()->mutable_framework_info()->set_failover_timeout(3600);
    auto other = m->Subscribe(keep, std::make_shared<RecordingSink>());
    ASSERT_TRUE(other.ok()) << other.status();
    kept = *other;

    v1::scheduler::Call teardown;
    teardown.set_type(v1::scheduler::Call::TEARDOWN);
    teardown.mutable_framework_id()->set_value(torn_down);
    ASSERT_TRUE(m->HandleCall(teardown).ok());
    EXPECT_TRUE(sink->closed);
    EXPECT_EQ(m->GetState().frameworks_size(), 1);
    m->Stop();
  }
  auto registry = OpenSqliteRegistry((dir_ / "registry.db").string());
  ASSERT_TRUE(registry.ok()) << registry.status();
  auto recorded = (*registry)->Recover();
  ASSERT_TRUE(recorded.ok()) << recorded.status();
  ASSERT_EQ(recorded->frameworks.size(), 1u);
  EXPECT_EQ(recorded->frameworks[0].id().value(), kept);
  registry->reset();

  auto m = Start();
  auto state = m->GetState();
  ASSERT_EQ(state.frameworks_size(), 1);
  EXPECT_EQ(state.frameworks(0).framework_info().id().value(), kept);
  m->Stop();
}

}  // namespace
}  // namespace corral
