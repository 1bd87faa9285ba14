// A first Corral framework in C++: runs N copies of a command and exits when
// all of them have finished.
//
//   hello-framework [master host:port] [tasks] [command]
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <string>

#include <corral/scheduler.h>

class HelloScheduler : public corral::Scheduler {
 public:
  HelloScheduler(int tasks, std::string command) : total_(tasks), command_(std::move(command)) {}

  void offers(corral::SchedulerDriver* driver, const std::vector<corral::v1::Offer>& offers) override {
    for (const auto& offer : offers) {
      double cpus = 0, mem = 0;
      for (const auto& r : offer.resources()) {
        if (r.name() == "cpus") cpus += r.scalar().value();
        if (r.name() == "mem") mem += r.scalar().value();
      }
      std::vector<corral::v1::TaskInfo> tasks;
      while (launched_ < total_ && cpus >= 0.1 && mem >= 32) {
        corral::v1::TaskInfo task;
        std::string id = "hello-" + std::to_string(launched_++);
        task.set_name(id);
        task.mutable_task_id()->set_value(id);
        *task.mutable_agent_id() = offer.agent_id();
        task.mutable_command()->set_value(command_);
        AddScalar(&task, "cpus", 0.1);
        AddScalar(&task, "mem", 32);
        tasks.push_back(task);
        cpus -= 0.1;
        mem -= 32;
      }
      if (tasks.empty()) {
        driver->decline({offer.id()});
      } else {
        driver->launch(offer.id(), tasks);
      }
    }
  }

  void update(corral::SchedulerDriver* driver, const corral::v1::TaskStatus& status) override {
    std::cout << status.task_id().value() << " is " << corral::v1::TaskState_Name(status.state()) << std::endl;
    if (status.state() == corral::v1::TASK_FINISHED) {
      if (++finished_ == total_) driver->stop();
    } else if (status.state() == corral::v1::TASK_FAILED || status.state() == corral::v1::TASK_ERROR ||
               status.state() == corral::v1::TASK_LOST || status.state() == corral::v1::TASK_DROPPED) {
      std::cerr << "task failed: " << status.message() << std::endl;
      failed_ = true;
      driver->stop();
    }
  }

  void error(corral::SchedulerDriver*, const std::string& message) override {
    std::cerr << "error: " << message << std::endl;
    failed_ = true;
  }

  bool failed() const { return failed_; }

 private:
  static void AddScalar(corral::v1::TaskInfo* task, const std::string& name, double value) {
    corral::v1::Resource* r = task->add_resources();
    r->set_name(name);
    r->set_type(corral::v1::Value::SCALAR);
    r->mutable_scalar()->set_value(value);
  }

  int total_;
  std::string command_;
  int launched_ = 0;  // touched only on the callback thread
  int finished_ = 0;
  std::atomic<bool> failed_{false};
};

int main(int argc, char** argv) {
  std::string master = argc > 1 ? argv[1] : "127.0.0.1:5050";
  int tasks = argc > 2 ? std::atoi(argv[2]) : 5;
  std::string command = argc > 3 ? argv[3] : "echo hello from $MESOS_TASK_ID";

  HelloScheduler scheduler(tasks, command);
  corral::v1::FrameworkInfo framework;
  framework.set_name("hello-framework");
  corral::SchedulerDriver driver(&scheduler, framework, master);
  absl::Status status = driver.run();
  if (!status.ok() || scheduler.failed()) {
    std::cerr << "hello-framework: " << (status.ok() ? "a task failed" : std::string(status.message())) << std::endl;
    return 1;
  }
  return 0;
}
