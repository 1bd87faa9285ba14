// The one layer every language binding wraps (Python, Java, Go): the C++
// SDK's scheduler and executor drivers with messages crossing as bytes.
// Calls come in as serialized v1.scheduler.Call / v1.TaskStatus messages,
// events go out as serialized v1.scheduler.Event / v1.executor.Event
// messages, and each language parses them with its own protobuf runtime.
// Nothing of protobuf, absl or the SDK's types appears here, so that a
// binding generator (SWIG) or a hand-written module sees plain C++.
//
// Threading:
//  - Driver methods may be called from any thread, callbacks included, and
//    block only as long as the C++ SDK does (a call waits for the master).
//  - A sink's OnEvent/OnDisconnected run on the driver's callback thread,
//    one at a time; OnClosed runs once, after the last of them.
//  - Close() (and the destructor) stop the driver and join its threads.
//    Called from inside one of the driver's own callbacks, where that thread
//    cannot join itself, the closing finishes on a thread of its own;
//    WaitForClosing() waits for such closings (a language calls it before
//    its runtime shuts down).
#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace corral::binding {

// A status as every binding reports it. `code` is the number of an
// absl::StatusCode (0 = OK); JoinFor also answers kStillRunning.
struct Result {
  static constexpr int kStillRunning = -1;
  int code = 0;
  std::string message;
  bool ok() const { return code == 0; }
};

// The version of this layer's contract. A language package built against
// another version refuses to load the library (see each SDK's loader).
constexpr int kBindingVersion = 1;
int BindingVersion();
// Corral's version ("0.1.0").
std::string CorralVersion();

// Where a driver delivers events; implemented by each language binding.
class EventSink {
 public:
  virtual ~EventSink() = default;
  // One serialized event, valid only during the call. Returning false says
  // the language's handler failed: the driver is aborted before it
  // acknowledges any status update the event carried, so the master sends
  // that update again to whoever subscribes next.
  virtual bool OnEvent(const char* data, size_t size) = 0;
  // Scheduler drivers: the connection to the master dropped and the driver
  // is reconnecting (Mesos's API has no event for this).
  virtual bool OnDisconnected() { return true; }
  // The driver is gone: nothing will be called on this sink again.
  virtual void OnClosed() {}
};

// Pull mode: a sink the caller reads with Next() instead of being called.
// The driver's semantics stay those of a sink: OnEvent waits until the
// caller took the event and said what its handler did (Done), so an update
// is acknowledged only after the handler returned true, and false aborts
// the driver before it acknowledges anything the event carried.
//
// Threading: Next and Done on one consumer thread at a time; the driver
// calls the sink methods. Call Stop() before closing the driver from the
// consumer thread: an event waiting for Done is then answered false (not
// acknowledged), so the driver's callback thread can be joined.
class EventQueue : public EventSink {
 public:
  // The next event into `event`, waiting up to `timeout_seconds`:
  //  - OK: an event; the caller handles it, then calls Done.
  //  - kDisconnected (a scheduler's connection dropped; it reconnects).
  //  - DEADLINE_EXCEEDED (4): none came in time.
  //  - OUT_OF_RANGE (11): the driver is closed; nothing more will come.
  // A Next with the last event not Done counts it as handled.
  static constexpr int kDisconnected = -2;
  EventQueue();
  ~EventQueue() override;
  Result Next(double timeout_seconds, std::string* event);
  void Done(bool handled);
  void Stop();

  bool OnEvent(const char* data, size_t size) override;
  bool OnDisconnected() override;
  void OnClosed() override;

 private:
  enum class Slot { kEmpty, kReady, kTaken };
  struct State;
  std::unique_ptr<State> state_;
};

enum DriverStatus { kNotStarted = 0, kRunning = 1, kAborted = 2, kStopped = 3 };

struct SchedulerOptions {
  bool implicit_acknowledgements = true;  // acknowledge each update after OnEvent returned true
  double reconnect_backoff_min = 0.1;     // seconds
  double reconnect_backoff_max = 2.0;
  double call_timeout = 30.0;
  // Authentication (SchedulerDriverOptions::principal and secret): empty
  // principal reads CORRAL_PRINCIPAL/CORRAL_SECRET or CORRAL_CREDENTIAL.
  std::string principal;
  std::string secret;
  // TLS (SchedulerDriverOptions::tls...): all unset reads LIBPROCESS_SSL_*.
  bool tls = false;
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
};

class SchedulerDriver {
 public:
  // `framework` is a serialized v1.FrameworkInfo and `master` "host:port".
  // The sink must stay valid until its OnClosed. Bad arguments do not
  // throw: init_error() names them and every method returns that error.
  SchedulerDriver(EventSink* sink, const char* framework, size_t framework_size, const std::string& master,
                  const SchedulerOptions& options);
  ~SchedulerDriver();
  SchedulerDriver(const SchedulerDriver&) = delete;
  SchedulerDriver& operator=(const SchedulerDriver&) = delete;

  Result init_error() const;
  Result Start();
  Result Stop(bool failover);
  Result Abort();
  // Waits up to `seconds` for the driver to stop: kStillRunning if it has
  // not, else what stopped it (OK, or the error that aborted it).
  Result JoinFor(double seconds);
  int Status();
  std::string FrameworkId();  // empty until subscribed
  // Any serialized v1.scheduler.Call (framework_id is filled in); returns
  // the master's verdict.
  Result Call(const char* call, size_t size);
  void Close();

  struct State;

 private:
  std::shared_ptr<State> state_;
};

class ExecutorDriver {
 public:
  // Reads the agent's endpoint and the IDs from the environment, as a Mesos
  // executor does.
  explicit ExecutorDriver(EventSink* sink);
  ~ExecutorDriver();
  ExecutorDriver(const ExecutorDriver&) = delete;
  ExecutorDriver& operator=(const ExecutorDriver&) = delete;

  Result Start();
  Result Stop();
  Result JoinFor(double seconds);
  // A serialized v1.TaskStatus; uuid, timestamp, source and executor ID are
  // filled in.
  Result SendStatusUpdate(const char* status, size_t size);
  Result SendFrameworkMessage(const char* data, size_t size);
  void Close();

  struct State;

 private:
  std::shared_ptr<State> state_;
};

// Whether this thread is inside a sink call of some driver.
bool InCallback();
// Waits up to `seconds` for closings that finish on threads of their own;
// false if some are still running.
bool WaitForClosing(double seconds);

}  // namespace corral::binding
