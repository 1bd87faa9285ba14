// The Go SDK's view of the binding layer (corral/binding/drivers.h), in
// types SWIG maps to Go without help: ints, doubles and strings (a Go
// string carries any bytes, NUL and invalid UTF-8 included). Every method
// that can fail answers an absl::StatusCode number (0 = OK) and puts the
// message in *message.
//
// Events reach Go through one Dispatcher per process (a SWIG director set
// once and never freed), told which driver each event is for by the ID the
// Go side gave it. So no Go object is pinned per driver: the Go SDK keeps
// each driver in a registry from construction to OnClosed, and that entry
// is the only reference the native side implies.
//
// Threading: as drivers.h. Dispatcher methods run on the driver's callback
// thread; OnClosed(id) is the last call for that id.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace corral::binding {
class SchedulerDriver;
class ExecutorDriver;
}  // namespace corral::binding

namespace corral::gobinding {

class Dispatcher {
 public:
  virtual ~Dispatcher() = default;
  // `event` holds the serialized event only during the call.
  virtual bool OnEvent(int64_t driver, const std::string& event) = 0;
  virtual bool OnDisconnected(int64_t driver) = 0;
  virtual void OnClosed(int64_t driver) = 0;
};

// Sets the process's dispatcher; later calls are ignored (answers false).
bool SetDispatcher(Dispatcher* dispatcher);
int BindingVersion();
std::string CorralVersion();
bool InCallback();
bool WaitForClosing(double seconds);

class Scheduler {
 public:
  // `framework` is a serialized v1.FrameworkInfo; a bad one is reported by
  // InitError and by every call.
  Scheduler(int64_t id, const std::string& framework, const std::string& master, bool implicit_acknowledgements,
            double reconnect_backoff_min, double reconnect_backoff_max, double call_timeout,
            const std::string& principal, const std::string& secret, bool tls, const std::string& tls_ca_file,
            const std::string& tls_cert_file, const std::string& tls_key_file);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  int InitError(std::string* message);
  int Start(std::string* message);
  int Stop(bool failover, std::string* message);
  int Abort(std::string* message);
  // -1 while still running after `seconds`, else what stopped it.
  int JoinFor(double seconds, std::string* message);
  int Status();
  std::string FrameworkId();
  // A serialized v1.scheduler.Call.
  int Call(const std::string& call, std::string* message);
  void Close();

 private:
  std::unique_ptr<binding::SchedulerDriver> driver_;
};

class Executor {
 public:
  explicit Executor(int64_t id);
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  int Start(std::string* message);
  int Stop(std::string* message);
  int JoinFor(double seconds, std::string* message);
  // A serialized v1.TaskStatus.
  int SendStatusUpdate(const std::string& status, std::string* message);
  int SendFrameworkMessage(const std::string& data, std::string* message);
  void Close();

 private:
  std::unique_ptr<binding::ExecutorDriver> driver_;
};

}  // namespace corral::gobinding
