#include "corral/agent/agent_server.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/server_posix.h>

#include "absl/strings/numbers.h"

#include "absl/strings/str_cat.h"
#include "corral/agent/agent_http.h"
#include "corral/common/grpc_status.h"
#include "corral/common/logging.h"
#include "corral/common/server_stream.h"
#include "corral/v1/internal.grpc.pb.h"

namespace corral {
namespace {

using v1::executor::Call;
using v1::executor::Event;

class StreamSink : public ExecutorSink {
 public:
  explicit StreamSink(std::shared_ptr<ServerEventStream<Event>> s) : stream_(std::move(s)) {}
  bool Send(const Event& e) override { return stream_->Send(e); }
  void Close() override { stream_->Close(); }

 private:
  std::shared_ptr<ServerEventStream<Event>> stream_;
};

std::string Authorization(const grpc::CallbackServerContext* ctx) {
  auto it = ctx->client_metadata().find("authorization");
  return it == ctx->client_metadata().end() ? std::string() : std::string(it->second.data(), it->second.size());
}

}  // namespace

struct AgentServer::Service : v1::internal::ExecutorService::CallbackService {
  Agent* agent = nullptr;
  grpc::ServerWriteReactor<Event>* Subscribe(grpc::CallbackServerContext* ctx,
                                             const v1::executor::Call* call) override {
    auto stream = std::make_shared<ServerEventStream<Event>>(ctx);
    stream->Keep(stream);
    auto sink = std::make_shared<StreamSink>(stream);
    absl::Status s = agent->ExecutorSubscribe(*call, sink, Authorization(ctx));
    if (!s.ok()) {
      stream->Close(ToGrpcStatus(s));
      return stream.get();
    }
    Agent* a = agent;
    std::string fid = call->framework_id().value();
    std::string eid = call->executor_id().value();
    ExecutorSink* raw = sink.get();
    stream->SetOnDone([a, fid, eid, raw] { a->ExecutorGone(fid, eid, raw); });
    return stream.get();
  }
  grpc::ServerUnaryReactor* Call(grpc::CallbackServerContext* ctx, const v1::executor::Call* call,
                                 v1::internal::CallResponse*) override {
    auto* reactor = ctx->DefaultReactor();
    reactor->Finish(ToGrpcStatus(agent->ExecutorCall(*call, Authorization(ctx))));
    return reactor;
  }
};

struct AgentServer::Files : v1::internal::SandboxService::CallbackService {
  Agent* agent = nullptr;
  grpc::ServerUnaryReactor* ReadFile(grpc::CallbackServerContext* ctx, const v1::internal::ReadFileRequest* req,
                                     v1::internal::ReadFileResponse* resp) override {
    const auth::AuthenticationPolicy& policy = agent->http_authentication();
    auto principal = policy.Check(auth::Access::kReadOnly, Authorization(ctx), ctx->peer());
    if (!principal.ok()) {
      auto* reactor = ctx->DefaultReactor();
      reactor->Finish(ToGrpcStatus(principal.status()));
      return reactor;
    }
    auto r = agent->ReadSandboxFile(req->framework_id().value(), req->task_id().value(), req->path(), req->offset(),
                                    req->length(), *principal);
    auto* reactor = ctx->DefaultReactor();
    if (r.ok()) {
      resp->set_data(std::move(r->first));
      resp->set_size(r->second);
    }
    reactor->Finish(ToGrpcStatus(r.status()));
    return reactor;
  }
};

absl::StatusOr<std::unique_ptr<AgentServer>> AgentServer::Start(AgentOptions options, const std::string& listen) {
  std::unique_ptr<AgentServer> s(new AgentServer());
  auto colon = listen.rfind(':');
  int requested = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(listen.substr(colon + 1), &requested) || requested < 0 ||
      requested > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("listen address '", listen, "' is not host:port"));
  }
  s->service_ = std::make_unique<Service>();
  s->files_ = std::make_unique<Files>();
  grpc::ServerBuilder builder;
  builder.SetMaxReceiveMessageSize(64 << 20);
  // Connections handed over from the HTTP port: one that never finishes
  // its HTTP/2 handshake, or holds no call for long, is closed.
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS, 30 * 1000);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, 5 * 60 * 1000);
  builder.RegisterService(s->service_.get());
  builder.RegisterService(s->files_.get());
  // The Agent exists before the port opens, so every call finds it; it
  // starts (and learns its port) once the server is bound.
  s->agent_ = std::make_unique<Agent>(options);
  s->service_->agent = s->agent_.get();
  s->files_->agent = s->agent_.get();
  // gRPC listens on no port of its own: the HTTP server accepts every
  // connection and passes HTTP/2 ones over.
  s->server_ = builder.BuildAndStart();
  if (!s->server_) return absl::InternalError("cannot start the gRPC server");
  s->http_api_ = std::make_unique<AgentHttpApi>(s->agent_.get());
  http::ServerOptions http_options;
  grpc::Server* grpc_server = s->server_.get();
  http_options.on_http2 = [grpc_server](int fd, const std::string&) {
    grpc::AddInsecureChannelFromFd(grpc_server, fd);
  };
  http_options.limits = options.limits;
  http_options.tls = options.tls;
  // Executors reach their agent from its own machine and prove themselves
  // with their container's token, not a certificate.
  http_options.tls.require_cert_of_local_peers = false;
  AgentHttpApi* api = s->http_api_.get();
  auto http = http::Server::Start(
      listen.substr(0, colon), requested, [api](const http::Request& req, http::Responder& r) { api->Handle(req, r); },
      http_options);
  if (!http.ok()) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", listen, " (", http.status().message(), ")"));
  }
  s->http_ = std::move(*http);
  s->port_ = s->http_->port();
  if (auto st = s->agent_->Start(s->port_); !st.ok()) return st;
  return s;
}

void AgentServer::Shutdown() {
  if (agent_) agent_->Stop();
  if (http_) http_->Stop();
  if (server_) {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    server_.reset();
  }
}

AgentServer::~AgentServer() {
  Shutdown();
  http_.reset();
  http_api_.reset();
  agent_.reset();
}

}  // namespace corral
