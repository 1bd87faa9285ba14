#include "corral/agent/agent_server.h"

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
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

}  // namespace

struct AgentServer::Service : v1::internal::ExecutorService::CallbackService {
  Agent* agent = nullptr;
  grpc::ServerWriteReactor<Event>* Subscribe(grpc::CallbackServerContext*, const v1::executor::Call* call) override {
    auto stream = std::make_shared<ServerEventStream<Event>>();
    stream->Keep(stream);
    auto sink = std::make_shared<StreamSink>(stream);
    absl::Status s = agent->ExecutorSubscribe(*call, sink);
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
    reactor->Finish(ToGrpcStatus(agent->ExecutorCall(*call)));
    return reactor;
  }
};

struct AgentServer::Files : v1::internal::SandboxService::CallbackService {
  Agent* agent = nullptr;
  grpc::ServerUnaryReactor* ReadFile(grpc::CallbackServerContext* ctx, const v1::internal::ReadFileRequest* req,
                                     v1::internal::ReadFileResponse* resp) override {
    auto r = agent->ReadSandboxFile(req->framework_id().value(), req->task_id().value(), req->path(),
                                    req->offset(), req->length());
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
  s->service_ = std::make_unique<Service>();
  s->files_ = std::make_unique<Files>();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.SetMaxReceiveMessageSize(64 << 20);
  builder.RegisterService(s->service_.get());
  builder.RegisterService(s->files_.get());
  // The Agent exists before the port opens, so every call finds it; it
  // starts (and learns its port) once the server is bound.
  s->agent_ = std::make_unique<Agent>(options);
  s->service_->agent = s->agent_.get();
  s->files_->agent = s->agent_.get();
  s->server_ = builder.BuildAndStart();
  if (!s->server_ || port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", listen, " (address in use or not local?)"));
  }
  s->port_ = port;
  if (auto st = s->agent_->Start(port); !st.ok()) return st;
  return s;
}

void AgentServer::Shutdown() {
  if (agent_) agent_->Stop();
  if (server_) {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    server_.reset();
  }
}

AgentServer::~AgentServer() {
  Shutdown();
  agent_.reset();
}

}  // namespace corral
