#include "corral/go/drivers.h"

#include <atomic>

#include "corral/binding/drivers.h"

namespace corral::gobinding {
namespace {

std::atomic<Dispatcher*> g_dispatcher{nullptr};

// One per driver; forwards to the dispatcher with the driver's ID and frees
// itself after OnClosed, the last call a driver makes on its sink (which may
// come on a thread of its own, after the Go object is gone).
class ForwardingSink : public binding::EventSink {
 public:
  explicit ForwardingSink(int64_t id) : id_(id) {}
  bool OnEvent(const char* data, size_t size) override {
    buffer_.assign(data, size);
    return g_dispatcher.load()->OnEvent(id_, buffer_);
  }
  bool OnDisconnected() override { return g_dispatcher.load()->OnDisconnected(id_); }
  void OnClosed() override {
    g_dispatcher.load()->OnClosed(id_);
    delete this;
  }

 private:
  int64_t id_;
  std::string buffer_;
};

int Answer(const binding::Result& r, std::string* message) {
  if (message != nullptr) *message = r.message;
  return r.code;
}

}  // namespace

bool SetDispatcher(Dispatcher* dispatcher) {
  Dispatcher* none = nullptr;
  return g_dispatcher.compare_exchange_strong(none, dispatcher);
}
int BindingVersion() { return binding::BindingVersion(); }
std::string CorralVersion() { return binding::CorralVersion(); }
bool InCallback() { return binding::InCallback(); }
bool WaitForClosing(double seconds) { return binding::WaitForClosing(seconds); }

Scheduler::Scheduler(int64_t id, const std::string& framework, const std::string& master,
                     bool implicit_acknowledgements, double reconnect_backoff_min, double reconnect_backoff_max,
                     double call_timeout, const std::string& principal, const std::string& secret, bool tls,
                     const std::string& tls_ca_file, const std::string& tls_cert_file,
                     const std::string& tls_key_file) {
  binding::SchedulerOptions o;
  o.implicit_acknowledgements = implicit_acknowledgements;
  o.reconnect_backoff_min = reconnect_backoff_min;
  o.reconnect_backoff_max = reconnect_backoff_max;
  o.call_timeout = call_timeout;
  o.principal = principal;
  o.secret = secret;
  o.tls = tls;
  o.tls_ca_file = tls_ca_file;
  o.tls_cert_file = tls_cert_file;
  o.tls_key_file = tls_key_file;
  driver_ =
      std::make_unique<binding::SchedulerDriver>(new ForwardingSink(id), framework.data(), framework.size(), master, o);
}
Scheduler::~Scheduler() = default;
int Scheduler::InitError(std::string* message) { return Answer(driver_->init_error(), message); }
int Scheduler::Start(std::string* message) { return Answer(driver_->Start(), message); }
int Scheduler::Stop(bool failover, std::string* message) { return Answer(driver_->Stop(failover), message); }
int Scheduler::Abort(std::string* message) { return Answer(driver_->Abort(), message); }
int Scheduler::JoinFor(double seconds, std::string* message) { return Answer(driver_->JoinFor(seconds), message); }
int Scheduler::Status() { return driver_->Status(); }
std::string Scheduler::FrameworkId() { return driver_->FrameworkId(); }
int Scheduler::Call(const std::string& call, std::string* message) {
  return Answer(driver_->Call(call.data(), call.size()), message);
}
void Scheduler::Close() { driver_->Close(); }

Executor::Executor(int64_t id) : driver_(std::make_unique<binding::ExecutorDriver>(new ForwardingSink(id))) {}
Executor::~Executor() = default;
int Executor::Start(std::string* message) { return Answer(driver_->Start(), message); }
int Executor::Stop(std::string* message) { return Answer(driver_->Stop(), message); }
int Executor::JoinFor(double seconds, std::string* message) { return Answer(driver_->JoinFor(seconds), message); }
int Executor::SendStatusUpdate(const std::string& status, std::string* message) {
  return Answer(driver_->SendStatusUpdate(status.data(), status.size()), message);
}
int Executor::SendFrameworkMessage(const std::string& data, std::string* message) {
  return Answer(driver_->SendFrameworkMessage(data.data(), data.size()), message);
}
void Executor::Close() { driver_->Close(); }

}  // namespace corral::gobinding
