// What TLS costs a small gRPC call, and how much of it is the one-port
// bridge: unary calls per second to one echo service (a 60-byte message
// each way) over three paths in one process:
//   /0  plain gRPC on a port of gRPC's own
//   /1  gRPC's own TLS on a port of its own (SslServerCredentials)
//   /2  TLS terminated by corral's HTTP server, the h2 connection bridged
//       to gRPC through a socket pair (how a master or agent serves it)
// The clients verify the server against the test CA
// (tests/tls/make_certs.sh makes the certificates for the run).
//
//   build/bin/grpc_tls_bench
#include <benchmark/benchmark.h>
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/server_posix.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <future>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "corral/http/server.h"

namespace corral {
namespace {

constexpr int kCalls = 2000;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Answers each call with its own request.
class Echo : public grpc::CallbackGenericService {
  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext*) override {
    struct Reactor : grpc::ServerGenericBidiReactor {
      grpc::ByteBuffer buffer;
      Reactor() { StartRead(&buffer); }
      void OnReadDone(bool ok) override {
        if (!ok) return Finish(grpc::Status::OK);
        StartWrite(&buffer);
      }
      void OnWriteDone(bool) override { Finish(grpc::Status::OK); }
      void OnDone() override { delete this; }
    };
    return new Reactor();
  }
};

struct Servers {
  std::string certs;
  Echo echo, bridged_echo;
  std::unique_ptr<grpc::Server> own_ports, bridged;
  std::unique_ptr<http::Server> front;
  int ports[3] = {0, 0, 0};

  static Servers& Get() {
    static Servers* s = new Servers();
    return *s;
  }
  Servers() {
    certs = "/tmp/corral-grpc-tls-bench-" + std::to_string(::getpid());
    if (std::system(("bash '" CORRAL_MAKE_CERTS "' '" + certs + "'").c_str()) != 0) std::abort();
    grpc::ServerBuilder b;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &ports[0]);
    grpc::SslServerCredentialsOptions ssl;
    ssl.pem_key_cert_pairs.push_back({ReadFile(certs + "/server.key"), ReadFile(certs + "/server.crt")});
    b.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(ssl), &ports[1]);
    b.RegisterCallbackGenericService(&echo);
    own_ports = b.BuildAndStart();
    grpc::ServerBuilder fb;
    fb.RegisterCallbackGenericService(&bridged_echo);
    bridged = fb.BuildAndStart();
    http::ServerOptions options;
    options.tls.enabled = true;
    options.tls.cert_file = certs + "/server.crt";
    options.tls.key_file = certs + "/server.key";
    grpc::Server* g = bridged.get();
    options.on_http2 = [g](int fd, const std::string&) { grpc::AddInsecureChannelFromFd(g, fd); };
    auto started = http::Server::Start(
        "127.0.0.1", 0, [](const http::Request&, http::Responder& r) { r.Reply(http::Response::Text(404, "")); },
        options);
    if (!started.ok()) std::abort();
    front = std::move(*started);
    ports[2] = front->port();
  }
};

void BM_GrpcUnaryCalls(benchmark::State& state) {
  Servers& s = Servers::Get();
  const int path = static_cast<int>(state.range(0));
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (path > 0) {
    grpc::SslCredentialsOptions o;
    o.pem_root_certs = ReadFile(s.certs + "/ca.crt");
    credentials = grpc::SslCredentials(o);
  }
  grpc::GenericStub stub(grpc::CreateChannel("127.0.0.1:" + std::to_string(s.ports[path]), credentials));
  grpc::Slice payload(std::string(60, 'x'));
  grpc::ByteBuffer request(&payload, 1);
  auto call = [&] {
    grpc::ClientContext ctx;
    grpc::ByteBuffer response;
    std::promise<grpc::Status> done;
    stub.UnaryCall(&ctx, "/corral.bench.Echo/Call", grpc::StubOptions(), &request, &response,
                   [&](grpc::Status st) { done.set_value(st); });
    return done.get_future().get().ok();
  };
  if (!call()) state.SkipWithError("the first call failed");
  std::vector<double> rates;
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    for (int n = 0; n < kCalls; ++n) {
      if (!call()) {
        state.SkipWithError("a call failed");
        break;
      }
    }
    rates.push_back(kCalls / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(rates.begin(), rates.end());
  state.counters["calls_per_s_median"] = rates.empty() ? 0 : rates[rates.size() / 2];
  state.SetLabel(path == 0 ? "plain" : path == 1 ? "grpc-tls" : "corral-tls-bridge");
}
BENCHMARK(BM_GrpcUnaryCalls)->Arg(0)->Arg(1)->Arg(2)->Iterations(5)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace corral

BENCHMARK_MAIN();
