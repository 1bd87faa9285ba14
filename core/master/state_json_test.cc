// /master/state (and /master/frameworks) from kept task renderings must be
// the document a full snapshot renders, byte for byte, however the tasks
// change between requests.
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "corral/common/resources.h"
#include "corral/master/master.h"
#include "corral/master/master_http.h"

namespace corral {
namespace {

using v1::internal::AgentMessage;
using v1::internal::MasterMessage;

struct NullSink : SchedulerSink {
  bool Send(const v1::scheduler::Event&) override { return true; }
  void Close() override {}
};

struct NullLink : AgentLink {
  bool Send(const MasterMessage&) override { return true; }
  void Close() override {}
};

class StateJsonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MasterOptions options;
    options.allocation_interval = 3600;
    options.heartbeat_interval = 3600;
    master_ = std::make_unique<Master>(options);
    v1::scheduler::Call subscribe;
    subscribe.set_type(v1::scheduler::Call::SUBSCRIBE);
    auto* info = subscribe.mutable_subscribe()->mutable_framework_info();
    info->set_user("test");
    info->set_name("state-json");
    info->add_roles("*");
    info->add_capabilities()->set_type(v1::FrameworkInfo::Capability::MULTI_ROLE);
    // No offers: each comparison below is of two snapshots taken one after
    // the other, and an allocation between them would tell them apart.
    subscribe.mutable_subscribe()->add_suppressed_roles("*");
    auto id = master_->Subscribe(subscribe, std::make_shared<NullSink>());
    ASSERT_TRUE(id.ok()) << id.status();
    framework_id_ = *id;
  }
  void TearDown() override { master_->Stop(); }

  // An agent that comes back (as after a master failover) running `tasks`.
  void ReregisterAgent(const std::string& agent_id, int tasks) {
    uint64_t link = master_->AgentConnected(std::make_shared<NullLink>());
    AgentMessage m;
    v1::AgentInfo* info = m.mutable_reregister_agent()->mutable_agent_info();
    info->mutable_id()->set_value(agent_id);
    info->set_hostname(agent_id + ".example");
    info->set_port(5051);
    Resources::Parse("cpus:8;mem:16384;ports:[31000-32000]")->ToProto(info->mutable_resources());
    for (int i = 0; i < tasks; ++i) {
      v1::Task* t = m.mutable_reregister_agent()->add_tasks();
      std::string id = agent_id + "-task-" + std::to_string(i);
      t->set_name(id);
      t->mutable_task_id()->set_value(id);
      t->mutable_framework_id()->set_value(framework_id_);
      t->mutable_agent_id()->set_value(agent_id);
      t->set_state(v1::TASK_RUNNING);
      Resources::Parse("cpus:0.5;mem:64")->ToProto(t->mutable_resources());
      v1::TaskStatus* st = t->add_statuses();
      *st->mutable_task_id() = t->task_id();
      st->set_state(v1::TASK_RUNNING);
      st->set_timestamp(1000 + i);
    }
    links_[agent_id] = link;
    master_->AgentMessageReceived(link, m);
  }

  void Update(const std::string& agent_id, const std::string& task_id, v1::TaskState state, double timestamp,
              int healthy = -1) {
    AgentMessage m;
    auto* su = m.mutable_status_update();
    su->mutable_framework_id()->set_value(framework_id_);
    v1::TaskStatus* st = su->mutable_status();
    st->mutable_task_id()->set_value(task_id);
    st->mutable_agent_id()->set_value(agent_id);
    st->set_state(state);
    st->set_source(v1::TaskStatus::SOURCE_EXECUTOR);
    st->set_uuid("uuid-" + std::to_string(++updates_));
    st->set_timestamp(timestamp);
    if (healthy >= 0) st->set_healthy(healthy == 1);
    su->set_latest_state(state);
    master_->AgentMessageReceived(links_.at(agent_id), m);
  }

  // The document rendered from the master's renderable snapshot, keeping
  // the renderings it makes; `rendered` is how many tasks it rendered.
  std::string Incremental(int* rendered) {
    google::protobuf::Arena arena;
    Master::RenderableState state = master_->GetRenderableState(&arena);
    *rendered = state.state->tasks_size();
    std::vector<Master::TaskRendering> fresh;
    std::string doc = RenderMasterState(state, context_, &fresh);
    master_->KeepTaskRenderings(std::move(fresh));
    return doc;
  }
  std::string Full() { return RenderMasterState(master_->GetState(), context_); }

  std::unique_ptr<Master> master_;
  std::string framework_id_;
  std::map<std::string, uint64_t> links_;
  int updates_ = 0;
  std::map<std::string, std::string> flags_{{"port", "5050"}};
  StateJsonContext context_{&flags_, 12345};
};

TEST_F(StateJsonTest, KeptRenderingsGiveTheSameDocumentAsAFullSnapshot) {
  ReregisterAgent("agent-a", 3);
  ReregisterAgent("agent-b", 2);
  ASSERT_EQ(master_->GetState().tasks_size(), 5);

  int rendered = -1;
  EXPECT_EQ(Incremental(&rendered), Full());
  EXPECT_EQ(rendered, 5) << "the first request renders every task";
  EXPECT_EQ(Incremental(&rendered), Full());
  EXPECT_EQ(rendered, 0) << "unchanged tasks are not rendered again";

  // A health report, a state change and a new timestamp each make a
  // task's kept rendering stale; only those tasks are rendered again.
  Update("agent-a", "agent-a-task-0", v1::TASK_RUNNING, 2000, /*healthy=*/1);
  Update("agent-b", "agent-b-task-1", v1::TASK_RUNNING, 2001);
  std::string after = Full();
  EXPECT_NE(after.find("\"healthy\":true"), std::string::npos) << after;
  EXPECT_EQ(Incremental(&rendered), after);
  EXPECT_EQ(rendered, 2);
  Update("agent-a", "agent-a-task-0", v1::TASK_RUNNING, 2002, /*healthy=*/0);
  EXPECT_EQ(Incremental(&rendered), Full());
  EXPECT_EQ(rendered, 1);
  Update("agent-a", "agent-a-task-0", v1::TASK_RUNNING, 2002, /*healthy=*/1);  // the health alone
  EXPECT_EQ(Incremental(&rendered), Full());
  EXPECT_EQ(rendered, 1);

  // A task that ends shows its terminal state; one that goes is gone.
  Update("agent-a", "agent-a-task-2", v1::TASK_FINISHED, 2003);
  after = Full();
  EXPECT_NE(after.find("\"state\":\"TASK_FINISHED\""), std::string::npos) << after;
  EXPECT_EQ(Incremental(&rendered), after);
  EXPECT_EQ(rendered, 1);

  // Tasks of an agent that arrives later are rendered on their own.
  ReregisterAgent("agent-c", 4);
  EXPECT_EQ(Incremental(&rendered), Full());
  EXPECT_EQ(rendered, 4);
  EXPECT_EQ(Incremental(&rendered), Full());
  EXPECT_EQ(rendered, 0);
}

TEST_F(StateJsonTest, FrameworksShareTheKeptRenderings) {
  ReregisterAgent("agent-a", 3);
  auto incremental = [&](int* rendered) {
    google::protobuf::Arena arena;
    Master::RenderableState state = master_->GetRenderableState(&arena);
    *rendered = state.state->tasks_size();
    std::vector<Master::TaskRendering> fresh;
    std::string doc = RenderFrameworks(state, &fresh);
    master_->KeepTaskRenderings(std::move(fresh));
    return doc;
  };
  int rendered = -1;
  EXPECT_EQ(incremental(&rendered), RenderFrameworks(master_->GetState()));
  EXPECT_EQ(rendered, 3);
  EXPECT_EQ(Incremental(&rendered), Full());
  EXPECT_EQ(rendered, 0) << "/master/state reuses what /master/frameworks rendered";
  Update("agent-a", "agent-a-task-1", v1::TASK_FAILED, 4000);
  std::string after = RenderFrameworks(master_->GetState());
  EXPECT_NE(after.find("TASK_FAILED"), std::string::npos) << after;
  EXPECT_EQ(incremental(&rendered), after);
  EXPECT_EQ(rendered, 1);
}

TEST_F(StateJsonTest, ARenderingOfAChangedTaskIsNotKept) {
  ReregisterAgent("agent-a", 1);
  google::protobuf::Arena arena;
  Master::RenderableState state = master_->GetRenderableState(&arena);
  std::vector<Master::TaskRendering> fresh;
  (void)RenderMasterState(state, context_, &fresh);
  ASSERT_EQ(fresh.size(), 1u);
  // The task changes while its rendering is on its way back.
  Update("agent-a", "agent-a-task-0", v1::TASK_KILLED, 3000);
  master_->KeepTaskRenderings(std::move(fresh));
  int rendered = -1;
  std::string doc = Incremental(&rendered);
  EXPECT_EQ(rendered, 1) << "the stale rendering was dropped";
  EXPECT_EQ(doc, Full());
  EXPECT_NE(doc.find("TASK_KILLED"), std::string::npos) << doc;
}

}  // namespace
}  // namespace corral
