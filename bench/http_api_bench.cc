// The Mesos HTTP API under load: /master/state (and GET_STATE) with 100,000
// tasks on 10,000 simulated agents, and the scheduler API over HTTP against
// the same over gRPC: events per second delivered to one subscriber, and
// calls per second accepted.
//
//   build/bin/http_api_bench [--benchmark_filter=...]
//
// The master runs in this process (MasterServer: gRPC and HTTP on one
// port); agents are simulated over the real agent protocol (sim_agent.h).
#include <benchmark/benchmark.h>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstdio>
#include <chrono>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <grpcpp/grpcpp.h>

#include "corral/auth/authorizer.h"
#include "corral/auth/credentials.h"
#include "corral/http/recordio.h"
#include "corral/tls/channel_credentials.h"
#include "corral/master/master_http.h"
#include "corral/master/master_server.h"
#include "corral/v1/internal.grpc.pb.h"
#include "google/protobuf/util/json_util.h"
#include "sim_agent.h"

namespace corral {
namespace {

namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using v1::scheduler::Call;
using v1::scheduler::Event;

constexpr int kAgents = 10000;
constexpr int kTasksPerAgent = 10;
constexpr int kTasks = kAgents * kTasksPerAgent;

double Since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

bool WaitUntil(const std::function<bool()>& done, double seconds) {
  auto t0 = std::chrono::steady_clock::now();
  while (!done()) {
    if (Since(t0) > seconds) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

std::string ToJson(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, o);
  return out;
}

// One keep-alive HTTP/1.1 connection, over TLS where given a CA to trust.
struct HttpClient {
  net::io_context ioc;
  tcp::socket socket{ioc};
  std::unique_ptr<net::ssl::context> tls_ctx;
  std::unique_ptr<net::ssl::stream<tcp::socket&>> tls;
  beast::flat_buffer buffer;
  explicit HttpClient(int port, const std::string& ca_file = "") {
    socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    socket.set_option(tcp::no_delay(true));
    if (ca_file.empty()) return;
    tls_ctx = std::make_unique<net::ssl::context>(net::ssl::context::tls_client);
    tls_ctx->load_verify_file(ca_file);
    tls_ctx->set_verify_mode(net::ssl::verify_peer);
    tls = std::make_unique<net::ssl::stream<tcp::socket&>>(socket, *tls_ctx);
    tls->handshake(net::ssl::stream_base::client);
  }
  template <class Message>
  void Write(Message& m) {
    if (tls) {
      bhttp::write(*tls, m);
    } else {
      bhttp::write(socket, m);
    }
  }
  template <class Parser>
  void ReadHeader(Parser& p) {
    if (tls) {
      bhttp::read_header(*tls, buffer, p);
    } else {
      bhttp::read_header(socket, buffer, p);
    }
  }
  bhttp::response<bhttp::string_body> Send(bhttp::verb verb, const std::string& target, std::string body = "",
                                           const std::string& stream_id = "", const std::string& authorization = "") {
    bhttp::request<bhttp::string_body> req{verb, target, 11};
    req.set(bhttp::field::host, "localhost");
    if (!body.empty()) req.set(bhttp::field::content_type, "application/json");
    if (!stream_id.empty()) req.set("Mesos-Stream-Id", stream_id);
    if (!authorization.empty()) req.set(bhttp::field::authorization, authorization);
    req.body() = std::move(body);
    req.prepare_payload();
    Write(req);
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(1ull << 32);
    if (tls) {
      bhttp::read(*tls, buffer, parser);
    } else {
      bhttp::read(socket, buffer, parser);
    }
    return parser.release();
  }
  // The same, reading the body straight from the socket in 1 MiB pieces and
  // keeping none of it, as `curl -o /dev/null` does: what is timed is the
  // server, not the client's parser and allocations. Returns the status and
  // the body's size.
  std::pair<int, size_t> Fetch(bhttp::verb verb, const std::string& target, std::string body = "") {
    bhttp::request<bhttp::string_body> req{verb, target, 11};
    req.set(bhttp::field::host, "localhost");
    if (!body.empty()) req.set(bhttp::field::content_type, "application/json");
    req.body() = std::move(body);
    req.prepare_payload();
    bhttp::write(socket, req);
    bhttp::response_parser<bhttp::empty_body> parser;
    parser.skip(true);  // the body is read below
    bhttp::read_header(socket, buffer, parser);
    size_t length = parser.content_length().value_or(0);
    size_t bytes = std::min(buffer.size(), length);
    buffer.consume(bytes);
    static std::vector<char> piece(1 << 20);
    while (bytes < length) {
      beast::error_code ec;
      size_t n = socket.read_some(net::buffer(piece.data(), std::min(piece.size(), length - bytes)), ec);
      if (ec) break;
      bytes += n;
    }
    return {parser.get().result_int(), bytes};
  }
};

Call SubscribeCall(const std::string& framework_id) {
  Call c;
  c.set_type(Call::SUBSCRIBE);
  auto* info = c.mutable_subscribe()->mutable_framework_info();
  info->set_user("bench");
  info->set_name("http-bench");
  info->set_failover_timeout(3600);
  info->add_roles("*");
  info->add_capabilities()->set_type(v1::FrameworkInfo::Capability::MULTI_ROLE);
  if (!framework_id.empty()) {
    info->mutable_id()->set_value(framework_id);
    c.mutable_framework_id()->set_value(framework_id);
  }
  return c;
}

// A master with 10,000 agents running 100,000 tasks of one framework.
struct Cluster {
  std::unique_ptr<MasterServer> server;
  std::string framework_id;
  std::vector<std::unique_ptr<v1::internal::AgentService::Stub>> stubs;
  std::vector<std::unique_ptr<SimAgent>> agents;

  static Cluster& Get() {
    static Cluster* c = new Cluster(kAgents, nullptr);
    return *c;
  }
  // The same shape with --acls: "ops" may view every framework, task and
  // executor, "alice" those of user alice (none here).
  static Cluster& GetAuthorized() {
    static Cluster* c = new Cluster(kAgents, *auth::Authorizer::Parse(R"({"permissive": false,
      "register_frameworks": [{"principals": {"type": "ANY"}, "roles": {"type": "ANY"}}],
      "register_agents": [{"principals": {"type": "ANY"}, "agents": {"type": "ANY"}}],
      "view_frameworks": [{"principals": {"values": ["ops"]}, "users": {"type": "ANY"}},
                          {"principals": {"values": ["alice"]}, "users": {"values": ["alice"]}}],
      "view_tasks": [{"principals": {"values": ["ops"]}, "users": {"type": "ANY"}},
                     {"principals": {"values": ["alice"]}, "users": {"values": ["alice"]}}],
      "view_executors": [{"principals": {"values": ["ops"]}, "users": {"type": "ANY"}},
                         {"principals": {"values": ["alice"]}, "users": {"values": ["alice"]}}]})"));
    return *c;
  }

  Cluster(int agent_count, std::shared_ptr<const auth::Authorizer> acls) {
    MasterOptions options;
    options.allocation_interval = 3600;  // no offer churn while measuring
    options.heartbeat_interval = 3600;
    options.authorizer = std::move(acls);
    server = std::move(*MasterServer::Start(options, "127.0.0.1:0"));
    // The framework subscribes over gRPC first, so its tasks have an owner.
    auto stub = v1::internal::SchedulerService::NewStub(
        grpc::CreateChannel(server->address(), grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    auto reader = stub->Subscribe(&ctx, SubscribeCall(""));
    Event ev;
    if (reader->Read(&ev)) {
      framework_id = ev.subscribed().framework_id().value();
      ctx.TryCancel();
    } else {
      std::fprintf(stderr, "cannot subscribe: %s\n", reader->Finish().error_message().c_str());
      std::abort();
    }
    for (int i = 0; i < 100; ++i) {
      grpc::ChannelArguments args;
      args.SetInt("corral.bench.channel", i);
      stubs.push_back(v1::internal::AgentService::NewStub(
          grpc::CreateCustomChannel(server->address(), grpc::InsecureChannelCredentials(), args)));
    }
    g_registered = 0;
    for (int i = 0; i < agent_count; ++i) {
      agents.push_back(std::make_unique<SimAgent>());
      agents.back()->Start(stubs[i % stubs.size()].get(), i, "bench-agent-" + std::to_string(i), kTasksPerAgent,
                           framework_id);
    }
    if (!WaitUntil([agent_count] { return g_registered == agent_count; }, 600)) {
      std::fprintf(stderr, "only %d of %d agents registered\n", g_registered.load(), agent_count);
      std::abort();
    }
    auto st = server->master().GetState();
    std::fprintf(stderr, "framework %s; state: %d frameworks, %d tasks\n", framework_id.c_str(), st.frameworks_size(),
                 st.tasks_size());
  }
};

void Report(benchmark::State& state, std::vector<double> ms, double bytes) {
  std::sort(ms.begin(), ms.end());
  state.counters["median_ms"] = ms[ms.size() / 2];
  state.counters["min_ms"] = ms.front();
  state.counters["MB"] = bytes / 1e6;
  state.counters["agents"] = g_registered.load();
  state.counters["tasks"] = kTasks;
}

void BM_MasterStateJson(benchmark::State& state) {
  Cluster& c = Cluster::Get();
  HttpClient http(c.server->port());
  std::vector<double> ms;
  double bytes = 0;
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    auto [status, size] = http.Fetch(bhttp::verb::get, "/master/state");
    ms.push_back(Since(t0) * 1000);
    bytes = static_cast<double>(size);
    if (status != 200) state.SkipWithError("GET /master/state failed");
  }
  // The first request renders every task; later ones reuse the renderings
  // of tasks that have not changed (Master::GetRenderableState).
  state.counters["first_ms"] = ms.front();
  Report(state, ms, bytes);
  // Where the time goes, with every rendering kept: the master's snapshot,
  // then the rendering; and both without kept renderings.
  std::map<std::string, std::string> flags;
  {
    auto t0 = std::chrono::steady_clock::now();
    google::protobuf::Arena arena;
    auto renderable = c.server->master().GetRenderableState(&arena);
    state.counters["snapshot_ms"] = Since(t0) * 1000;
    t0 = std::chrono::steady_clock::now();
    std::vector<Master::TaskRendering> fresh;
    (void)RenderMasterState(renderable, StateJsonContext{&flags, 0}, &fresh);
    state.counters["render_ms"] = Since(t0) * 1000;
  }
  auto t0 = std::chrono::steady_clock::now();
  google::protobuf::Arena arena;
  const auto& snapshot = *c.server->master().GetState(&arena);
  state.counters["full_snapshot_ms"] = Since(t0) * 1000;
  t0 = std::chrono::steady_clock::now();
  (void)RenderMasterState(snapshot, StateJsonContext{&flags, 0});
  state.counters["full_render_ms"] = Since(t0) * 1000;
}
BENCHMARK(BM_MasterStateJson)->Iterations(7)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_OperatorGetState(benchmark::State& state) {
  Cluster& c = Cluster::Get();
  HttpClient http(c.server->port());
  std::vector<double> ms;
  double bytes = 0;
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    auto [status, size] = http.Fetch(bhttp::verb::post, "/api/v1", "{\"type\":\"GET_STATE\"}");
    ms.push_back(Since(t0) * 1000);
    bytes = static_cast<double>(size);
    if (status != 200) state.SkipWithError("GET_STATE failed");
  }
  Report(state, ms, bytes);
}
BENCHMARK(BM_OperatorGetState)->Iterations(5)->Unit(benchmark::kMillisecond)->UseRealTime();

// /master/state's snapshot and rendering for three viewers of a master with
// --acls: everything unfiltered (0), "ops", whom the rules let view every
// task, so each task is decided and kept (1), and "alice", who may view
// none (2). Each keeps the renderings of the one before, as requests do.
void BM_MasterStateViewFilter(benchmark::State& state) {
  Cluster& c = Cluster::GetAuthorized();
  const int viewer_kind = static_cast<int>(state.range(0));
  StateViewer viewer = viewer_kind == 0 ? StateViewer{} : StateViewer::Of(viewer_kind == 1 ? "ops" : "alice");
  std::map<std::string, std::string> flags;
  std::vector<double> ms;
  size_t tasks = 0;
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    google::protobuf::Arena arena;
    auto renderable = c.server->master().GetRenderableState(&arena, viewer);
    std::vector<Master::TaskRendering> fresh;
    std::string body = RenderMasterState(renderable, StateJsonContext{&flags, 0}, &fresh);
    c.server->master().KeepTaskRenderings(std::move(fresh));
    ms.push_back(Since(t0) * 1000);
    tasks = renderable.tasks.size();
    benchmark::DoNotOptimize(body);
  }
  std::sort(ms.begin(), ms.end());
  state.counters["median_ms"] = ms[ms.size() / 2];
  state.counters["tasks_shown"] = static_cast<double>(tasks);
  state.SetLabel(viewer_kind == 0 ? "everything" : viewer_kind == 1 ? "ops (filtered, sees all)" : "alice (sees none)");
}
BENCHMARK(BM_MasterStateViewFilter)
    ->Arg(0)
    ->Arg(1)
    ->Arg(2)
    ->Arg(0)
    ->Iterations(7)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Implicit reconciliation makes the master send one UPDATE per task: 100,000
// events to one subscriber, timed from the call to the last event read.
void BM_EventsPerSecond_Http(benchmark::State& state) {
  Cluster& c = Cluster::Get();
  std::vector<double> rates;
  for (auto _ : state) {
    HttpClient sub(c.server->port());
    bhttp::request<bhttp::string_body> req{bhttp::verb::post, "/api/v1/scheduler", 11};
    req.set(bhttp::field::host, "localhost");
    req.set(bhttp::field::content_type, "application/json");
    req.body() = ToJson(SubscribeCall(c.framework_id));
    req.prepare_payload();
    bhttp::write(sub.socket, req);
    bhttp::response_parser<bhttp::buffer_body> parser;
    parser.body_limit(boost::none);
    bhttp::read_header(sub.socket, sub.buffer, parser);
    sub.buffer.consume(0);
    std::string stream_id(parser.get()["Mesos-Stream-Id"]);
    http::RecordIOReader records;
    std::vector<std::string> out;
    char chunk[1 << 16];
    int updates = 0;
    bool reconciling = false;
    std::chrono::steady_clock::time_point t0;
    HttpClient caller(c.server->port());
    while (updates < kTasks) {
      parser.get().body().data = chunk;
      parser.get().body().size = sizeof chunk;
      beast::error_code ec;
      bhttp::read_some(sub.socket, sub.buffer, parser, ec);
      if (ec && ec != bhttp::error::need_buffer) break;
      out.clear();
      (void)records.Feed(std::string(chunk, sizeof chunk - parser.get().body().size), &out);
      for (const std::string& r : out) {
        if (r.find("\"SUBSCRIBED\"") != std::string::npos && !reconciling) {
          reconciling = true;
          Call rec;
          rec.set_type(Call::RECONCILE);
          rec.mutable_framework_id()->set_value(c.framework_id);
          rec.mutable_reconcile();
          t0 = std::chrono::steady_clock::now();
          caller.Send(bhttp::verb::post, "/api/v1/scheduler", ToJson(rec), stream_id);
        } else if (r.find("\"UPDATE\"") != std::string::npos) {
          ++updates;
        }
      }
    }
    rates.push_back(updates / Since(t0));
  }
  std::sort(rates.begin(), rates.end());
  state.counters["median_events_per_s"] = rates[rates.size() / 2];
}
BENCHMARK(BM_EventsPerSecond_Http)->Iterations(3)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_EventsPerSecond_Grpc(benchmark::State& state) {
  Cluster& c = Cluster::Get();
  std::vector<double> rates;
  for (auto _ : state) {
    auto stub = v1::internal::SchedulerService::NewStub(
        grpc::CreateChannel(c.server->address(), grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    auto reader = stub->Subscribe(&ctx, SubscribeCall(c.framework_id));
    Event ev;
    int updates = 0;
    std::chrono::steady_clock::time_point t0;
    while (updates < kTasks && reader->Read(&ev)) {
      if (ev.type() == Event::SUBSCRIBED) {
        Call rec;
        rec.set_type(Call::RECONCILE);
        rec.mutable_framework_id()->set_value(c.framework_id);
        rec.mutable_reconcile();
        t0 = std::chrono::steady_clock::now();
        grpc::ClientContext cctx;
        v1::internal::CallResponse resp;
        (void)stub->Call(&cctx, rec, &resp);
      } else if (ev.type() == Event::UPDATE) {
        ++updates;
      }
    }
    rates.push_back(updates / Since(t0));
    ctx.TryCancel();
  }
  std::sort(rates.begin(), rates.end());
  state.counters["median_events_per_s"] = rates[rates.size() / 2];
}
BENCHMARK(BM_EventsPerSecond_Grpc)->Iterations(3)->Unit(benchmark::kMillisecond)->UseRealTime();

// Calls accepted per second: REVIVE, one after another on one connection.
constexpr int kCalls = 5000;

void BM_CallsPerSecond_Http(benchmark::State& state) {
  Cluster& c = Cluster::Get();
  HttpClient sub(c.server->port());
  bhttp::request<bhttp::string_body> req{bhttp::verb::post, "/api/v1/scheduler", 11};
  req.set(bhttp::field::host, "localhost");
  req.set(bhttp::field::content_type, "application/json");
  req.body() = ToJson(SubscribeCall(c.framework_id));
  req.prepare_payload();
  bhttp::write(sub.socket, req);
  bhttp::response_parser<bhttp::buffer_body> parser;
  bhttp::read_header(sub.socket, sub.buffer, parser);
  std::string stream_id(parser.get()["Mesos-Stream-Id"]);
  Call revive;
  revive.set_type(Call::REVIVE);
  revive.mutable_framework_id()->set_value(c.framework_id);
  std::string body = ToJson(revive);
  HttpClient caller(c.server->port());
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < kCalls; ++i) {
      if (caller.Send(bhttp::verb::post, "/api/v1/scheduler", body, stream_id).result_int() != 202) {
        state.SkipWithError("REVIVE was not accepted");
        break;
      }
    }
    state.counters["calls_per_s"] = kCalls / Since(t0);
  }
}
BENCHMARK(BM_CallsPerSecond_Http)->Iterations(3)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_CallsPerSecond_Grpc(benchmark::State& state) {
  Cluster& c = Cluster::Get();
  auto stub = v1::internal::SchedulerService::NewStub(
      grpc::CreateChannel(c.server->address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  auto reader = stub->Subscribe(&ctx, SubscribeCall(c.framework_id));
  Event ev;
  reader->Read(&ev);
  Call revive;
  revive.set_type(Call::REVIVE);
  revive.mutable_framework_id()->set_value(c.framework_id);
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < kCalls; ++i) {
      grpc::ClientContext cctx;
      v1::internal::CallResponse resp;
      if (!stub->Call(&cctx, revive, &resp).ok()) {
        state.SkipWithError("REVIVE was not accepted");
        break;
      }
    }
    state.counters["calls_per_s"] = kCalls / Since(t0);
  }
  ctx.TryCancel();
}
BENCHMARK(BM_CallsPerSecond_Grpc)->Iterations(3)->Unit(benchmark::kMillisecond)->UseRealTime();

// Authentication's and TLS's cost: three small masters side by side in one
// run, one open, one that authenticates frameworks (and everything else),
// and one that authenticates over TLS (certificates made by
// tests/tls/make_certs.sh), each with one framework; calls/s over HTTP and
// gRPC and reads/s against each. Argument 0, 1, 2: open, authenticated,
// authenticated over TLS.
double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

struct AuthPair {
  std::unique_ptr<MasterServer> servers[3];  // [0] open, [1] authenticating, [2] authenticating over TLS
  std::string framework_ids[3];
  const std::string authorization = auth::BasicAuthorization({"bench", "bench-secret"});
  std::string certs;
  tls::TlsOptions client_tls;

  static AuthPair& Get() {
    static AuthPair* p = new AuthPair();
    return *p;
  }
  static const char* Label(int i) { return i == 0 ? "open" : i == 1 ? "authenticated" : "authenticated+tls"; }
  // The client side of server i: TLS for [2].
  std::shared_ptr<grpc::Channel> Channel(int i, const grpc::ChannelArguments& args = {}) const {
    auto credentials = i == 2 ? *tls::ChannelCredentials(client_tls) : grpc::InsecureChannelCredentials();
    return grpc::CreateCustomChannel(servers[i]->address(), credentials, args);
  }
  std::string CaFile(int i) const { return i == 2 ? client_tls.ca_file : ""; }

  AuthPair() {
    certs = "/tmp/corral-bench-certs-" + std::to_string(::getpid());
    if (std::system(("bash '" CORRAL_MAKE_CERTS "' '" + certs + "'").c_str()) != 0) std::abort();
    client_tls.enabled = true;
    client_tls.ca_file = certs + "/ca.crt";
    for (int i = 0; i < 3; ++i) {
      MasterOptions options;
      options.allocation_interval = 3600;
      options.heartbeat_interval = 3600;
      if (i == 2) {
        options.tls.enabled = true;
        options.tls.cert_file = certs + "/server.crt";
        options.tls.key_file = certs + "/server.key";
      }
      if (i >= 1) {
        auto& a = options.authentication;
        a.authenticator = std::make_shared<auth::Authenticator>(
            std::vector<auth::Credential>{{"bench", "bench-secret"}, {"other", "other-secret"}});
        a.frameworks = a.agents = a.readonly = a.readwrite = true;
      }
      servers[i] = std::move(*MasterServer::Start(options, "127.0.0.1:0"));
      auto stub = v1::internal::SchedulerService::NewStub(Channel(i));
      grpc::ClientContext ctx;
      if (i >= 1) ctx.AddMetadata("authorization", authorization);
      Call sub = SubscribeCall("");
      if (i >= 1) sub.mutable_subscribe()->mutable_framework_info()->set_principal("bench");
      auto reader = stub->Subscribe(&ctx, sub);
      Event ev;
      if (!reader->Read(&ev)) {
        std::fprintf(stderr, "cannot subscribe: %s\n", reader->Finish().error_message().c_str());
        std::abort();
      }
      framework_ids[i] = ev.subscribed().framework_id().value();
      ctx.TryCancel();
    }
  }
};

void BM_AuthCallsPerSecond_Http(benchmark::State& state) {
  AuthPair& p = AuthPair::Get();
  const int i = static_cast<int>(state.range(0));
  const std::string authorization = i >= 1 ? p.authorization : "";
  HttpClient sub(p.servers[i]->port(), p.CaFile(i));
  bhttp::request<bhttp::string_body> req{bhttp::verb::post, "/api/v1/scheduler", 11};
  req.set(bhttp::field::host, "localhost");
  req.set(bhttp::field::content_type, "application/json");
  if (i >= 1) req.set(bhttp::field::authorization, authorization);
  Call subscribe = SubscribeCall(p.framework_ids[i]);
  if (i >= 1) subscribe.mutable_subscribe()->mutable_framework_info()->set_principal("bench");
  req.body() = ToJson(subscribe);
  req.prepare_payload();
  sub.Write(req);
  bhttp::response_parser<bhttp::buffer_body> parser;
  sub.ReadHeader(parser);
  std::string stream_id(parser.get()["Mesos-Stream-Id"]);
  Call revive;
  revive.set_type(Call::REVIVE);
  revive.mutable_framework_id()->set_value(p.framework_ids[i]);
  std::string body = ToJson(revive);
  HttpClient caller(p.servers[i]->port(), p.CaFile(i));
  std::vector<double> rates;
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    for (int n = 0; n < kCalls; ++n) {
      if (caller.Send(bhttp::verb::post, "/api/v1/scheduler", body, stream_id, authorization).result_int() != 202) {
        state.SkipWithError("REVIVE was not accepted");
        break;
      }
    }
    rates.push_back(kCalls / Since(t0));
  }
  state.counters["calls_per_s_median"] = Median(rates);
  state.SetLabel(AuthPair::Label(i));
}
BENCHMARK(BM_AuthCallsPerSecond_Http)
    ->Arg(0)
    ->Arg(1)
    ->Arg(2)
    ->Iterations(5)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_AuthCallsPerSecond_Grpc(benchmark::State& state) {
  AuthPair& p = AuthPair::Get();
  const int i = static_cast<int>(state.range(0));
  auto stub = v1::internal::SchedulerService::NewStub(p.Channel(i));
  Call revive;
  revive.set_type(Call::REVIVE);
  revive.mutable_framework_id()->set_value(p.framework_ids[i]);
  // The framework is disconnected (its stream was cancelled): subscribe again.
  grpc::ClientContext sub_ctx;
  if (i >= 1) sub_ctx.AddMetadata("authorization", p.authorization);
  Call subscribe = SubscribeCall(p.framework_ids[i]);
  if (i >= 1) subscribe.mutable_subscribe()->mutable_framework_info()->set_principal("bench");
  auto reader = stub->Subscribe(&sub_ctx, subscribe);
  Event ev;
  reader->Read(&ev);
  std::vector<double> rates;
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    for (int n = 0; n < kCalls; ++n) {
      grpc::ClientContext cctx;
      if (i >= 1) cctx.AddMetadata("authorization", p.authorization);
      v1::internal::CallResponse resp;
      if (!stub->Call(&cctx, revive, &resp).ok()) {
        state.SkipWithError("REVIVE was not accepted");
        break;
      }
    }
    rates.push_back(kCalls / Since(t0));
  }
  state.counters["calls_per_s_median"] = Median(rates);
  sub_ctx.TryCancel();
  state.SetLabel(AuthPair::Label(i));
}
BENCHMARK(BM_AuthCallsPerSecond_Grpc)
    ->Arg(0)
    ->Arg(1)
    ->Arg(2)
    ->Iterations(5)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// GET /master/state of the (nearly empty) masters: a read per request, so
// that authentication's share of a short request shows.
void BM_AuthStateReadsPerSecond_Http(benchmark::State& state) {
  AuthPair& p = AuthPair::Get();
  const int i = static_cast<int>(state.range(0));
  HttpClient client(p.servers[i]->port(), p.CaFile(i));
  std::vector<double> rates;
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    for (int n = 0; n < kCalls; ++n) {
      if (client.Send(bhttp::verb::get, "/master/state", "", "", i >= 1 ? p.authorization : "").result_int() != 200) {
        state.SkipWithError("/master/state failed");
        break;
      }
    }
    rates.push_back(kCalls / Since(t0));
  }
  state.counters["reads_per_s_median"] = Median(rates);
  state.SetLabel(AuthPair::Label(i));
}
BENCHMARK(BM_AuthStateReadsPerSecond_Http)
    ->Arg(0)
    ->Arg(1)
    ->Arg(2)
    ->Iterations(5)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace corral

BENCHMARK_MAIN();
