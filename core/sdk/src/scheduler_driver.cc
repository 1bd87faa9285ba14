#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "corral/common/event_loop.h"
#include "corral/common/logging.h"
#include "corral/scheduler.h"
#include "corral/v1/internal.grpc.pb.h"
#include "corral/auth/credentials.h"
#include "corral/tls/channel_credentials.h"
#include "corral/common/grpc_status.h"
#include "corral/zookeeper/leader.h"

namespace corral {

using v1::scheduler::Call;
using v1::scheduler::Event;

struct SchedulerDriver::Impl {
  std::string authorization;      // the Authorization metadata of every call; empty: none
  absl::Status credential_error;  // a credential that could not be read: start() fails with it
  std::shared_ptr<grpc::ChannelCredentials> channel_credentials;  // TLS or insecure
  SchedulerDriver* driver;
  Scheduler* scheduler;
  v1::FrameworkInfo framework;
  std::string master;
  SchedulerDriverOptions options;
  using Stub = v1::internal::SchedulerService::Stub;
  // The leading master's stub; replaced (under mu) when a zk:// master URL
  // names a new leader, null while none leads.
  std::shared_ptr<Stub> stub;
  std::string leader;
  std::unique_ptr<zk::MasterDetector> detector;

  std::shared_ptr<Stub> StubFor(const std::string& address) const {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(256 << 20);
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
    return v1::internal::SchedulerService::NewStub(grpc::CreateCustomChannel(address, channel_credentials, args));
  }

  // The detector's thread: a new leader ends the stream to the old one, and
  // the connection thread subscribes again (with the framework ID) there.
  void OnLeader(const std::string& address) {
    std::shared_ptr<grpc::ClientContext> ctx;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (address == leader) return;
      leader = address;
      stub = address.empty() ? nullptr : StubFor(address);
      ctx = stream_ctx;
    }
    if (ctx) ctx->TryCancel();
    cv.notify_all();
  }

  std::shared_ptr<Stub> CurrentStub() {
    std::lock_guard<std::mutex> lock(mu);
    return stub;
  }

  // A subscription that goes silent is dead even when its connection says
  // nothing (a host lost without a reset, a server gone with the stream
  // open): until SUBSCRIBED it may be silent for a call timeout, then for
  // three of the master's heartbeat intervals; longer, and it is cancelled
  // and subscribed again. Steady-clock nanoseconds of the last sign of life.
  std::atomic<int64_t> last_heard_ns{0};
  std::atomic<double> silence_limit{0};     // seconds; 0: no limit
  grpc::ClientContext* silenced = nullptr;  // the stream cancelled for it (under mu)

  static int64_t NowNs() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  // The callback thread, every second while the driver runs.
  void Watch() {
    std::shared_ptr<grpc::ClientContext> ctx;
    std::string master_address;
    double silent = 0;
    {
      // Read under mu: a new stream sets both (under mu) as it starts.
      std::lock_guard<std::mutex> lock(mu);
      if (status != DriverStatus::kRunning) return;
      silent = (NowNs() - last_heard_ns.load(std::memory_order_relaxed)) / 1e9;
      double limit = silence_limit.load(std::memory_order_relaxed);
      if (stream_ctx && stream_ctx.get() != silenced && limit > 0 && silent > limit) {
        ctx = stream_ctx;
        silenced = ctx.get();
        master_address = leader;
      }
    }
    if (ctx) {
      CORRAL_LOG(WARNING) << "No word from the master at " << master_address << " for " << silent
                          << " s; subscribing again";
      ctx->TryCancel();
    }
    callbacks->PostAfter(absl::Seconds(1), [this] { Watch(); });
  }

  mutable std::mutex mu;
  std::condition_variable cv;
  DriverStatus status = DriverStatus::kNotStarted;
  absl::Status abort_error;
  std::string framework_id;
  bool subscribed = false;
  bool stopping = false;
  std::shared_ptr<grpc::ClientContext> stream_ctx;
  std::thread connection;
  std::mutex join_mu;  // stop() may run on the callback thread and in the destructor at once

  void JoinConnection() {
    std::lock_guard<std::mutex> lock(join_mu);
    if (connection.joinable() && connection.get_id() != std::this_thread::get_id()) connection.join();
  }
  std::unique_ptr<EventLoop> callbacks;

  bool Running() {
    std::lock_guard<std::mutex> lock(mu);
    return status == DriverStatus::kRunning;
  }

  // Runs `fn` on the callback thread, unless the driver stopped meanwhile.
  void Callback(std::function<void()> fn) {
    callbacks->Post([this, fn = std::move(fn)] {
      if (Running()) fn();
    });
  }

  void Abort(const std::string& why) {
    std::shared_ptr<grpc::ClientContext> ctx;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (status != DriverStatus::kRunning) return;
      status = DriverStatus::kAborted;
      abort_error = absl::AbortedError(why);
      stopping = true;
      ctx = stream_ctx;
    }
    if (ctx) ctx->TryCancel();
    cv.notify_all();
  }

  void Dispatch(const Event& ev) {
    switch (ev.type()) {
      case Event::SUBSCRIBED: {
        {
          std::lock_guard<std::mutex> lock(mu);
          framework_id = ev.subscribed().framework_id().value();
          framework.mutable_id()->set_value(framework_id);
          subscribed = true;
        }
        Callback([this, ev] {
          scheduler->subscribed(driver, ev.subscribed().framework_id(), ev.subscribed().master_info());
        });
        break;
      }
      case Event::OFFERS:
        Callback([this, ev] {
          std::vector<v1::Offer> offers(ev.offers().offers().begin(), ev.offers().offers().end());
          scheduler->offers(driver, offers);
        });
        break;
      case Event::RESCIND: Callback([this, ev] { scheduler->rescinded(driver, ev.rescind().offer_id()); }); break;
      case Event::INVERSE_OFFERS:
        Callback([this, ev] {
          std::vector<v1::InverseOffer> offers(ev.inverse_offers().inverse_offers().begin(),
                                               ev.inverse_offers().inverse_offers().end());
          scheduler->inverseOffers(driver, offers);
        });
        break;
      case Event::RESCIND_INVERSE_OFFER:
        Callback(
            [this, ev] { scheduler->rescindedInverseOffer(driver, ev.rescind_inverse_offer().inverse_offer_id()); });
        break;
      case Event::UPDATE:
        Callback([this, ev] {
          const v1::TaskStatus& st = ev.update().status();
          scheduler->update(driver, st);
          if (options.implicit_acknowledgements && st.has_uuid() && Running()) AcknowledgeAsync(st);
        });
        break;
      case Event::MESSAGE:
        Callback([this, ev] {
          scheduler->message(driver, ev.message().agent_id(), ev.message().executor_id(), ev.message().data());
        });
        break;
      case Event::FAILURE:
        Callback([this, ev] {
          scheduler->failure(driver, ev.failure().agent_id(), ev.failure().executor_id(), ev.failure().status());
        });
        break;
      case Event::ERROR:
        Callback([this, ev] { scheduler->error(driver, ev.error().message()); });
        callbacks->Post([this, msg = ev.error().message()] { Abort(msg); });
        break;
      default: break;  // HEARTBEAT and events this SDK does not surface
    }
  }

  void Run() {
    double backoff = options.reconnect_backoff_min;
    while (true) {
      std::shared_ptr<grpc::ClientContext> ctx = std::make_shared<grpc::ClientContext>();
      Authorize(ctx.get());
      Call sub;
      std::shared_ptr<Stub> stub;
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [this] { return stopping || this->stub != nullptr; });
        if (stopping) return;
        stub = this->stub;
        stream_ctx = ctx;
        last_heard_ns.store(NowNs(), std::memory_order_relaxed);
        silence_limit.store(options.call_timeout, std::memory_order_relaxed);
        sub.set_type(Call::SUBSCRIBE);
        *sub.mutable_subscribe()->mutable_framework_info() = framework;
        if (!framework_id.empty()) sub.mutable_framework_id()->set_value(framework_id);
      }
      auto reader = stub->Subscribe(ctx.get(), sub);
      Event ev;
      while (reader->Read(&ev)) {
        last_heard_ns.store(NowNs(), std::memory_order_relaxed);
        if (ev.type() == Event::SUBSCRIBED) {
          double hb = ev.subscribed().heartbeat_interval_seconds();
          silence_limit.store(hb > 0 ? std::max(3 * hb, options.call_timeout) : 0, std::memory_order_relaxed);
        }
        backoff = options.reconnect_backoff_min;
        Dispatch(ev);
      }
      grpc::Status st = reader->Finish();
      bool was_subscribed;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (stopping) return;
        was_subscribed = subscribed;
        subscribed = false;
      }
      if (IsPermanentError(st)) {
        std::string why = absl::StrCat("the master refused the subscription: ", st.error_message());
        Callback([this, why] { scheduler->error(driver, why); });
        callbacks->Post([this, why] { Abort(why); });
        return;
      }
      if (was_subscribed) Callback([this] { scheduler->disconnected(driver); });
      std::unique_lock<std::mutex> lock(mu);
      cv.wait_for(lock, std::chrono::duration<double>(backoff), [this] { return stopping; });
      if (stopping) return;
      backoff = std::min(backoff * 2, options.reconnect_backoff_max);
    }
  }

  void Authorize(grpc::ClientContext* ctx) const {
    if (!authorization.empty()) ctx->AddMetadata("authorization", authorization);
  }

  // Implicit acknowledgements do not hold up the callback thread; a lost
  // one is harmless: the agent resends the update and it is acked again.
  bool AcknowledgeAsync(const v1::TaskStatus& st) {
    struct Pending {
      grpc::ClientContext ctx;
      Call call;
      v1::internal::CallResponse resp;
    };
    auto* p = new Pending();
    {
      std::lock_guard<std::mutex> lock(mu);
      if (framework_id.empty() || status != DriverStatus::kRunning) {
        delete p;
        return false;
      }
      p->call.mutable_framework_id()->set_value(framework_id);
    }
    p->call.set_type(Call::ACKNOWLEDGE);
    *p->call.mutable_acknowledge()->mutable_agent_id() = st.agent_id();
    *p->call.mutable_acknowledge()->mutable_task_id() = st.task_id();
    p->call.mutable_acknowledge()->set_uuid(st.uuid());
    p->ctx.set_deadline(std::chrono::system_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(options.call_timeout * 1000)));
    Authorize(&p->ctx);
    std::shared_ptr<Stub> stub = CurrentStub();
    if (!stub) {
      delete p;
      return false;
    }
    {
      std::lock_guard<std::mutex> lock(acks_mu);
      acks_in_flight.insert(&p->ctx);
    }
    // The stub (and its channel) stays with the driver, which waits for the
    // acknowledgements in flight before it goes: the last reference to a
    // channel must not be dropped on gRPC's callback thread (gRPC may shut
    // down from there and abort).
    stub->async()->Call(&p->ctx, &p->call, &p->resp, [this, p](grpc::Status) {
      grpc::ClientContext* ctx = &p->ctx;
      delete p;
      std::lock_guard<std::mutex> lock(acks_mu);
      acks_in_flight.erase(ctx);
      acks_cv.notify_all();
    });
    {
      std::lock_guard<std::mutex> lock(mu);
      ack_stubs.insert(stub);  // kept until the driver goes
    }
    return true;
  }

  // Cancels the acknowledgements still in flight and waits until gRPC is
  // done with each. Only from the driver's destructor.
  void DrainAcknowledgements() {
    std::unique_lock<std::mutex> lock(acks_mu);
    for (grpc::ClientContext* ctx : acks_in_flight) ctx->TryCancel();
    acks_cv.wait(lock, [this] { return acks_in_flight.empty(); });
  }

  std::mutex acks_mu;
  std::condition_variable acks_cv;
  std::set<grpc::ClientContext*> acks_in_flight;  // under acks_mu
  std::set<std::shared_ptr<Stub>> ack_stubs;      // under mu: every stub an acknowledgement went to

  absl::Status Send(Call call) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (status != DriverStatus::kRunning) return absl::FailedPreconditionError("the driver is not running");
      if (framework_id.empty()) return absl::FailedPreconditionError("the framework is not subscribed yet");
      call.mutable_framework_id()->set_value(framework_id);
    }
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::milliseconds(static_cast<int64_t>(options.call_timeout * 1000)));
    Authorize(&ctx);
    v1::internal::CallResponse resp;
    std::shared_ptr<Stub> stub = CurrentStub();
    if (!stub) return absl::UnavailableError("no master leads at the moment");
    return FromGrpcStatus(stub->Call(&ctx, call, &resp));
  }
};

namespace {
// The options' TLS settings, else the environment's.
absl::StatusOr<tls::TlsOptions> ClientTls(const SchedulerDriverOptions& options) {
  if (!options.tls && options.tls_ca_file.empty() && options.tls_cert_file.empty() && options.tls_key_file.empty()) {
    return tls::TlsFromEnvironment();
  }
  tls::TlsOptions o;
  o.enabled = true;
  o.ca_file = options.tls_ca_file;
  o.cert_file = options.tls_cert_file;
  o.key_file = options.tls_key_file;
  return o;
}
}  // namespace

SchedulerDriver::SchedulerDriver(Scheduler* scheduler, const v1::FrameworkInfo& framework, const std::string& master,
                                 const SchedulerDriverOptions& options)
    : impl_(std::make_unique<Impl>()) {
  impl_->driver = this;
  impl_->scheduler = scheduler;
  impl_->framework = framework;
  impl_->master = master;
  impl_->options = options;
  if (impl_->framework.user().empty()) {
    struct passwd* pw = getpwuid(geteuid());
    impl_->framework.set_user(pw ? pw->pw_name : "root");
  }
  std::optional<auth::Credential> credential;
  if (!options.principal.empty()) {
    credential = auth::Credential{options.principal, options.secret};
  } else if (!options.secret.empty()) {
    impl_->credential_error = absl::InvalidArgumentError("a secret was given without a principal");
  } else if (auto from_env = auth::CredentialFromEnvironment(); !from_env.ok()) {
    impl_->credential_error = from_env.status();
  } else {
    credential = *from_env;
  }
  if (credential) {
    impl_->authorization = auth::BasicAuthorization(*credential);
    if (impl_->framework.principal().empty()) impl_->framework.set_principal(credential->principal);
  }
  if (framework.has_id()) impl_->framework_id = framework.id().value();
  auto client_tls = ClientTls(options);
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> channel =
      client_tls.ok() ? tls::ChannelCredentials(*client_tls) : client_tls.status();
  if (!channel.ok()) {
    if (impl_->credential_error.ok()) {
      impl_->credential_error = absl::InvalidArgumentError(absl::StrCat("TLS: ", channel.status().message()));
    }
  } else {
    impl_->channel_credentials = std::move(*channel);
  }
}

SchedulerDriver::~SchedulerDriver() {
  (void)stop(true);
  if (impl_->callbacks) impl_->callbacks->Stop();
  impl_->DrainAcknowledgements();
}

absl::Status SchedulerDriver::start() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (impl_->status != DriverStatus::kNotStarted)
    return absl::FailedPreconditionError("the driver was already started");
  if (impl_->scheduler == nullptr) return absl::InvalidArgumentError("scheduler is null");
  if (!impl_->credential_error.ok()) return impl_->credential_error;
  if (impl_->master.empty()) return absl::InvalidArgumentError("master address is empty");
  if (zk::IsZkUrl(impl_->master)) {
    // The leader comes later, from the detector's thread (never from here:
    // mu is held).
    Impl* impl = impl_.get();
    auto detector = zk::MasterDetector::Start(
        impl_->master, [impl](const std::string& a) { impl->OnLeader(a); }, impl_->options.zk_session_timeout);
    if (!detector.ok()) return detector.status();
    impl_->detector = std::move(*detector);
  } else {
    impl_->leader = impl_->master;
    impl_->stub = impl_->StubFor(impl_->master);
  }
  impl_->callbacks = std::make_unique<EventLoop>("corral-sched-cb");
  impl_->status = DriverStatus::kRunning;
  impl_->connection = std::thread([this] { impl_->Run(); });
  Impl* impl = impl_.get();
  impl_->callbacks->PostAfter(absl::Seconds(1), [impl] { impl->Watch(); });
  return absl::OkStatus();
}

absl::Status SchedulerDriver::stop(bool failover) {
  bool teardown = false;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->status == DriverStatus::kNotStarted) return absl::FailedPreconditionError("the driver is not running");
    teardown = !failover && impl_->status == DriverStatus::kRunning && !impl_->framework_id.empty();
  }
  absl::Status result;
  if (teardown) {
    Call c;
    c.set_type(Call::TEARDOWN);
    result = impl_->Send(c);
  }
  std::shared_ptr<grpc::ClientContext> ctx;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stopping = true;
    if (impl_->status == DriverStatus::kRunning) impl_->status = DriverStatus::kStopped;
    ctx = impl_->stream_ctx;
  }
  if (ctx) ctx->TryCancel();
  impl_->cv.notify_all();
  impl_->JoinConnection();
  // Joins the detector's thread: no OnLeader runs after this.
  std::unique_ptr<zk::MasterDetector> detector;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    detector = std::move(impl_->detector);
  }
  detector.reset();
  return result;
}

absl::Status SchedulerDriver::abort() {
  impl_->Abort("aborted by the framework");
  impl_->JoinConnection();
  return absl::OkStatus();
}

absl::Status SchedulerDriver::join() {
  std::unique_lock<std::mutex> lock(impl_->mu);
  if (impl_->status == DriverStatus::kNotStarted) return absl::FailedPreconditionError("the driver is not running");
  impl_->cv.wait(lock, [this] { return impl_->status != DriverStatus::kRunning; });
  return impl_->abort_error;
}

std::optional<absl::Status> SchedulerDriver::joinFor(double seconds) {
  std::unique_lock<std::mutex> lock(impl_->mu);
  if (impl_->status == DriverStatus::kNotStarted) return absl::FailedPreconditionError("the driver is not running");
  if (!impl_->cv.wait_for(lock, std::chrono::duration<double>(std::max(0.0, seconds)),
                          [this] { return impl_->status != DriverStatus::kRunning; })) {
    return std::nullopt;
  }
  return impl_->abort_error;
}

absl::Status SchedulerDriver::run() {
  if (auto s = start(); !s.ok()) return s;
  return join();
}

DriverStatus SchedulerDriver::status() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->status;
}

v1::FrameworkID SchedulerDriver::framework_id() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  v1::FrameworkID id;
  if (!impl_->framework_id.empty()) id.set_value(impl_->framework_id);
  return id;
}

absl::Status SchedulerDriver::accept(const std::vector<v1::OfferID>& offer_ids,
                                     const std::vector<v1::Offer::Operation>& operations, const v1::Filters& filters) {
  Call c;
  c.set_type(Call::ACCEPT);
  for (const auto& id : offer_ids) *c.mutable_accept()->add_offer_ids() = id;
  for (const auto& op : operations) *c.mutable_accept()->add_operations() = op;
  *c.mutable_accept()->mutable_filters() = filters;
  return impl_->Send(c);
}

absl::Status SchedulerDriver::launch(const v1::OfferID& offer_id, const std::vector<v1::TaskInfo>& tasks,
                                     const v1::Filters& filters) {
  v1::Offer::Operation op;
  op.set_type(v1::Offer::Operation::LAUNCH);
  for (const auto& t : tasks) *op.mutable_launch()->add_task_infos() = t;
  return accept({offer_id}, {op}, filters);
}

absl::Status SchedulerDriver::launchGroup(const v1::OfferID& offer_id, const v1::ExecutorInfo& executor,
                                          const v1::TaskGroupInfo& group, const v1::Filters& filters) {
  v1::Offer::Operation op;
  op.set_type(v1::Offer::Operation::LAUNCH_GROUP);
  *op.mutable_launch_group()->mutable_executor() = executor;
  *op.mutable_launch_group()->mutable_task_group() = group;
  return accept({offer_id}, {op}, filters);
}

absl::Status SchedulerDriver::decline(const std::vector<v1::OfferID>& offer_ids, const v1::Filters& filters) {
  Call c;
  c.set_type(Call::DECLINE);
  for (const auto& id : offer_ids) *c.mutable_decline()->add_offer_ids() = id;
  *c.mutable_decline()->mutable_filters() = filters;
  return impl_->Send(c);
}

absl::Status SchedulerDriver::acceptInverseOffers(const std::vector<v1::OfferID>& inverse_offer_ids,
                                                  const v1::Filters& filters) {
  Call c;
  c.set_type(Call::ACCEPT_INVERSE_OFFERS);
  for (const auto& id : inverse_offer_ids) *c.mutable_accept_inverse_offers()->add_inverse_offer_ids() = id;
  *c.mutable_accept_inverse_offers()->mutable_filters() = filters;
  return impl_->Send(c);
}

absl::Status SchedulerDriver::declineInverseOffers(const std::vector<v1::OfferID>& inverse_offer_ids,
                                                   const v1::Filters& filters) {
  Call c;
  c.set_type(Call::DECLINE_INVERSE_OFFERS);
  for (const auto& id : inverse_offer_ids) *c.mutable_decline_inverse_offers()->add_inverse_offer_ids() = id;
  *c.mutable_decline_inverse_offers()->mutable_filters() = filters;
  return impl_->Send(c);
}

absl::Status SchedulerDriver::kill(const v1::TaskID& task_id, const v1::AgentID& agent_id) {
  Call c;
  c.set_type(Call::KILL);
  *c.mutable_kill()->mutable_task_id() = task_id;
  if (agent_id.has_value()) *c.mutable_kill()->mutable_agent_id() = agent_id;
  return impl_->Send(c);
}

absl::Status SchedulerDriver::killWithPolicy(const v1::TaskID& task_id, const v1::AgentID& agent_id,
                                             const v1::KillPolicy& policy) {
  Call c;
  c.set_type(Call::KILL);
  *c.mutable_kill()->mutable_task_id() = task_id;
  if (agent_id.has_value()) *c.mutable_kill()->mutable_agent_id() = agent_id;
  *c.mutable_kill()->mutable_kill_policy() = policy;
  return impl_->Send(c);
}

absl::Status SchedulerDriver::acknowledge(const v1::AgentID& agent_id, const v1::TaskID& task_id,
                                          const std::string& uuid) {
  Call c;
  c.set_type(Call::ACKNOWLEDGE);
  *c.mutable_acknowledge()->mutable_agent_id() = agent_id;
  *c.mutable_acknowledge()->mutable_task_id() = task_id;
  c.mutable_acknowledge()->set_uuid(uuid);
  return impl_->Send(c);
}

absl::Status SchedulerDriver::acknowledgeAsync(const v1::AgentID& agent_id, const v1::TaskID& task_id,
                                               const std::string& uuid) {
  v1::TaskStatus st;
  *st.mutable_agent_id() = agent_id;
  *st.mutable_task_id() = task_id;
  st.set_uuid(uuid);
  if (!impl_->AcknowledgeAsync(st)) return absl::FailedPreconditionError("the framework is not subscribed");
  return absl::OkStatus();
}

absl::Status SchedulerDriver::reconcile(const std::vector<Call::Reconcile::Task>& tasks) {
  Call c;
  c.set_type(Call::RECONCILE);
  c.mutable_reconcile();
  for (const auto& t : tasks) *c.mutable_reconcile()->add_tasks() = t;
  return impl_->Send(c);
}

absl::Status SchedulerDriver::revive(const std::vector<std::string>& roles) {
  Call c;
  c.set_type(Call::REVIVE);
  c.mutable_revive();
  for (const auto& r : roles) c.mutable_revive()->add_roles(r);
  return impl_->Send(c);
}

absl::Status SchedulerDriver::suppress(const std::vector<std::string>& roles) {
  Call c;
  c.set_type(Call::SUPPRESS);
  c.mutable_suppress();
  for (const auto& r : roles) c.mutable_suppress()->add_roles(r);
  return impl_->Send(c);
}

absl::Status SchedulerDriver::message(const v1::AgentID& agent_id, const v1::ExecutorID& executor_id,
                                      const std::string& data) {
  Call c;
  c.set_type(Call::MESSAGE);
  *c.mutable_message()->mutable_agent_id() = agent_id;
  *c.mutable_message()->mutable_executor_id() = executor_id;
  c.mutable_message()->set_data(data);
  return impl_->Send(c);
}

absl::Status SchedulerDriver::shutdown(const v1::ExecutorID& executor_id, const v1::AgentID& agent_id) {
  Call c;
  c.set_type(Call::SHUTDOWN);
  *c.mutable_shutdown()->mutable_executor_id() = executor_id;
  *c.mutable_shutdown()->mutable_agent_id() = agent_id;
  return impl_->Send(c);
}

absl::Status SchedulerDriver::call(const Call& c) { return impl_->Send(c); }

}  // namespace corral
