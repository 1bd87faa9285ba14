// The agent's side of its link to the master: connecting (and reconnecting
// with backoff), registering and reregistering, and every message the
// master sends (runs, kills, acknowledgements, pings, shutdowns).
#include "agent_impl.h"
#include "master_link.h"

#include "corral/tls/channel_credentials.h"

namespace corral {

namespace {
// Seconds a new link may wait for the master's answer to its registration.
constexpr double kRegistrationReplyTimeout = 30;

// One channel per master address (and TLS identity), shared by every agent
// in the process. Over TLS the agent shows its own certificate, which a
// master with --ssl_require_cert asks for.
v1::internal::AgentService::Stub* StubFor(const std::string& master, const tls::TlsOptions& tls) {
  static std::mutex mu;
  static std::map<std::string, std::unique_ptr<v1::internal::AgentService::Stub>> stubs;
  std::lock_guard<std::mutex> lock(mu);
  std::string key =
      tls.enabled ? absl::StrCat(master, " tls ", tls.cert_file, " ", tls.ca_file, " ", tls.ca_dir) : master;
  auto& stub = stubs[key];
  if (!stub) {
    auto credentials = tls::ChannelCredentials(tls);
    if (!credentials.ok()) {
      // The files were read at start; one gone since fails the handshake,
      // and the link retries (and logs) as for any unreachable master.
      CORRAL_LOG(ERROR) << "TLS to the master at " << master << ": " << credentials.status().message();
      credentials = grpc::SslCredentials(grpc::SslCredentialsOptions());
    }
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(64 << 20);
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
    stub = v1::internal::AgentService::NewStub(grpc::CreateCustomChannel(master, *credentials, args));
  }
  return stub.get();
}
}  // namespace

void Agent::OnMasterDetected(const std::string& address) {
  if (stopping_ || address == master_address_) return;
  if (!master_address_.empty() && !address.empty()) {
    CORRAL_LOG(INFO) << "The leading master moved from " << master_address_ << " to " << address;
  }
  master_address_ = address;
  // A link to the old leader ends here; OnLinkDone reconnects to the new.
  if (link_) {
    link_->Close();
  } else {
    Connect();
  }
}

void Agent::Connect() {
  connect_pending_ = false;
  // No master known yet (ZooKeeper shows no leader): the detector calls
  // again when one appears. A link already under way is left alone.
  if (stopping_ || link_ || master_address_.empty()) return;
  AgentMessage first;
  if (agent_id_.empty()) {
    auto* reg = first.mutable_register_agent();
    *reg->mutable_agent_info() = info_;
    reg->set_version(CORRAL_VERSION);
  } else {
    auto* rereg = first.mutable_reregister_agent();
    *rereg->mutable_agent_info() = info_;
    rereg->mutable_agent_info()->mutable_id()->set_value(agent_id_);
    rereg->set_version(CORRAL_VERSION);
    if (!agent_secret_.empty()) rereg->set_agent_secret(agent_secret_);
    for (const auto& [fid, fw] : frameworks_) *rereg->add_frameworks() = fw;
    for (const auto& [key, ex] : executors_) {
      *rereg->add_executors() = ex.info;
      rereg->mutable_executors(rereg->executors_size() - 1)->mutable_framework_id()->set_value(key.first);
    }
    for (const auto& [key, t] : tasks_) {
      v1::Task* task = rereg->add_tasks();
      task->set_name(t.info.name());
      *task->mutable_task_id() = t.info.task_id();
      task->mutable_framework_id()->set_value(t.framework_id);
      task->mutable_agent_id()->set_value(agent_id_);
      if (!t.executor_id.empty()) task->mutable_executor_id()->set_value(t.executor_id);
      task->set_state(t.state);
      *task->mutable_resources() = t.info.resources();
      *task->add_statuses() = t.latest;
    }
  }
  auto link = std::make_shared<MasterLink>();
  MasterLink* raw = link.get();  // identifies this link when it ends
  // The link's callbacks can outlive this agent (a stream ends after Stop):
  // they reach it only through its loop, which drops work once stopped.
  std::weak_ptr<EventLoop> loop = loop_;
  link->Init(
      [loop, this](const MasterMessage& m) {
        if (auto l = loop.lock()) l->Post([this, m] { OnMasterMessage(m); });
      },
      [loop, this, raw](const std::string& why) {
        if (auto l = loop.lock()) l->Post([this, raw, why] { OnLinkDone(raw, why); });
      });
  link_ = link;
  master_heard_at_ = clock_->Steady();
  master_silence_limit_ = kRegistrationReplyTimeout;
  link->Start(link, StubFor(master_address_, options_.tls), first, options_.master_authorization);
}

void Agent::WatchMaster() {
  if (stopping_) return;
  double silent = absl::ToDoubleSeconds(clock_->Steady() - master_heard_at_);
  if (link_ && master_silence_limit_ > 0 && silent > master_silence_limit_) {
    CORRAL_LOG(WARNING) << "No word from the master at " << master_address_ << " for " << silent
                        << " s; connecting again";
    master_heard_at_ = clock_->Steady();  // one close per silence
    link_->Close();
  }
  loop_->PostAfter(Seconds(1), [this] { WatchMaster(); });
}

void Agent::OnLinkDone(MasterLink* link, const std::string& why) {
  if (link_.get() != link) return;
  link_.reset();
  if (registered_) {
    CORRAL_LOG(WARNING) << "Lost the master at " << master_address_ << ": " << why;
  } else if (absl::StartsWith(why, "the master refused this agent's credential")) {
    // Not the agent's to fix by retrying, but the operator's: said each time.
    CORRAL_LOG(ERROR) << "Cannot register with the master at " << master_address_ << ": " << why;
  }
  registered_ = false;
  if (stopping_ || connect_pending_) return;
  connect_pending_ = true;
  double jitter = 0.5 + (std::rand() % 1000) / 1000.0;
  loop_->PostAfter(Seconds(options_.registration_backoff * jitter), [this] { Connect(); });
}

void Agent::SendToMaster(const AgentMessage& msg) {
  if (link_ && registered_) link_->Send(msg);
}

void Agent::OnMasterMessage(const MasterMessage& msg) {
  if (stopping_) return;
  master_heard_at_ = clock_->Steady();
  switch (msg.message_case()) {
    case MasterMessage::kRegistered: {
      master_silence_limit_ = msg.registered().total_ping_timeout_seconds();
      bool first = agent_id_.empty();
      agent_id_ = msg.registered().agent_id().value();
      info_.mutable_id()->set_value(agent_id_);
      registered_ = true;
      bool issued = !msg.registered().agent_secret().empty() && msg.registered().agent_secret() != agent_secret_;
      if (issued) agent_secret_ = msg.registered().agent_secret();
      if (first || issued) CheckpointAgent();
      CORRAL_LOG(INFO) << "Agent " << (first ? "registered" : "reregistered") << " as " << agent_id_;
      // Resend every unacknowledged update: the master may have missed them.
      updates_.ForwardAll();
      break;
    }
    case MasterMessage::kRefused: {
      if (msg.refused().retry()) {
        // The master's own trouble (its registry cannot be written): keep
        // everything, and register again once the link is gone.
        CORRAL_LOG(ERROR) << "The master cannot admit this agent now (" << msg.refused().message()
                          << "); everything keeps running and the agent will try again";
        if (link_) link_->Close();
        break;
      }
      CORRAL_LOG(ERROR) << "The master refused this agent: " << msg.refused().message();
      // The master no longer counts on anything here (a machine taken down
      // for maintenance, say): what runs is killed, the checkpoints that
      // would bring it back are discarded, and the agent stops connecting.
      size_t killed = KillContainers();
      if (killed > 0) CORRAL_LOG(WARNING) << "Killed " << killed << " containers";
      writer_->RemoveTree(meta_dir_ + "/frameworks");
      writer_->Remove(meta_dir_ + "/agent");
      refusal_ = msg.refused().message();
      stopping_ = true;
      if (link_) link_->Close();
      if (on_refused_) on_refused_(msg.refused().message());
      break;
    }
    case MasterMessage::kPing:
      if (!paused_) {
        AgentMessage pong;
        pong.mutable_pong()->set_sequence(msg.ping().sequence());
        if (link_) link_->Send(pong);
      }
      break;
    case MasterMessage::kRunTask:
      if (!drop_launches_) RunTask(msg.run_task());
      break;
    case MasterMessage::kRunTaskGroup:
      if (!drop_launches_) RunTaskGroup(msg.run_task_group());
      break;
    case MasterMessage::kKillTask: {
      const auto& k = msg.kill_task();
      std::optional<v1::KillPolicy> policy;
      if (k.has_kill_policy()) policy = k.kill_policy();
      if (k.has_max_grace_period()) {
        // Draining: the task's own grace period (or the call's), capped.
        auto t = tasks_.find({k.framework_id().value(), k.task_id().value()});
        int64_t grace = static_cast<int64_t>(options_.default_kill_grace * 1e9);
        if (policy && policy->has_grace_period())
          grace = policy->grace_period().nanoseconds();
        else if (t != tasks_.end() && t->second.info.kill_policy().has_grace_period()) {
          grace = t->second.info.kill_policy().grace_period().nanoseconds();
        }
        if (!policy) policy.emplace();
        policy->mutable_grace_period()->set_nanoseconds(std::min(grace, k.max_grace_period().nanoseconds()));
      }
      KillTask(k.framework_id().value(), k.task_id().value(), policy ? &*policy : nullptr);
      break;
    }
    case MasterMessage::kAcknowledgement: OnAcknowledgement(msg.acknowledgement()); break;
    case MasterMessage::kFrameworkMessage: {
      auto it = executors_.find(
          {msg.framework_message().framework_id().value(), msg.framework_message().executor_id().value()});
      if (it == executors_.end() || !it->second.sink) break;
      v1::executor::Event ev;
      ev.set_type(v1::executor::Event::MESSAGE);
      ev.mutable_message()->set_data(msg.framework_message().data());
      it->second.sink->Send(ev);
      break;
    }
    case MasterMessage::kShutdownExecutor:
      ShutdownExecutor({msg.shutdown_executor().framework_id().value(), msg.shutdown_executor().executor_id().value()},
                       "the framework asked for it");
      break;
    case MasterMessage::kFrameworkResubscribed: {
      std::string fid = msg.framework_resubscribed().framework_id().value();
      updates_.ForwardFramework(fid);
      break;
    }
    case MasterMessage::kShutdownFramework: {
      std::string fid = msg.shutdown_framework().framework_id().value();
      for (auto& [key, ex] : executors_)
        if (key.first == fid) ShutdownExecutor(key, "the framework was removed");
      for (auto& [key, task] : tasks_) {
        if (key.first == fid && task.executor_id.empty() && !task.terminal) Kill(task, nullptr);
      }
      // The framework is gone: its update streams will never be acknowledged.
      updates_.ForgetFramework(fid);
      if (auto f = frameworks_.find(fid); f != frameworks_.end()) {
        RecordCompletedFramework(fid, std::move(f->second));
        frameworks_.erase(f);
      }
      writer_->RemoveTree(FrameworkMetaDir(fid));
      break;
    }
    default: break;
  }
}

}  // namespace corral
