// corral._native: the C++ scheduler and executor drivers for Python.
//
// The Python layer (corral/scheduler.py, corral/executor.py) owns the public
// API; this module only moves events and calls across, each as one serialized
// protobuf message: events go to a Python "sink" object as bytes
// (sink._on_event(bytes)), calls come in as serialized Call messages.
//
// Threading and the GIL:
//  - Every driver method releases the GIL while C++ runs, so a blocking call
//    never stalls other Python threads (or the driver's own callback thread).
//  - Events reach Python on the driver's callback thread, which takes the GIL
//    for the duration of the sink call. Once the interpreter is finalizing,
//    events are dropped instead (corral/_lifecycle.py closes every driver at
//    exit, before that).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <utility>

#include "corral/executor.h"
#include "corral/scheduler.h"

namespace py = pybind11;

namespace corral {
namespace {

using Result = std::pair<int, std::string>;  // (absl status code, message)

Result ToResult(const absl::Status& s) { return {static_cast<int>(s.code()), std::string(s.message())}; }

bool PythonAlive() {
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsInitialized() && !Py_IsFinalizing();
#else
  return Py_IsInitialized() && !_Py_IsFinalizing();
#endif
}

// Drivers being destroyed on threads of their own (see Destroy), so that
// the interpreter can wait for them before it finalizes.
std::mutex g_closing_mu;
std::condition_variable g_closing_cv;
int g_closing = 0;

bool WaitForClosing(double seconds) {
  py::gil_scoped_release nogil;
  std::unique_lock<std::mutex> lock(g_closing_mu);
  return g_closing_cv.wait_for(lock, std::chrono::duration<double>(seconds), [] { return g_closing == 0; });
}

// Non-zero while this thread is inside a sink call: a driver dropped from its
// own callback cannot be joined from that thread.
thread_local int g_in_callback = 0;

// The Python thread state of a driver's callback thread, made once and kept
// for the thread's life: making and freeing one around every event (what
// taking the GIL from a foreign thread does by default) cost more than the
// rest of delivering an update.
class CallbackThreadState {
 public:
  static CallbackThreadState& Get() {
    thread_local CallbackThreadState state;
    return state;
  }
  void Acquire() {
    if (tstate_ == nullptr) {
      gil_ = PyGILState_Ensure();  // creates the thread state; held until the thread ends
      tstate_ = PyThreadState_Get();
    } else {
      PyEval_RestoreThread(tstate_);
    }
  }
  void Release() { PyEval_SaveThread(); }
  ~CallbackThreadState() {
    // The thread is ending (its driver is being destroyed, before the
    // interpreter finalizes; see corral/_lifecycle.py).
    if (tstate_ != nullptr && PythonAlive()) {
      PyEval_RestoreThread(tstate_);
      PyGILState_Release(gil_);
    }
  }

 private:
  PyThreadState* tstate_ = nullptr;
  PyGILState_STATE gil_{};
};

// A Python object that receives events. Constructed and destroyed with the
// GIL held; Deliver() is called without it.
class Sink {
 public:
  explicit Sink(py::object target) : target_(std::move(target)) {}

  void Deliver(const char* method, const google::protobuf::MessageLite* event) {
    std::string bytes;
    if (event != nullptr) event->SerializeToString(&bytes);  // before taking the GIL
    if (!PythonAlive()) return;
    CallbackThreadState::Get().Acquire();
    ++g_in_callback;
    try {
      if (event != nullptr) {
        target_.attr(method)(py::bytes(bytes));
      } else {
        target_.attr(method)();
      }
    } catch (py::error_already_set& e) {
      // The Python layer catches the user's exceptions itself; this is a
      // failure of the layer, reported the way Python reports such things.
      e.discard_as_unraisable(method);
    } catch (const std::exception& e) {
      // Nothing may escape into the driver's thread (it would end the process).
      PyErr_SetString(PyExc_RuntimeError, e.what());
      PyErr_WriteUnraisable(nullptr);
    }
    --g_in_callback;
    CallbackThreadState::Get().Release();
  }

 private:
  py::object target_;
};

class SchedulerAdapter : public Scheduler {
 public:
  explicit SchedulerAdapter(py::object target) : sink_(std::move(target)) {}

  void subscribed(SchedulerDriver*, const v1::FrameworkID& id, const v1::MasterInfo& master) override {
    v1::scheduler::Event ev;
    ev.set_type(v1::scheduler::Event::SUBSCRIBED);
    *ev.mutable_subscribed()->mutable_framework_id() = id;
    *ev.mutable_subscribed()->mutable_master_info() = master;
    Send(ev);
  }
  void offers(SchedulerDriver*, const std::vector<v1::Offer>& offers) override {
    v1::scheduler::Event ev;
    ev.set_type(v1::scheduler::Event::OFFERS);
    auto* list = ev.mutable_offers()->mutable_offers();
    list->Reserve(static_cast<int>(offers.size()));
    for (const auto& o : offers) *list->Add() = o;
    Send(ev);
  }
  void rescinded(SchedulerDriver*, const v1::OfferID& offer_id) override {
    v1::scheduler::Event ev;
    ev.set_type(v1::scheduler::Event::RESCIND);
    *ev.mutable_rescind()->mutable_offer_id() = offer_id;
    Send(ev);
  }
  void update(SchedulerDriver*, const v1::TaskStatus& status) override {
    v1::scheduler::Event ev;
    ev.set_type(v1::scheduler::Event::UPDATE);
    *ev.mutable_update()->mutable_status() = status;
    Send(ev);
  }
  void message(SchedulerDriver*, const v1::AgentID& agent_id, const v1::ExecutorID& executor_id,
               const std::string& data) override {
    v1::scheduler::Event ev;
    ev.set_type(v1::scheduler::Event::MESSAGE);
    *ev.mutable_message()->mutable_agent_id() = agent_id;
    *ev.mutable_message()->mutable_executor_id() = executor_id;
    ev.mutable_message()->set_data(data);
    Send(ev);
  }
  void failure(SchedulerDriver*, const v1::AgentID& agent_id, const v1::ExecutorID& executor_id, int status) override {
    v1::scheduler::Event ev;
    ev.set_type(v1::scheduler::Event::FAILURE);
    if (!agent_id.value().empty()) *ev.mutable_failure()->mutable_agent_id() = agent_id;
    if (!executor_id.value().empty()) {
      *ev.mutable_failure()->mutable_executor_id() = executor_id;
      ev.mutable_failure()->set_status(status);
    }
    Send(ev);
  }
  void error(SchedulerDriver*, const std::string& message) override {
    v1::scheduler::Event ev;
    ev.set_type(v1::scheduler::Event::ERROR);
    ev.mutable_error()->set_message(message);
    Send(ev);
  }
  void disconnected(SchedulerDriver*) override { sink_.Deliver("_on_disconnected", nullptr); }

 private:
  void Send(const v1::scheduler::Event& ev) { sink_.Deliver("_on_event", &ev); }
  Sink sink_;
};

class ExecutorAdapter : public Executor {
 public:
  explicit ExecutorAdapter(py::object target) : sink_(std::move(target)) {}
  using Event = v1::executor::Event;

  void subscribed(ExecutorDriver*, const v1::ExecutorInfo& executor, const v1::FrameworkInfo& framework,
                  const v1::AgentInfo& agent) override {
    Event ev;
    ev.set_type(Event::SUBSCRIBED);
    *ev.mutable_subscribed()->mutable_executor_info() = executor;
    *ev.mutable_subscribed()->mutable_framework_info() = framework;
    *ev.mutable_subscribed()->mutable_agent_info() = agent;
    Send(ev);
  }
  void launch(ExecutorDriver*, const v1::TaskInfo& task) override {
    Event ev;
    ev.set_type(Event::LAUNCH);
    *ev.mutable_launch()->mutable_task() = task;
    Send(ev);
  }
  void launchGroup(ExecutorDriver*, const v1::TaskGroupInfo& group) override {
    Event ev;
    ev.set_type(Event::LAUNCH_GROUP);
    *ev.mutable_launch_group()->mutable_task_group() = group;
    Send(ev);
  }
  void kill(ExecutorDriver*, const v1::TaskID& task_id, const v1::KillPolicy* policy) override {
    Event ev;
    ev.set_type(Event::KILL);
    *ev.mutable_kill()->mutable_task_id() = task_id;
    if (policy != nullptr) *ev.mutable_kill()->mutable_kill_policy() = *policy;
    Send(ev);
  }
  void acknowledged(ExecutorDriver*, const v1::TaskID& task_id, const std::string& uuid) override {
    Event ev;
    ev.set_type(Event::ACKNOWLEDGED);
    *ev.mutable_acknowledged()->mutable_task_id() = task_id;
    ev.mutable_acknowledged()->set_uuid(uuid);
    Send(ev);
  }
  void message(ExecutorDriver*, const std::string& data) override {
    Event ev;
    ev.set_type(Event::MESSAGE);
    ev.mutable_message()->set_data(data);
    Send(ev);
  }
  void shutdown(ExecutorDriver*) override {
    Event ev;
    ev.set_type(Event::SHUTDOWN);
    Send(ev);
  }
  void error(ExecutorDriver*, const std::string& message) override {
    Event ev;
    ev.set_type(Event::ERROR);
    ev.mutable_error()->set_message(message);
    Send(ev);
  }

 private:
  void Send(const Event& ev) { sink_.Deliver("_on_event", &ev); }
  Sink sink_;
};

// Owns a driver and the adapter it calls. Calls come from any thread with
// the GIL released and share `mu_`; close() takes it alone, so a driver is
// never destroyed under a call in progress.
template <typename Driver, typename Adapter>
class DriverHolder {
 public:
  ~DriverHolder() { close(); }

  // Stops the driver and joins its threads. Called with the GIL held.
  void close() {
    std::unique_ptr<Driver> driver;
    {
      py::gil_scoped_release nogil;
      std::unique_lock<std::shared_mutex> lock(mu_);
      driver = std::move(driver_);
    }
    if (driver) Destroy(std::move(driver), std::move(adapter_));
  }

 protected:
  template <typename Fn>
  Result Checked(Fn fn) {
    std::shared_lock<std::shared_mutex> lock(mu_);
    if (!driver_) return {static_cast<int>(absl::StatusCode::kFailedPrecondition), "the driver was closed"};
    return ToResult(fn(*driver_));
  }
  std::optional<Result> JoinFor(double seconds) {
    std::shared_lock<std::shared_mutex> lock(mu_);
    if (!driver_) return Result{static_cast<int>(absl::StatusCode::kFailedPrecondition), "the driver was closed"};
    auto r = driver_->joinFor(seconds);
    if (!r) return std::nullopt;
    return ToResult(*r);
  }

  std::shared_mutex mu_;
  std::unique_ptr<Adapter> adapter_;
  std::unique_ptr<Driver> driver_;

 private:
  // Tears the driver down without the GIL (its threads may be waiting for
  // it), then drops the Python sink with the GIL.
  static void Destroy(std::unique_ptr<Driver> driver, std::unique_ptr<Adapter> adapter) {
    if (g_in_callback > 0) {
      // Dropped inside one of its callbacks: that thread cannot join itself.
      {
        std::lock_guard<std::mutex> lock(g_closing_mu);
        ++g_closing;
      }
      std::thread([d = driver.release(), a = adapter.release()] {
        delete d;
        if (PythonAlive()) {
          py::gil_scoped_acquire gil;
          delete a;
        }  // else the interpreter is gone; leaking the sink is all that is safe
        std::lock_guard<std::mutex> lock(g_closing_mu);
        if (--g_closing == 0) g_closing_cv.notify_all();
      }).detach();
      return;
    }
    {
      py::gil_scoped_release nogil;
      driver.reset();
    }
    adapter.reset();
  }
};

class NativeSchedulerDriver : public DriverHolder<SchedulerDriver, SchedulerAdapter> {
 public:
  NativeSchedulerDriver(py::object sink, const std::string& framework_bytes, const std::string& master,
                        bool implicit_acknowledgements, double backoff_min, double backoff_max, double call_timeout) {
    v1::FrameworkInfo framework;
    if (!framework.ParseFromString(framework_bytes)) throw py::value_error("framework: not a serialized FrameworkInfo");
    SchedulerDriverOptions options;
    options.implicit_acknowledgements = implicit_acknowledgements;
    options.reconnect_backoff_min = backoff_min;
    options.reconnect_backoff_max = backoff_max;
    options.call_timeout = call_timeout;
    adapter_ = std::make_unique<SchedulerAdapter>(std::move(sink));
    driver_ = std::make_unique<SchedulerDriver>(adapter_.get(), framework, master, options);
  }

  Result start() {
    return Checked([](SchedulerDriver& d) { return d.start(); });
  }
  Result stop(bool failover) {
    return Checked([&](SchedulerDriver& d) { return d.stop(failover); });
  }
  Result abort() {
    return Checked([](SchedulerDriver& d) { return d.abort(); });
  }
  std::optional<Result> join_for(double seconds) { return JoinFor(seconds); }
  int status() {
    std::shared_lock<std::shared_mutex> lock(mu_);
    return static_cast<int>(driver_ ? driver_->status() : DriverStatus::kStopped);
  }
  std::string framework_id() {
    std::shared_lock<std::shared_mutex> lock(mu_);
    return driver_ ? driver_->framework_id().value() : "";
  }
  Result call(const std::string& call_bytes) {
    v1::scheduler::Call call;
    if (!call.ParseFromString(call_bytes)) {
      return {static_cast<int>(absl::StatusCode::kInvalidArgument), "not a serialized scheduler Call"};
    }
    return Checked([&](SchedulerDriver& d) { return d.call(call); });
  }
};

class NativeExecutorDriver : public DriverHolder<ExecutorDriver, ExecutorAdapter> {
 public:
  explicit NativeExecutorDriver(py::object sink) {
    adapter_ = std::make_unique<ExecutorAdapter>(std::move(sink));
    driver_ = std::make_unique<ExecutorDriver>(adapter_.get());
  }

  Result start() {
    return Checked([](ExecutorDriver& d) { return d.start(); });
  }
  Result stop() {
    return Checked([](ExecutorDriver& d) { return d.stop(); });
  }
  std::optional<Result> join_for(double seconds) { return JoinFor(seconds); }
  Result send_status_update(const std::string& status_bytes) {
    v1::TaskStatus status;
    if (!status.ParseFromString(status_bytes)) {
      return {static_cast<int>(absl::StatusCode::kInvalidArgument), "not a serialized TaskStatus"};
    }
    return Checked([&](ExecutorDriver& d) { return d.sendStatusUpdate(status); });
  }
  Result send_framework_message(const std::string& data) {
    return Checked([&](ExecutorDriver& d) { return d.sendFrameworkMessage(data); });
  }
};

}  // namespace
}  // namespace corral

PYBIND11_MODULE(_native, m) {
  using namespace corral;
  using nogil = py::call_guard<py::gil_scoped_release>;
  m.doc() = "Corral's C++ drivers; use the corral package, not this module.";
  m.def("wait_for_closing", &WaitForClosing, py::arg("seconds"),
        "Waits for drivers dropped in their own callbacks to finish closing.");

  py::class_<NativeSchedulerDriver>(m, "SchedulerDriver")
      .def(py::init<py::object, const std::string&, const std::string&, bool, double, double, double>(),
           py::arg("sink"), py::arg("framework"), py::arg("master"), py::arg("implicit_acknowledgements"),
           py::arg("backoff_min"), py::arg("backoff_max"), py::arg("call_timeout"))
      .def("start", &NativeSchedulerDriver::start, nogil())
      .def("stop", &NativeSchedulerDriver::stop, py::arg("failover"), nogil())
      .def("abort", &NativeSchedulerDriver::abort, nogil())
      .def("join_for", &NativeSchedulerDriver::join_for, py::arg("seconds"), nogil())
      .def("status", &NativeSchedulerDriver::status, nogil())
      .def("framework_id", &NativeSchedulerDriver::framework_id, nogil())
      .def("call", &NativeSchedulerDriver::call, py::arg("call"), nogil())
      .def("close", &NativeSchedulerDriver::close);

  py::class_<NativeExecutorDriver>(m, "ExecutorDriver")
      .def(py::init<py::object>(), py::arg("sink"))
      .def("start", &NativeExecutorDriver::start, nogil())
      .def("stop", &NativeExecutorDriver::stop, nogil())
      .def("join_for", &NativeExecutorDriver::join_for, py::arg("seconds"), nogil())
      .def("send_status_update", &NativeExecutorDriver::send_status_update, py::arg("status"), nogil())
      .def("send_framework_message", &NativeExecutorDriver::send_framework_message, py::arg("data"), nogil())
      .def("close", &NativeExecutorDriver::close);
}
