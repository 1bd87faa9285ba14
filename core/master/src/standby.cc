#include "corral/master/standby.h"

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/server_posix.h>

#include "absl/strings/str_cat.h"
#include "corral/http/server.h"

namespace corral {

struct MasterStandby::Impl {
  mutable std::mutex mu;
  std::string leader;

  std::string Message() const {
    std::lock_guard<std::mutex> lock(mu);
    if (leader.empty()) return "this master is not the leader, and no master leads at the moment";
    return absl::StrCat("this master is not the leader; the leading master is at ", leader);
  }

  void Handle(const http::Request& req, http::Responder& r) {
    std::string to;
    {
      std::lock_guard<std::mutex> lock(mu);
      to = leader;
    }
    if (to.empty()) {
      http::Response res = http::Response::Text(503, Message() + "\n");
      res.headers.emplace_back("Retry-After", "1");
      return r.Reply(std::move(res));
    }
    http::Response res = http::Response::Text(307, "");
    // Protocol-relative, as Mesos writes it; /master/redirect names the
    // leader itself, every other path is the same path on the leader.
    std::string location = absl::StrCat("//", to);
    if (req.path != "/master/redirect" && req.path != "/redirect")
      absl::StrAppend(&location, req.path, http::QueryString(req));
    res.headers.emplace_back("Location", location);
    r.Reply(std::move(res));
  }

  // Every gRPC method, of every service: not here.
  class NotLeader : public grpc::CallbackGenericService {
   public:
    explicit NotLeader(Impl* impl) : impl_(impl) {}
    grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext*) override {
      class Refuse : public grpc::ServerGenericBidiReactor {
       public:
        explicit Refuse(const std::string& why) { Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, why)); }
        void OnDone() override { delete this; }
      };
      return new Refuse(impl_->Message());
    }

   private:
    Impl* impl_;
  };

  std::unique_ptr<NotLeader> grpc_service;
  std::unique_ptr<grpc::Server> grpc_server;
  std::unique_ptr<http::Server> http_server;
};

absl::StatusOr<std::unique_ptr<MasterStandby>> MasterStandby::Start(const std::string& host, int port,
                                                                    const tls::TlsOptions& tls) {
  std::unique_ptr<MasterStandby> s(new MasterStandby());
  s->impl_ = std::make_unique<Impl>();
  Impl* impl = s->impl_.get();
  impl->grpc_service = std::make_unique<Impl::NotLeader>(impl);
  grpc::ServerBuilder builder;
  builder.RegisterCallbackGenericService(impl->grpc_service.get());
  impl->grpc_server = builder.BuildAndStart();
  if (!impl->grpc_server) return absl::InternalError("cannot start the standby gRPC server");
  http::ServerOptions options;
  grpc::Server* g = impl->grpc_server.get();
  options.on_http2 = [g](int fd, const std::string&) { grpc::AddInsecureChannelFromFd(g, fd); };
  options.tls = tls;
  auto http = http::Server::Start(
      host, port, [impl](const http::Request& req, http::Responder& r) { impl->Handle(req, r); }, options);
  if (!http.ok()) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", host, ":", port, ": ", http.status().message()));
  }
  impl->http_server = std::move(*http);
  return s;
}

MasterStandby::~MasterStandby() { Stop(); }

void MasterStandby::SetLeader(const std::string& address) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->leader = address;
}

std::string MasterStandby::leader() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->leader;
}

int MasterStandby::port() const { return impl_->http_server ? impl_->http_server->port() : 0; }

void MasterStandby::Stop() {
  if (impl_->http_server) {
    impl_->http_server->Stop();
    impl_->http_server.reset();
  }
  if (impl_->grpc_server) {
    impl_->grpc_server->Shutdown(std::chrono::system_clock::now());
    impl_->grpc_server.reset();
  }
}

}  // namespace corral
