#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <map>
#include <mutex>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "corral/common/duration.h"
#include "corral/common/event_loop.h"
#include "corral/common/ids.h"
#include "corral/executor.h"
#include "corral/v1/internal.grpc.pb.h"
#include "corral/common/grpc_status.h"
#include "corral/tls/channel_credentials.h"

namespace corral {

using v1::executor::Call;
using v1::executor::Event;

namespace {
std::string Env(const char* a, const char* b = nullptr) {
  const char* v = std::getenv(a);
  if ((v == nullptr || *v == '\0') && b != nullptr) v = std::getenv(b);
  return v ? v : "";
}
}  // namespace

struct ExecutorDriver::Impl {
  ExecutorDriver* driver;
  Executor* executor;
  std::string endpoint, framework_id, executor_id;
  // As the agent says (MESOS_RECOVERY_TIMEOUT, MESOS_SUBSCRIPTION_BACKOFF_MAX).
  double recovery_timeout = 15 * 60;
  double backoff_max = 2.0;
  std::unique_ptr<v1::internal::ExecutorService::Stub> stub;

  std::mutex mu;
  std::condition_variable cv;
  bool running = false;
  bool stopping = false;
  absl::Status error;
  std::shared_ptr<grpc::ClientContext> stream_ctx;
  // The agent's token for this executor's container (MESOS_EXECUTOR_AUTHENTICATION_TOKEN),
  // sent with every call; empty: none.
  std::string token;
  void Authorize(grpc::ClientContext* ctx) const {
    if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
  }
  std::map<std::string, Call::Update> unacked;        // by uuid
  std::map<std::string, v1::TaskInfo> unacked_tasks;  // launched, no update yet
  std::thread connection;
  std::mutex join_mu;  // stop() may run on the callback thread and in the destructor at once

  void JoinConnection() {
    std::lock_guard<std::mutex> lock(join_mu);
    if (connection.joinable() && connection.get_id() != std::this_thread::get_id()) connection.join();
  }
  std::unique_ptr<EventLoop> callbacks;

  bool Running() {
    std::lock_guard<std::mutex> lock(mu);
    return running;
  }
  void Callback(std::function<void()> fn) {
    callbacks->Post([this, fn = std::move(fn)] {
      if (Running()) fn();
    });
  }
  void Finish(absl::Status why) {
    std::shared_ptr<grpc::ClientContext> ctx;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!running) return;
      running = false;
      stopping = true;
      error = why;
      ctx = stream_ctx;
    }
    if (ctx) ctx->TryCancel();
    cv.notify_all();
  }

  void Dispatch(const Event& ev) {
    switch (ev.type()) {
      case Event::SUBSCRIBED:
        Callback([this, ev] {
          executor->subscribed(driver, ev.subscribed().executor_info(), ev.subscribed().framework_info(),
                               ev.subscribed().agent_info());
        });
        break;
      case Event::LAUNCH: {
        std::lock_guard<std::mutex> lock(mu);
        unacked_tasks[ev.launch().task().task_id().value()] = ev.launch().task();
      }
        Callback([this, ev] { executor->launch(driver, ev.launch().task()); });
        break;
      case Event::LAUNCH_GROUP: {
        std::lock_guard<std::mutex> lock(mu);
        for (const auto& t : ev.launch_group().task_group().tasks()) unacked_tasks[t.task_id().value()] = t;
      }
        Callback([this, ev] { executor->launchGroup(driver, ev.launch_group().task_group()); });
        break;
      case Event::KILL:
        Callback([this, ev] {
          executor->kill(driver, ev.kill().task_id(), ev.kill().has_kill_policy() ? &ev.kill().kill_policy() : nullptr);
        });
        break;
      case Event::ACKNOWLEDGED: {
        std::lock_guard<std::mutex> lock(mu);
        unacked.erase(ev.acknowledged().uuid());
      }
        Callback([this, ev] { executor->acknowledged(driver, ev.acknowledged().task_id(), ev.acknowledged().uuid()); });
        break;
      case Event::MESSAGE: Callback([this, ev] { executor->message(driver, ev.message().data()); }); break;
      case Event::SHUTDOWN:
        Callback([this] { executor->shutdown(driver); });
        callbacks->Post([this] { Finish(absl::OkStatus()); });
        break;
      case Event::ERROR: Callback([this, ev] { executor->error(driver, ev.error().message()); }); break;
      default: break;
    }
  }

  void Run() {
    double backoff = 0.05;
    auto disconnected_since = std::chrono::steady_clock::now();
    while (true) {
      auto ctx = std::make_shared<grpc::ClientContext>();
      Authorize(ctx.get());
      Call sub;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (stopping) return;
        stream_ctx = ctx;
        sub.set_type(Call::SUBSCRIBE);
        sub.mutable_framework_id()->set_value(framework_id);
        sub.mutable_executor_id()->set_value(executor_id);
        for (const auto& [uuid, u] : unacked) *sub.mutable_subscribe()->add_unacknowledged_updates() = u;
        for (const auto& [tid, t] : unacked_tasks) *sub.mutable_subscribe()->add_unacknowledged_tasks() = t;
      }
      auto reader = stub->Subscribe(ctx.get(), sub);
      Event ev;
      bool got = false;
      while (reader->Read(&ev)) {
        got = true;
        backoff = 0.05;
        Dispatch(ev);
      }
      grpc::Status st = reader->Finish();
      {
        std::lock_guard<std::mutex> lock(mu);
        if (stopping) return;
      }
      if (IsPermanentError(st)) {
        std::string why = absl::StrCat("the agent refused the subscription: ", st.error_message());
        Callback([this, why] { executor->error(driver, why); });
        callbacks->Post([this, why] { Finish(absl::AbortedError(why)); });
        return;
      }
      if (got) disconnected_since = std::chrono::steady_clock::now();
      if (std::chrono::steady_clock::now() - disconnected_since > std::chrono::duration<double>(recovery_timeout)) {
        Finish(absl::DeadlineExceededError("lost the agent for longer than the recovery timeout"));
        return;
      }
      std::unique_lock<std::mutex> lock(mu);
      cv.wait_for(lock, std::chrono::duration<double>(backoff), [this] { return stopping; });
      if (stopping) return;
      backoff = std::min(backoff * 2, backoff_max);
    }
  }

  absl::Status Send(Call call) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!stub) return absl::FailedPreconditionError("the driver is not running: call start() first");
    }
    call.mutable_framework_id()->set_value(framework_id);
    call.mutable_executor_id()->set_value(executor_id);
    grpc::ClientContext ctx;
    Authorize(&ctx);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::internal::CallResponse resp;
    return FromGrpcStatus(stub->Call(&ctx, call, &resp));
  }
};

ExecutorDriver::ExecutorDriver(Executor* executor) : impl_(std::make_unique<Impl>()) {
  impl_->driver = this;
  impl_->executor = executor;
  impl_->endpoint = Env("CORRAL_AGENT_ENDPOINT", "MESOS_AGENT_ENDPOINT");
  impl_->framework_id = Env("MESOS_FRAMEWORK_ID");
  impl_->executor_id = Env("MESOS_EXECUTOR_ID");
  impl_->token = Env("MESOS_EXECUTOR_AUTHENTICATION_TOKEN");
  // Mesos's duration syntax ("15mins", "2secs"); a value that does not
  // parse leaves the default.
  if (auto rt = ParseDurationSeconds(Env("MESOS_RECOVERY_TIMEOUT")); rt.ok() && *rt > 0) impl_->recovery_timeout = *rt;
  if (auto bm = ParseDurationSeconds(Env("MESOS_SUBSCRIPTION_BACKOFF_MAX")); bm.ok() && *bm > 0) {
    impl_->backoff_max = *bm;
  }
}

ExecutorDriver::~ExecutorDriver() {
  (void)stop();
  if (impl_->callbacks) impl_->callbacks->Stop();
}

absl::Status ExecutorDriver::start() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (impl_->running || impl_->stopping) return absl::FailedPreconditionError("the driver was already started");
  if (impl_->endpoint.empty())
    return absl::InvalidArgumentError("MESOS_AGENT_ENDPOINT is not set; executors are started by an agent");
  if (impl_->framework_id.empty()) return absl::InvalidArgumentError("MESOS_FRAMEWORK_ID is not set");
  if (impl_->executor_id.empty()) return absl::InvalidArgumentError("MESOS_EXECUTOR_ID is not set");
  // Framework messages and task data may be as large as the agent accepts
  // (64 MiB), not gRPC's default 4 MiB.
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  // An agent that serves TLS says so in LIBPROCESS_SSL_* (with its CA).
  auto client_tls = tls::TlsFromEnvironment();
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      client_tls.ok() ? tls::ChannelCredentials(*client_tls) : client_tls.status();
  if (!credentials.ok()) return absl::InvalidArgumentError(absl::StrCat("TLS: ", credentials.status().message()));
  impl_->stub = v1::internal::ExecutorService::NewStub(grpc::CreateCustomChannel(impl_->endpoint, *credentials, args));
  impl_->callbacks = std::make_unique<EventLoop>("corral-exec-cb");
  impl_->running = true;
  impl_->connection = std::thread([this] { impl_->Run(); });
  return absl::OkStatus();
}

absl::Status ExecutorDriver::stop() {
  impl_->Finish(absl::OkStatus());
  impl_->JoinConnection();
  return absl::OkStatus();
}

absl::Status ExecutorDriver::join() {
  std::unique_lock<std::mutex> lock(impl_->mu);
  impl_->cv.wait(lock, [this] { return !impl_->running; });
  return impl_->error;
}

std::optional<absl::Status> ExecutorDriver::joinFor(double seconds) {
  std::unique_lock<std::mutex> lock(impl_->mu);
  if (!impl_->cv.wait_for(lock, std::chrono::duration<double>(std::max(0.0, seconds)),
                          [this] { return !impl_->running; })) {
    return std::nullopt;
  }
  return impl_->error;
}

absl::Status ExecutorDriver::run() {
  if (auto s = start(); !s.ok()) return s;
  return join();
}

absl::Status ExecutorDriver::sendStatusUpdate(const v1::TaskStatus& status) {
  if (!status.has_task_id() || status.task_id().value().empty())
    return absl::InvalidArgumentError("'task_id' is required");
  if (!status.has_state()) return absl::InvalidArgumentError("'state' is required");
  Call c;
  c.set_type(Call::UPDATE);
  v1::TaskStatus* st = c.mutable_update()->mutable_status();
  *st = status;
  if (!st->has_uuid()) st->set_uuid(NewUuidBytes());
  if (!st->has_timestamp()) st->set_timestamp(NowSeconds());
  st->set_source(v1::TaskStatus::SOURCE_EXECUTOR);
  st->mutable_executor_id()->set_value(impl_->executor_id);
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->unacked[st->uuid()] = c.update();
    impl_->unacked_tasks.erase(st->task_id().value());
  }
  return impl_->Send(c);
}

absl::Status ExecutorDriver::sendFrameworkMessage(const std::string& data) {
  Call c;
  c.set_type(Call::MESSAGE);
  c.mutable_message()->set_data(data);
  return impl_->Send(c);
}

}  // namespace corral
