// corral._native: the scheduler and executor drivers for Python, over the
// bytes-level layer every binding shares (corral/binding/drivers.h).
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

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "corral/binding/drivers.h"

namespace py = pybind11;

namespace corral {
namespace {

using binding::Result;
using PyResult = std::pair<int, std::string>;  // (absl status code, message)

PyResult ToPy(const Result& r) { return {r.code, r.message}; }

bool PythonAlive() {
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsInitialized() && !Py_IsFinalizing();
#else
  return Py_IsInitialized() && !_Py_IsFinalizing();
#endif
}

bool WaitForClosing(double seconds) {
  py::gil_scoped_release nogil;
  return binding::WaitForClosing(seconds);
}

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

// Delivers a driver's events to a Python object (sink._on_event(bytes),
// sink._on_disconnected()); frees itself once the driver is closed.
// Constructed with the GIL held.
class PySink : public binding::EventSink {
 public:
  explicit PySink(py::object target) : target_(std::move(target)) {}

  bool OnEvent(const char* data, size_t size) override {
    Deliver("_on_event", data, size);
    return true;  // the Python layer stops the driver itself when a handler raises
  }
  bool OnDisconnected() override {
    Deliver("_on_disconnected", nullptr, 0);
    return true;
  }
  void OnClosed() override {
    if (PythonAlive()) {
      py::gil_scoped_acquire gil;
      target_ = py::object();
    } else {
      target_.release();  // the interpreter is gone; leaking the sink is all that is safe
    }
    delete this;
  }

 private:
  void Deliver(const char* method, const char* data, size_t size) {
    if (!PythonAlive()) return;
    CallbackThreadState::Get().Acquire();
    try {
      if (data != nullptr) {
        target_.attr(method)(py::bytes(data, size));
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
    CallbackThreadState::Get().Release();
  }

  py::object target_;
};

std::optional<PyResult> Joined(const Result& r) {
  if (r.code == Result::kStillRunning) return std::nullopt;
  return ToPy(r);
}

// Closes a binding driver without the GIL (its callback thread may be
// waiting for it); the sink then drops its Python object with the GIL.
template <typename Driver>
void CloseWithoutGil(Driver& d) {
  py::gil_scoped_release nogil;
  d.Close();
}

class NativeSchedulerDriver {
 public:
  NativeSchedulerDriver(py::object sink, const std::string& framework, const std::string& master,
                        bool implicit_acknowledgements, double backoff_min, double backoff_max, double call_timeout,
                        const std::string& principal, const std::string& secret, bool tls,
                        const std::string& tls_ca_file, const std::string& tls_cert_file,
                        const std::string& tls_key_file) {
    binding::SchedulerOptions o;
    o.implicit_acknowledgements = implicit_acknowledgements;
    o.reconnect_backoff_min = backoff_min;
    o.reconnect_backoff_max = backoff_max;
    o.call_timeout = call_timeout;
    o.principal = principal;
    o.secret = secret;
    o.tls = tls;
    o.tls_ca_file = tls_ca_file;
    o.tls_cert_file = tls_cert_file;
    o.tls_key_file = tls_key_file;
    driver_ = std::make_unique<binding::SchedulerDriver>(new PySink(std::move(sink)), framework.data(),
                                                         framework.size(), master, o);
    if (!driver_->init_error().ok()) {
      std::string message = driver_->init_error().message;
      CloseWithoutGil(*driver_);
      throw py::value_error(message);
    }
  }
  ~NativeSchedulerDriver() { close(); }

  PyResult start() { return ToPy(driver_->Start()); }
  PyResult stop(bool failover) { return ToPy(driver_->Stop(failover)); }
  PyResult abort() { return ToPy(driver_->Abort()); }
  std::optional<PyResult> join_for(double seconds) { return Joined(driver_->JoinFor(seconds)); }
  int status() { return driver_->Status(); }
  std::string framework_id() { return driver_->FrameworkId(); }
  PyResult call(const std::string& call) { return ToPy(driver_->Call(call.data(), call.size())); }
  void close() { CloseWithoutGil(*driver_); }

 private:
  std::unique_ptr<binding::SchedulerDriver> driver_;
};

class NativeExecutorDriver {
 public:
  explicit NativeExecutorDriver(py::object sink)
      : driver_(std::make_unique<binding::ExecutorDriver>(new PySink(std::move(sink)))) {}
  ~NativeExecutorDriver() { close(); }

  PyResult start() { return ToPy(driver_->Start()); }
  PyResult stop() { return ToPy(driver_->Stop()); }
  std::optional<PyResult> join_for(double seconds) { return Joined(driver_->JoinFor(seconds)); }
  PyResult send_status_update(const std::string& status) {
    return ToPy(driver_->SendStatusUpdate(status.data(), status.size()));
  }
  PyResult send_framework_message(const std::string& data) {
    return ToPy(driver_->SendFrameworkMessage(data.data(), data.size()));
  }
  void close() { CloseWithoutGil(*driver_); }

 private:
  std::unique_ptr<binding::ExecutorDriver> driver_;
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
      .def(
          py::init<py::object, const std::string&, const std::string&, bool, double, double, double, const std::string&,
                   const std::string&, bool, const std::string&, const std::string&, const std::string&>(),
          py::arg("sink"), py::arg("framework"), py::arg("master"), py::arg("implicit_acknowledgements"),
          py::arg("backoff_min"), py::arg("backoff_max"), py::arg("call_timeout"), py::arg("principal") = "",
          py::arg("secret") = "", py::arg("tls") = false, py::arg("tls_ca_file") = "", py::arg("tls_cert_file") = "",
          py::arg("tls_key_file") = "")
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
