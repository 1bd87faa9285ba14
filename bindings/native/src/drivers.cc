#include "corral/binding/drivers.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <utility>

#include "corral/executor.h"
#include "corral/scheduler.h"

namespace corral::binding {

// --- pull mode ---

struct EventQueue::State {
  std::mutex mu;
  std::condition_variable cv;
  Slot slot = Slot::kEmpty;
  std::string event;
  bool disconnected = false;  // a notice to hand out
  bool answered = false;      // Done (or the next Next) answered the taken event
  bool handled = true;
  bool stopping = false;
  bool closed = false;
};

EventQueue::EventQueue() : state_(std::make_unique<State>()) {}
EventQueue::~EventQueue() = default;

Result EventQueue::Next(double timeout_seconds, std::string* event) {
  State& st = *state_;
  std::unique_lock<std::mutex> lock(st.mu);
  if (st.slot == Slot::kTaken && !st.answered) {
    st.answered = true;  // the last one, handled
    st.handled = true;
    st.cv.notify_all();
  }
  bool ready = st.cv.wait_for(lock, std::chrono::duration<double>(std::max(0.0, timeout_seconds)),
                              [&] { return st.slot == Slot::kReady || st.disconnected || st.closed; });
  if (st.slot == Slot::kReady) {
    st.slot = Slot::kTaken;
    st.answered = false;
    event->swap(st.event);
    st.event.clear();
    return {};
  }
  if (st.disconnected) {
    st.disconnected = false;
    return {kDisconnected, "the connection to the master dropped; the driver is reconnecting"};
  }
  if (st.closed) return {11, "the driver is closed"};
  (void)ready;
  return {4, "no event within the timeout"};
}

void EventQueue::Done(bool handled) {
  State& st = *state_;
  std::lock_guard<std::mutex> lock(st.mu);
  if (st.slot != Slot::kTaken || st.answered) return;
  st.answered = true;
  st.handled = handled;
  st.cv.notify_all();
}

void EventQueue::Stop() {
  State& st = *state_;
  std::lock_guard<std::mutex> lock(st.mu);
  st.stopping = true;
  st.cv.notify_all();
}

bool EventQueue::OnEvent(const char* data, size_t size) {
  State& st = *state_;
  std::unique_lock<std::mutex> lock(st.mu);
  if (st.stopping) return false;
  st.event.assign(data, size);
  st.slot = Slot::kReady;
  st.cv.notify_all();
  st.cv.wait(lock, [&] { return (st.slot == Slot::kTaken && st.answered) || st.stopping; });
  bool handled = st.slot == Slot::kTaken && st.answered && st.handled;
  st.slot = Slot::kEmpty;
  st.event.clear();
  return handled;
}

bool EventQueue::OnDisconnected() {
  State& st = *state_;
  std::lock_guard<std::mutex> lock(st.mu);
  st.disconnected = true;
  st.cv.notify_all();
  return true;
}

void EventQueue::OnClosed() {
  State& st = *state_;
  std::lock_guard<std::mutex> lock(st.mu);
  st.closed = true;
  st.cv.notify_all();
}
namespace {

Result ToResult(const absl::Status& s) { return {static_cast<int>(s.code()), std::string(s.message())}; }
Result Closed() { return {static_cast<int>(absl::StatusCode::kFailedPrecondition), "the driver was closed"}; }

// Closings that finish on threads of their own (see CloseHolder).
std::mutex g_closing_mu;
std::condition_variable g_closing_cv;
int g_closing = 0;

thread_local int g_in_callback = 0;

// Calls the sink with the callback-depth counter held up.
template <typename Fn>
bool Deliver(Fn fn) {
  ++g_in_callback;
  bool ok = fn();
  --g_in_callback;
  return ok;
}

// Owns one SDK driver and the adapter it calls. Calls share `mu`; Close
// takes it alone, so a driver is never destroyed under a call in progress.
template <typename Driver, typename Adapter>
struct Holder {
  std::shared_mutex mu;
  std::unique_ptr<Adapter> adapter;
  std::unique_ptr<Driver> driver;
  EventSink* sink = nullptr;
  Result init_error;

  template <typename Fn>
  Result Checked(Fn fn) {
    if (!init_error.ok()) return init_error;
    std::shared_lock<std::shared_mutex> lock(mu);
    if (!driver) return Closed();
    return ToResult(fn(*driver));
  }

  Result JoinFor(double seconds) {
    if (!init_error.ok()) return init_error;
    std::shared_lock<std::shared_mutex> lock(mu);
    if (!driver) return Closed();
    auto r = driver->joinFor(seconds);
    if (!r) return {Result::kStillRunning, "still running"};
    return ToResult(*r);
  }

  // Stops the driver and joins its threads, then tells the sink. From
  // inside one of its callbacks the joining happens on another thread.
  void Close() {
    std::unique_ptr<Driver> d;
    std::unique_ptr<Adapter> a;
    EventSink* s;
    {
      std::unique_lock<std::shared_mutex> lock(mu);
      d = std::move(driver);
      a = std::move(adapter);
      s = std::exchange(sink, nullptr);
    }
    if (s == nullptr) return;
    if (g_in_callback == 0) {
      d.reset();
      a.reset();
      s->OnClosed();
      return;
    }
    {
      std::lock_guard<std::mutex> lock(g_closing_mu);
      ++g_closing;
    }
    std::thread([d = std::move(d), a = std::move(a), s]() mutable {
      d.reset();
      a.reset();
      s->OnClosed();
      std::lock_guard<std::mutex> lock(g_closing_mu);
      if (--g_closing == 0) g_closing_cv.notify_all();
    }).detach();
  }
};

// The SDK's scheduler callbacks, each turned back into the Event it came
// from, so that every language dispatches on one message.
class SchedulerAdapter : public corral::Scheduler {
 public:
  explicit SchedulerAdapter(EventSink* sink) : sink_(sink) {}
  using Event = v1::scheduler::Event;

  void subscribed(corral::SchedulerDriver* d, const v1::FrameworkID& id, const v1::MasterInfo& master) override {
    Event ev;
    ev.set_type(Event::SUBSCRIBED);
    *ev.mutable_subscribed()->mutable_framework_id() = id;
    *ev.mutable_subscribed()->mutable_master_info() = master;
    Send(d, ev);
  }
  void offers(corral::SchedulerDriver* d, const std::vector<v1::Offer>& offers) override {
    Event ev;
    ev.set_type(Event::OFFERS);
    auto* list = ev.mutable_offers()->mutable_offers();
    list->Reserve(static_cast<int>(offers.size()));
    for (const auto& o : offers) *list->Add() = o;
    Send(d, ev);
  }
  void rescinded(corral::SchedulerDriver* d, const v1::OfferID& offer_id) override {
    Event ev;
    ev.set_type(Event::RESCIND);
    *ev.mutable_rescind()->mutable_offer_id() = offer_id;
    Send(d, ev);
  }
  void inverseOffers(corral::SchedulerDriver* d, const std::vector<v1::InverseOffer>& inverse_offers) override {
    Event ev;
    ev.set_type(Event::INVERSE_OFFERS);
    auto* list = ev.mutable_inverse_offers()->mutable_inverse_offers();
    for (const auto& o : inverse_offers) *list->Add() = o;
    Send(d, ev);
  }
  void rescindedInverseOffer(corral::SchedulerDriver* d, const v1::OfferID& inverse_offer_id) override {
    Event ev;
    ev.set_type(Event::RESCIND_INVERSE_OFFER);
    *ev.mutable_rescind_inverse_offer()->mutable_inverse_offer_id() = inverse_offer_id;
    Send(d, ev);
  }
  void update(corral::SchedulerDriver* d, const v1::TaskStatus& status) override {
    Event ev;
    ev.set_type(Event::UPDATE);
    *ev.mutable_update()->mutable_status() = status;
    Send(d, ev);
  }
  void message(corral::SchedulerDriver* d, const v1::AgentID& agent_id, const v1::ExecutorID& executor_id,
               const std::string& data) override {
    Event ev;
    ev.set_type(Event::MESSAGE);
    *ev.mutable_message()->mutable_agent_id() = agent_id;
    *ev.mutable_message()->mutable_executor_id() = executor_id;
    ev.mutable_message()->set_data(data);
    Send(d, ev);
  }
  void failure(corral::SchedulerDriver* d, const v1::AgentID& agent_id, const v1::ExecutorID& executor_id,
               int status) override {
    Event ev;
    ev.set_type(Event::FAILURE);
    if (!agent_id.value().empty()) *ev.mutable_failure()->mutable_agent_id() = agent_id;
    if (!executor_id.value().empty()) {
      *ev.mutable_failure()->mutable_executor_id() = executor_id;
      ev.mutable_failure()->set_status(status);
    }
    Send(d, ev);
  }
  void error(corral::SchedulerDriver* d, const std::string& message) override {
    Event ev;
    ev.set_type(Event::ERROR);
    ev.mutable_error()->set_message(message);
    Send(d, ev);
  }
  void disconnected(corral::SchedulerDriver* d) override {
    if (!Deliver([&] { return sink_->OnDisconnected(); })) d->abort().IgnoreError();
  }

 private:
  void Send(corral::SchedulerDriver* d, const Event& ev) {
    ev.SerializeToString(&buffer_);  // one buffer, reused: events come one at a time
    if (!Deliver([&] { return sink_->OnEvent(buffer_.data(), buffer_.size()); })) d->abort().IgnoreError();
  }
  EventSink* sink_;
  std::string buffer_;
};

class ExecutorAdapter : public corral::Executor {
 public:
  explicit ExecutorAdapter(EventSink* sink) : sink_(sink) {}
  using Event = v1::executor::Event;

  void subscribed(corral::ExecutorDriver* d, const v1::ExecutorInfo& executor, const v1::FrameworkInfo& framework,
                  const v1::AgentInfo& agent) override {
    Event ev;
    ev.set_type(Event::SUBSCRIBED);
    *ev.mutable_subscribed()->mutable_executor_info() = executor;
    *ev.mutable_subscribed()->mutable_framework_info() = framework;
    *ev.mutable_subscribed()->mutable_agent_info() = agent;
    Send(d, ev);
  }
  void launch(corral::ExecutorDriver* d, const v1::TaskInfo& task) override {
    Event ev;
    ev.set_type(Event::LAUNCH);
    *ev.mutable_launch()->mutable_task() = task;
    Send(d, ev);
  }
  void launchGroup(corral::ExecutorDriver* d, const v1::TaskGroupInfo& group) override {
    Event ev;
    ev.set_type(Event::LAUNCH_GROUP);
    *ev.mutable_launch_group()->mutable_task_group() = group;
    Send(d, ev);
  }
  void kill(corral::ExecutorDriver* d, const v1::TaskID& task_id, const v1::KillPolicy* policy) override {
    Event ev;
    ev.set_type(Event::KILL);
    *ev.mutable_kill()->mutable_task_id() = task_id;
    if (policy != nullptr) *ev.mutable_kill()->mutable_kill_policy() = *policy;
    Send(d, ev);
  }
  void acknowledged(corral::ExecutorDriver* d, const v1::TaskID& task_id, const std::string& uuid) override {
    Event ev;
    ev.set_type(Event::ACKNOWLEDGED);
    *ev.mutable_acknowledged()->mutable_task_id() = task_id;
    ev.mutable_acknowledged()->set_uuid(uuid);
    Send(d, ev);
  }
  void message(corral::ExecutorDriver* d, const std::string& data) override {
    Event ev;
    ev.set_type(Event::MESSAGE);
    ev.mutable_message()->set_data(data);
    Send(d, ev);
  }
  void shutdown(corral::ExecutorDriver* d) override {
    Event ev;
    ev.set_type(Event::SHUTDOWN);
    Send(d, ev);
  }
  void error(corral::ExecutorDriver* d, const std::string& message) override {
    Event ev;
    ev.set_type(Event::ERROR);
    ev.mutable_error()->set_message(message);
    Send(d, ev);
  }

 private:
  void Send(corral::ExecutorDriver* d, const Event& ev) {
    ev.SerializeToString(&buffer_);
    // The executor driver has no abort: a failed handler stops it.
    if (!Deliver([&] { return sink_->OnEvent(buffer_.data(), buffer_.size()); })) d->stop().IgnoreError();
  }
  EventSink* sink_;
  std::string buffer_;
};

}  // namespace

int BindingVersion() { return kBindingVersion; }
std::string CorralVersion() { return CORRAL_VERSION; }
bool InCallback() { return g_in_callback > 0; }

bool WaitForClosing(double seconds) {
  std::unique_lock<std::mutex> lock(g_closing_mu);
  return g_closing_cv.wait_for(lock, std::chrono::duration<double>(seconds), [] { return g_closing == 0; });
}

// --- SchedulerDriver ---------------------------------------------------------

struct SchedulerDriver::State : Holder<corral::SchedulerDriver, SchedulerAdapter> {};

SchedulerDriver::SchedulerDriver(EventSink* sink, const char* framework, size_t framework_size,
                                 const std::string& master, const SchedulerOptions& options)
    : state_(std::make_shared<State>()) {
  v1::FrameworkInfo info;
  if (sink == nullptr) {
    state_->init_error = {static_cast<int>(absl::StatusCode::kInvalidArgument), "sink: must not be null"};
    return;
  }
  state_->sink = sink;
  if (framework == nullptr || !info.ParseFromArray(framework, static_cast<int>(framework_size))) {
    state_->init_error = {static_cast<int>(absl::StatusCode::kInvalidArgument),
                          "framework: not a serialized FrameworkInfo"};
    return;
  }
  corral::SchedulerDriverOptions o;
  o.implicit_acknowledgements = options.implicit_acknowledgements;
  o.reconnect_backoff_min = options.reconnect_backoff_min;
  o.reconnect_backoff_max = options.reconnect_backoff_max;
  o.call_timeout = options.call_timeout;
  o.principal = options.principal;
  o.secret = options.secret;
  o.tls = options.tls;
  o.tls_ca_file = options.tls_ca_file;
  o.tls_cert_file = options.tls_cert_file;
  o.tls_key_file = options.tls_key_file;
  state_->adapter = std::make_unique<SchedulerAdapter>(sink);
  state_->driver = std::make_unique<corral::SchedulerDriver>(state_->adapter.get(), info, master, o);
}

SchedulerDriver::~SchedulerDriver() { Close(); }

Result SchedulerDriver::init_error() const { return state_->init_error; }
Result SchedulerDriver::Start() {
  return state_->Checked([](corral::SchedulerDriver& d) { return d.start(); });
}
Result SchedulerDriver::Stop(bool failover) {
  return state_->Checked([&](corral::SchedulerDriver& d) { return d.stop(failover); });
}
Result SchedulerDriver::Abort() {
  return state_->Checked([](corral::SchedulerDriver& d) { return d.abort(); });
}
Result SchedulerDriver::JoinFor(double seconds) { return state_->JoinFor(seconds); }
int SchedulerDriver::Status() {
  std::shared_lock<std::shared_mutex> lock(state_->mu);
  return static_cast<int>(state_->driver ? state_->driver->status() : corral::DriverStatus::kStopped);
}
std::string SchedulerDriver::FrameworkId() {
  std::shared_lock<std::shared_mutex> lock(state_->mu);
  return state_->driver ? state_->driver->framework_id().value() : "";
}
Result SchedulerDriver::Call(const char* data, size_t size) {
  v1::scheduler::Call call;
  if (data == nullptr || !call.ParseFromArray(data, static_cast<int>(size))) {
    return {static_cast<int>(absl::StatusCode::kInvalidArgument), "call: not a serialized scheduler Call"};
  }
  return state_->Checked([&](corral::SchedulerDriver& d) { return d.call(call); });
}
void SchedulerDriver::Close() { state_->Close(); }

// --- ExecutorDriver ----------------------------------------------------------

struct ExecutorDriver::State : Holder<corral::ExecutorDriver, ExecutorAdapter> {};

ExecutorDriver::ExecutorDriver(EventSink* sink) : state_(std::make_shared<State>()) {
  if (sink == nullptr) {
    state_->init_error = {static_cast<int>(absl::StatusCode::kInvalidArgument), "sink: must not be null"};
    return;
  }
  state_->sink = sink;
  state_->adapter = std::make_unique<ExecutorAdapter>(sink);
  state_->driver = std::make_unique<corral::ExecutorDriver>(state_->adapter.get());
}

ExecutorDriver::~ExecutorDriver() { Close(); }

Result ExecutorDriver::Start() {
  return state_->Checked([](corral::ExecutorDriver& d) { return d.start(); });
}
Result ExecutorDriver::Stop() {
  return state_->Checked([](corral::ExecutorDriver& d) { return d.stop(); });
}
Result ExecutorDriver::JoinFor(double seconds) { return state_->JoinFor(seconds); }
Result ExecutorDriver::SendStatusUpdate(const char* data, size_t size) {
  v1::TaskStatus status;
  if (data == nullptr || !status.ParseFromArray(data, static_cast<int>(size))) {
    return {static_cast<int>(absl::StatusCode::kInvalidArgument), "status: not a serialized TaskStatus"};
  }
  return state_->Checked([&](corral::ExecutorDriver& d) { return d.sendStatusUpdate(status); });
}
Result ExecutorDriver::SendFrameworkMessage(const char* data, size_t size) {
  std::string bytes(data == nullptr ? "" : std::string(data, size));
  return state_->Checked([&](corral::ExecutorDriver& d) { return d.sendFrameworkMessage(bytes); });
}
void ExecutorDriver::Close() { state_->Close(); }

}  // namespace corral::binding
