// corral-test-executor: a custom executor for the end-to-end tests, written
// against the public SDK only. Tasks stay RUNNING until the framework sends
// "finish:<task_id>" or kills them; "ping" is answered with "pong".
#include <mutex>
#include <set>
#include <string>

#include "corral/executor.h"

namespace {

class TestExecutor : public corral::Executor {
 public:
  void launch(corral::ExecutorDriver* d, const corral::v1::TaskInfo& task) override {
    Send(d, task.task_id().value(), corral::v1::TASK_RUNNING, "running in the test executor");
  }
  void message(corral::ExecutorDriver* d, const std::string& data) override {
    if (data == "ping") {
      (void)d->sendFrameworkMessage("pong");
    } else if (data.rfind("finish:", 0) == 0) {
      Send(d, data.substr(7), corral::v1::TASK_FINISHED, "finished on request");
    }
  }
  void kill(corral::ExecutorDriver* d, const corral::v1::TaskID& id, const corral::v1::KillPolicy*) override {
    Send(d, id.value(), corral::v1::TASK_KILLED, "killed by the test executor");
  }
  void shutdown(corral::ExecutorDriver*) override {}

 private:
  void Send(corral::ExecutorDriver* d, const std::string& id, corral::v1::TaskState state, const std::string& msg) {
    corral::v1::TaskStatus st;
    st.mutable_task_id()->set_value(id);
    st.set_state(state);
    st.set_message(msg);
    (void)d->sendStatusUpdate(st);
  }
};

}  // namespace

int main() {
  TestExecutor executor;
  corral::ExecutorDriver driver(&executor);
  return driver.run().ok() ? 0 : 1;
}
