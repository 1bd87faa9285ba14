#include "corral/master/master_server.h"

#include <chrono>
#include <filesystem>

#include <atomic>
#include <deque>
#include <mutex>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <map>

#include <grpcpp/grpcpp.h>
#include <grpcpp/server_posix.h>

#include "absl/base/thread_annotations.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "corral/common/grpc_status.h"
#include "corral/common/logging.h"
#include "corral/common/server_stream.h"
#include "corral/common/work_dir_lock.h"
#include "corral/common/write_queue.h"
#include "corral/http/server.h"
#include "corral/master/master_http.h"
#include "corral/master/operator_api.h"
#include "corral/v1/internal.grpc.pb.h"

namespace corral {
namespace {

using v1::internal::AgentMessage;
using v1::internal::MasterMessage;
using v1::scheduler::Call;
using v1::scheduler::Event;

// A subscription (scheduler or operator) as a gRPC server stream.
template <typename SinkBase, typename EventType>
class StreamSink : public SinkBase {
 public:
  explicit StreamSink(std::shared_ptr<ServerEventStream<EventType>> stream) : stream_(std::move(stream)) {}
  bool Send(const EventType& event) override { return stream_->Send(event); }
  void Close() override { stream_->Close(); }

 private:
  std::shared_ptr<ServerEventStream<EventType>> stream_;
};

// One agent's bidirectional stream. Reads go to the master's loop; writes
// wait in a WriteQueue and go out one at a time.
class AgentStream : public grpc::ServerBidiReactor<AgentMessage, MasterMessage>, public AgentLink {
 public:
  explicit AgentStream(Master* master) : master_(master) {}

  void Start(std::shared_ptr<AgentStream> self, const std::optional<std::string>& principal) {
    self_ = self;
    link_id_ = master_->AgentConnected(self, principal);
    StartRead(&in_);
  }

  bool Send(const MasterMessage& msg) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (finished_ || closing_) return false;
    if (queue_.Push(msg) == WriteQueue<MasterMessage>::Pushed::kStart) NextLocked();
    return true;
  }

  void Close() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (finished_ || closing_) return;
    closing_ = true;
    if (!queue_.writing()) FinishLocked(grpc::Status::OK);
  }

 private:
  void NextLocked() {
    bool started = queue_.Start([this](const MasterMessage* m, grpc::WriteOptions options) { StartWrite(m, options); });
    if (!started && closing_) FinishLocked(grpc::Status::OK);
  }
  void FinishLocked(grpc::Status status) {
    if (finished_) return;
    finished_ = true;
    Finish(status);
  }
  void OnReadDone(bool ok) override {
    if (!ok) {
      master_->AgentDisconnected(link_id_);
      std::lock_guard<std::mutex> lock(mu_);
      closing_ = true;
      if (!queue_.writing()) FinishLocked(grpc::Status::OK);
      return;
    }
    master_->AgentMessageReceived(link_id_, in_);
    StartRead(&in_);
  }
  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.Done();
    if (!ok) {
      queue_.Clear();
      FinishLocked(grpc::Status::CANCELLED);
      return;
    }
    NextLocked();
  }
  void OnDone() override {
    master_->AgentDisconnected(link_id_);
    std::shared_ptr<AgentStream> self;
    {
      std::lock_guard<std::mutex> lock(mu_);
      finished_ = true;
      self = std::move(self_);
    }
  }

  Master* master_;
  uint64_t link_id_ = 0;
  std::mutex mu_;
  WriteQueue<MasterMessage> queue_ ABSL_GUARDED_BY(mu_);
  AgentMessage in_;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  std::shared_ptr<AgentStream> self_;
};

// gRPC knows the connections the HTTP port hands it only as "fd:N": the
// address each came from, for the logs of refused calls.
class HandedOverPeers {
 public:
  void Record(int fd, const std::string& peer) {
    std::lock_guard<std::mutex> lock(mu_);
    peers_[absl::StrCat("fd:", fd)] = peer;
  }
  std::string Of(const std::string& grpc_peer) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = peers_.find(grpc_peer);
    return it == peers_.end() ? grpc_peer : it->second;
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::string> peers_;  // "fd:N" -> the address of the connection now on fd N
};

HandedOverPeers& Peers() {
  static auto* peers = new HandedOverPeers();
  return *peers;
}

// The policy's verdict on a gRPC call: the principal its "authorization"
// metadata proves (nullopt where `access` needs none), or UNAUTHENTICATED.
absl::StatusOr<std::optional<std::string>> Authenticate(const Master& master, auth::Access access,
                                                        const grpc::CallbackServerContext* ctx) {
  const auth::AuthenticationPolicy& policy = master.authentication();
  if (!policy.Required(access)) return std::optional<std::string>();
  std::string header;
  auto it = ctx->client_metadata().find("authorization");
  if (it != ctx->client_metadata().end()) header.assign(it->second.data(), it->second.size());
  auto principal = policy.authenticator->Authenticate(header);
  if (principal.ok()) return std::optional<std::string>(std::move(*principal));
  return policy.Check(access, header, Peers().Of(ctx->peer()));
}

// An agent connection refused before it reached the master: it ends at
// once with the reason, and deletes itself when gRPC is done with it.
class RefusedStream : public grpc::ServerBidiReactor<AgentMessage, MasterMessage> {
 public:
  explicit RefusedStream(const absl::Status& why) { Finish(ToGrpcStatus(why)); }
  void OnDone() override { delete this; }
};

}  // namespace

struct MasterServer::Services {
  struct Scheduler : v1::internal::SchedulerService::CallbackService {
    Master* master = nullptr;
    grpc::ServerWriteReactor<Event>* Subscribe(grpc::CallbackServerContext* ctx,
                                               const v1::scheduler::Call* call) override {
      auto stream = std::make_shared<ServerEventStream<Event>>(ctx);
      stream->Keep(stream);
      auto principal = Authenticate(*master, auth::Access::kFramework, ctx);
      if (!principal.ok()) {
        stream->Close(ToGrpcStatus(principal.status()));
        return stream.get();
      }
      auto sink = std::make_shared<StreamSink<SchedulerSink, Event>>(stream);
      auto id = master->Subscribe(*call, sink, *principal);
      if (!id.ok()) {
        stream->Close(ToGrpcStatus(id.status()));
        return stream.get();
      }
      std::string fid = *id;
      Master* m = master;
      SchedulerSink* raw = sink.get();
      stream->SetOnDone([m, fid, raw] { m->SubscriberGone(fid, raw); });
      return stream.get();
    }
    grpc::ServerUnaryReactor* Call(grpc::CallbackServerContext* ctx, const v1::scheduler::Call* call,
                                   v1::internal::CallResponse*) override {
      auto* reactor = ctx->DefaultReactor();
      auto principal = Authenticate(*master, auth::Access::kFramework, ctx);
      reactor->Finish(ToGrpcStatus(principal.ok() ? master->HandleCall(*call, *principal) : principal.status()));
      return reactor;
    }
  };
  struct Agents : v1::internal::AgentService::CallbackService {
    Master* master = nullptr;
    grpc::ServerBidiReactor<AgentMessage, MasterMessage>* Connect(grpc::CallbackServerContext* ctx) override {
      auto principal = Authenticate(*master, auth::Access::kAgent, ctx);
      if (!principal.ok()) return new RefusedStream(principal.status());
      auto stream = std::make_shared<AgentStream>(master);
      stream->Start(stream, *principal);
      return stream.get();
    }
  };
  struct Operator : v1::internal::OperatorService::CallbackService {
    Master* master = nullptr;
    grpc::ServerUnaryReactor* GetState(grpc::CallbackServerContext* ctx, const v1::internal::GetClusterState*,
                                       v1::internal::ClusterState* out) override {
      auto principal = Authenticate(*master, auth::Access::kReadOnly, ctx);
      if (!principal.ok()) return Done(ctx, principal.status());
      *out = master->GetState(StateViewer::Of(*principal));
      return Done(ctx, absl::OkStatus());
    }
    // Operator events, as /api/v1 streams them for SUBSCRIBE.
    grpc::ServerWriteReactor<v1::master::Event>* Subscribe(grpc::CallbackServerContext* ctx,
                                                           const v1::master::Call* call) override {
      auto stream = std::make_shared<ServerEventStream<v1::master::Event>>(ctx);
      stream->Keep(stream);
      if (call->type() != v1::master::Call::SUBSCRIBE) {
        stream->Close(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                   "Subscribe takes a SUBSCRIBE call; send the others with Call"));
        return stream.get();
      }
      auto principal = Authenticate(*master, auth::Access::kReadOnly, ctx);
      if (!principal.ok()) {
        stream->Close(ToGrpcStatus(principal.status()));
        return stream.get();
      }
      auto sink = std::make_shared<StreamSink<OperatorSink, v1::master::Event>>(stream);
      if (absl::Status st = master->SubscribeOperator(sink, StateViewer::Of(*principal)); !st.ok()) {
        stream->Close(ToGrpcStatus(st));
        return stream.get();
      }
      Master* m = master;
      OperatorSink* raw = sink.get();
      stream->SetOnDone([m, raw] { m->OperatorGone(raw); });
      return stream.get();
    }
    // The same calls, validation and errors as /api/v1: both hand the call
    // to OperatorApi. A call that only acts answers an empty Response.
    grpc::ServerUnaryReactor* Call(grpc::CallbackServerContext* ctx, const v1::master::Call* call,
                                   v1::master::Response* out) override {
      auto principal = Authenticate(*master, OperatorApi::AccessOf(call->type()), ctx);
      if (!principal.ok()) return Done(ctx, principal.status());
      auto answer = OperatorApi(master).Call(*call, *principal);
      if (answer.ok() && answer->has_value()) *out = std::move(**answer);
      return Done(ctx, answer.status());
    }
    static grpc::ServerUnaryReactor* Done(grpc::CallbackServerContext* ctx, const absl::Status& status) {
      auto* reactor = ctx->DefaultReactor();
      reactor->Finish(ToGrpcStatus(status));
      return reactor;
    }
  };
  Scheduler scheduler;
  Agents agents;
  Operator op;
};

absl::StatusOr<std::unique_ptr<MasterServer>> MasterServer::Start(MasterOptions options, const std::string& listen) {
  return Start(std::move(options), listen, nullptr);
}

absl::StatusOr<std::unique_ptr<MasterServer>> MasterServer::Start(MasterOptions options, const std::string& listen,
                                                                  std::unique_ptr<Registry> given_registry) {
  std::unique_ptr<MasterServer> s(new MasterServer());
  s->services_ = std::make_unique<Services>();
  auto colon = listen.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("listen address '", listen, "' is not host:port"));
  }
  s->host_ = listen.substr(0, colon);
  grpc::ServerBuilder builder;
  builder.SetMaxReceiveMessageSize(64 << 20);
  // Connections handed over from the HTTP port: one that never finishes
  // its HTTP/2 handshake, or holds no call for long, is closed.
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS, 30 * 1000);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, 5 * 60 * 1000);
  builder.SetMaxSendMessageSize(256 << 20);
  builder.RegisterService(&s->services_->scheduler);
  builder.RegisterService(&s->services_->agents);
  builder.RegisterService(&s->services_->op);
  // The Master exists before the port opens, so every call finds it.
  if (options.address.empty() || options.address == "0.0.0.0") options.address = "127.0.0.1";
  int requested = 0;
  if (!absl::SimpleAtoi(listen.substr(colon + 1), &requested) || requested < 0 || requested > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("listen address '", listen, "' has no valid port"));
  }
  options.port = requested;
  std::unique_ptr<Registry> registry = std::move(given_registry);
  if (registry) {
    // The caller's store: nothing of the registry lives in the work dir.
  } else if (options.work_dir.empty()) {
    registry = NewInMemoryRegistry();
  } else {
    std::error_code ec;
    std::filesystem::create_directories(options.work_dir, ec);
    if (ec)
      return absl::InvalidArgumentError(
          absl::StrCat("cannot create --work_dir ", options.work_dir, ": ", ec.message()));
    auto lock = WorkDirLock::Acquire(options.work_dir, "corral-master");
    if (!lock.ok()) return lock.status();
    s->work_dir_lock_ = std::move(*lock);
    auto t0 = std::chrono::steady_clock::now();
    auto opened = OpenSqliteRegistry(options.work_dir + "/registry.db");
    if (!opened.ok()) return opened.status();
    CORRAL_LOG(INFO) << "Opened registry " << options.work_dir << "/registry.db in "
                     << std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count()
                     << " ms";
    registry = std::move(*opened);
  }
  s->master_ = std::make_unique<Master>(options);
  // Before the port opens: nobody sees the master until it has recovered.
  if (absl::Status st = s->master_->Recover(std::move(registry)); !st.ok()) return st;
  s->services_->scheduler.master = s->master_.get();
  s->services_->agents.master = s->master_.get();
  s->services_->op.master = s->master_.get();
  // gRPC listens on no port of its own: the HTTP server accepts every
  // connection and passes HTTP/2 ones over.
  s->server_ = builder.BuildAndStart();
  if (!s->server_) return absl::InternalError("cannot start the gRPC server");
  s->http_api_ = std::make_unique<MasterHttpApi>(s->master_.get());
  http::ServerOptions http_options;
  grpc::Server* grpc_server = s->server_.get();
  const bool authenticating = options.authentication.authenticator != nullptr;
  http_options.on_http2 = [grpc_server, authenticating](int fd, const std::string& peer) {
    if (authenticating) Peers().Record(fd, peer);
    grpc::AddInsecureChannelFromFd(grpc_server, fd);
  };
  http_options.limits = options.limits;
  http_options.tls = options.tls;
  MasterHttpApi* api = s->http_api_.get();
  auto http = http::Server::Start(
      s->host_, requested, [api](const http::Request& req, http::Responder& r) { api->Handle(req, r); }, http_options);
  if (!http.ok()) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", listen, ": ", http.status().message()));
  }
  s->http_ = std::move(*http);
  int port = s->http_->port();
  // With port 0 nobody can have reached us yet; advertise the real port.
  if (requested != port) s->master_->SetAdvertisedPort(port);
  s->port_ = port;
  CORRAL_LOG(INFO) << "Master " << s->master_->info().id() << " listening on " << s->host_ << ":" << port
                   << " (gRPC and HTTP)";
  return s;
}

std::string MasterServer::address() const {
  std::string host = host_ == "0.0.0.0" || host_.empty() ? "127.0.0.1" : host_;
  return absl::StrCat(host, ":", port_);
}

void MasterServer::Shutdown() {
  if (master_) master_->Stop();
  if (http_) http_->Stop();
  if (server_) {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    server_.reset();
  }
}

MasterServer::~MasterServer() {
  Shutdown();
  http_.reset();
  http_api_.reset();
  master_.reset();
}

}  // namespace corral
