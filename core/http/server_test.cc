#include "corral/http/server.h"

#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <future>
#include <sstream>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace corral::http {
namespace {

namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

struct Client {
  net::io_context ioc;
  tcp::socket socket{ioc};
  explicit Client(int port) { socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port)); }
  bhttp::response<bhttp::string_body> Send(bhttp::request<bhttp::string_body> req) {
    req.prepare_payload();
    bhttp::write(socket, req);
    beast::flat_buffer buf;
    bhttp::response<bhttp::string_body> res;
    bhttp::read(socket, buf, res);
    return res;
  }
};

// Polls `pred` for up to 10 s (connection counts, which send no events).
bool WaitUntil(const std::function<bool()>& pred) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // polling, bounded by the deadline
  }
  return true;
}

bhttp::request<bhttp::string_body> Get(const std::string& target) {
  bhttp::request<bhttp::string_body> req{bhttp::verb::get, target, 11};
  req.set(bhttp::field::host, "localhost");
  return req;
}

TEST(HttpServer, AnswersAndKeepsTheConnection) {
  auto server = Server::Start("127.0.0.1", 0, [](const Request& req, Responder& r) {
    std::string q = req.query.count("a ") ? req.query.at("a ") : "-";
    r.Reply(
        Response::Json("{\"path\":\"" + req.path + "\",\"q\":\"" + q + "\",\"h\":\"" + req.header("x-test") + "\"}"));
  });
  ASSERT_TRUE(server.ok()) << server.status();
  Client c((*server)->port());
  auto req = Get("/master/st%61te?a+=b%2Fc");
  req.set("X-Test", "yes");
  auto res = c.Send(req);
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res[bhttp::field::content_type], "application/json");
  EXPECT_EQ(res.body(), "{\"path\":\"/master/state\",\"q\":\"b/c\",\"h\":\"yes\"}");
  // Same connection, second request.
  EXPECT_EQ(c.Send(Get("/x")).result_int(), 200);
}

TEST(HttpServer, RefusesBodiesOverTheLimit) {
  ServerOptions options;
  options.limits.max_body_bytes = 1024;
  auto server = Server::Start(
      "127.0.0.1", 0, [](const Request&, Responder& r) { r.Reply(Response::Text(200, "ok")); }, options);
  ASSERT_TRUE(server.ok());
  Client c((*server)->port());
  bhttp::request<bhttp::string_body> req{bhttp::verb::post, "/api/v1", 11};
  req.body() = std::string(4096, 'x');
  auto res = c.Send(req);
  EXPECT_EQ(res.result_int(), 413);
  EXPECT_NE(res.body().find("larger than the limit of 1024 bytes"), std::string::npos) << res.body();
}

TEST(HttpServer, RefusesTooManyOrTooLargeHeadersAndJsonTooDeep) {
  ServerOptions options;
  options.limits.max_header_count = 5;
  options.limits.max_header_bytes = 2048;
  options.limits.max_json_depth = 4;
  std::atomic<int> handled{0};
  auto server = Server::Start(
      "127.0.0.1", 0,
      [&](const Request&, Responder& r) {
        ++handled;
        r.Reply(Response::Text(200, "ok"));
      },
      options);
  ASSERT_TRUE(server.ok());
  auto post = [](const std::string& body, const std::string& type) {
    bhttp::request<bhttp::string_body> req{bhttp::verb::post, "/api/v1", 11};
    req.set(bhttp::field::host, "localhost");
    if (!type.empty()) req.set(bhttp::field::content_type, type);
    req.body() = body;
    return req;
  };
  {
    Client c((*server)->port());
    auto req = Get("/");
    for (int i = 0; i < 6; ++i) req.set("X-Header-" + std::to_string(i), "v");
    auto res = c.Send(req);
    EXPECT_EQ(res.result_int(), 431);
    EXPECT_EQ(res.body(), "Request has 7 header fields; the limit is 5\n");
  }
  {
    Client c((*server)->port());
    auto req = Get("/");
    req.set("X-Big", std::string(4096, 'x'));
    auto res = c.Send(req);
    EXPECT_EQ(res.result_int(), 431);
    EXPECT_EQ(res.body(), "Request headers are larger than the limit of 2048 bytes\n");
  }
  {
    // Five levels deep; brackets inside strings do not count.
    Client c((*server)->port());
    auto res = c.Send(post(R"({"a": [{"b": [{"c": 1}]}]})", "application/json"));
    EXPECT_EQ(res.result_int(), 400);
    EXPECT_EQ(res.body(), "Request body nests JSON deeper than the limit of 4 levels\n");
    Client d((*server)->port());
    EXPECT_EQ(d.Send(post(R"({"a": [{"b": "[[[[[[{{{{"}]})", "application/json")).result_int(), 200);
    // A JSON body without its content type is still JSON; protobuf is not.
    Client e((*server)->port());
    EXPECT_EQ(e.Send(post(std::string(100, '['), "")).result_int(), 400);
    Client f((*server)->port());
    EXPECT_EQ(f.Send(post(std::string(100, '['), "application/x-protobuf")).result_int(), 200);
  }
  EXPECT_EQ(handled.load(), 2);
}

TEST(HttpServer, JsonDepthCountsNestingOutsideStrings) {
  EXPECT_EQ(JsonDepth("1"), 0u);
  EXPECT_EQ(JsonDepth("{}"), 1u);
  EXPECT_EQ(JsonDepth(R"({"a": [1, {"b": []}], "c": {}})"), 4u);
  EXPECT_EQ(JsonDepth(R"(["\"[[[", "]]]"])"), 1u);
  EXPECT_EQ(JsonDepth("]]]][["), 2u);  // stray closers do not go below zero
  RequestLimits limits;
  limits.max_json_depth = 2;
  auto parsed = ParseRequest("POST / HTTP/1.1\r\nContent-Length: 7\r\n\r\n[[[1]]]", limits);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().message(), "Request body nests JSON deeper than the limit of 2 levels");
}

TEST(HttpServer, MalformedRequestsGet400) {
  auto server = Server::Start("127.0.0.1", 0, [](const Request&, Responder& r) { r.Reply(Response::Text(200, "ok")); });
  ASSERT_TRUE(server.ok());
  Client c((*server)->port());
  net::write(c.socket, net::buffer(std::string("GET / HTTP/1.1\r\nContent-Length: nope\r\n\r\n")));
  beast::flat_buffer buf;
  bhttp::response<bhttp::string_body> res;
  bhttp::read(c.socket, buf, res);
  EXPECT_EQ(res.result_int(), 400);
  EXPECT_NE(res.body().find("Malformed HTTP request"), std::string::npos) << res.body();
}

TEST(HttpServer, SlowClientsAreCutOff) {
  ServerOptions options;
  options.limits.request_timeout = 0.3;
  auto server = Server::Start(
      "127.0.0.1", 0, [](const Request&, Responder& r) { r.Reply(Response::Text(200, "ok")); }, options);
  ASSERT_TRUE(server.ok());
  Client c((*server)->port());
  net::write(c.socket, net::buffer(std::string("GET / HTTP/1.1\r\nHost: x\r\n")));  // never finishes
  auto start = std::chrono::steady_clock::now();
  char byte;
  beast::error_code ec;
  c.socket.read_some(net::buffer(&byte, 1), ec);  // blocks until the server closes
  EXPECT_TRUE(ec) << "the server closed the connection";
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(HttpServer, StreamsChunksAndNoticesHangups) {
  std::promise<std::shared_ptr<ResponseStream>> started;
  std::atomic<bool> closed{false};
  auto server = Server::Start("127.0.0.1", 0, [&](const Request&, Responder& r) {
    auto stream = r.Stream(200, "application/recordio", {{"Mesos-Stream-Id", "s1"}});
    stream->OnClosed([&] { closed = true; });
    stream->Write("first");
    started.set_value(stream);
  });
  ASSERT_TRUE(server.ok());
  Client c((*server)->port());
  auto req = Get("/api/v1/scheduler");
  bhttp::write(c.socket, req);
  beast::flat_buffer buf;
  bhttp::response_parser<bhttp::string_body> parser;
  bhttp::read_header(c.socket, buf, parser);
  EXPECT_EQ(parser.get()["Mesos-Stream-Id"], "s1");
  EXPECT_TRUE(parser.chunked());
  auto stream = started.get_future().get();
  stream->Write("second");
  std::string body;
  while (body.size() < 11) {
    bhttp::read_some(c.socket, buf, parser);
    body = parser.get().body();
  }
  EXPECT_EQ(body, "firstsecond");
  c.socket.close();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!closed && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  EXPECT_TRUE(closed);
  EXPECT_FALSE(stream->Write("after")) << "a closed stream refuses writes";
}

TEST(HttpServer, HandsHttp2ConnectionsOver) {
  std::atomic<int> handed{-1};
  ServerOptions options;
  options.on_http2 = [&](int fd, const std::string&) { handed = fd; };
  auto server = Server::Start(
      "127.0.0.1", 0, [](const Request&, Responder& r) { r.Reply(Response::Text(200, "ok")); }, options);
  ASSERT_TRUE(server.ok());
  Client h2((*server)->port());
  net::write(h2.socket, net::buffer(std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (handed < 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  ASSERT_GE(handed, 0);
  char preface[24];
  EXPECT_EQ(::recv(handed, preface, sizeof preface, 0), 24) << "nothing was consumed";
  ::close(handed);
  // HTTP/1 on the same port still works.
  Client c((*server)->port());
  EXPECT_EQ(c.Send(Get("/")).result_int(), 200);
}

// Reads until the server closes the connection; false if it does not
// within `seconds`.
bool ClosedByServer(Client& c, double seconds) {
  c.socket.non_blocking(false);
  struct timeval tv {
    static_cast<time_t>(seconds), static_cast<suseconds_t>((seconds - static_cast<int>(seconds)) * 1e6)
  };
  ::setsockopt(c.socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char byte;
  ssize_t n = ::recv(c.socket.native_handle(), &byte, 1, 0);
  return n == 0 || (n < 0 && errno == ECONNRESET);
}

Handler Ok() {
  return [](const Request&, Responder& r) { r.Reply(Response::Text(200, "ok")); };
}

// A connection that sends nothing at all, on a port that also serves gRPC
// (where the first bytes decide what the connection is) and on one that
// does not.
TEST(HttpServer, ConnectionsThatSendNothingAreClosed) {
  for (bool grpc_too : {true, false}) {
    ServerOptions options;
    options.limits.request_timeout = 0.3;
    if (grpc_too) options.on_http2 = [](int fd, const std::string&) { ::close(fd); };
    auto server = Server::Start("127.0.0.1", 0, Ok(), options);
    ASSERT_TRUE(server.ok());
    Client silent((*server)->port());
    auto start = std::chrono::steady_clock::now();
    EXPECT_TRUE(ClosedByServer(silent, 5)) << (grpc_too ? "sniffing" : "plain");
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
    EXPECT_TRUE(WaitUntil([&] { return (*server)->connections() == 0; }));
  }
}

TEST(HttpServer, AnIdleKeptAliveConnectionIsClosed) {
  ServerOptions options;
  options.limits.request_timeout = 5;
  options.limits.idle_timeout = 0.3;
  auto server = Server::Start("127.0.0.1", 0, Ok(), options);
  ASSERT_TRUE(server.ok());
  Client c((*server)->port());
  EXPECT_EQ(c.Send(Get("/")).result_int(), 200);
  auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(ClosedByServer(c, 5));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
}

TEST(HttpServer, ConnectionsPerPeerAreCapped) {
  ServerOptions options;
  options.limits.max_connections_per_peer = 3;
  options.on_http2 = [](int fd, const std::string&) { ::close(fd); };
  auto server = Server::Start("127.0.0.1", 0, Ok(), options);
  ASSERT_TRUE(server.ok());
  std::vector<std::unique_ptr<Client>> held;
  for (int i = 0; i < 3; ++i) held.push_back(std::make_unique<Client>((*server)->port()));
  ASSERT_TRUE(WaitUntil([&] { return (*server)->connections() == 3; }));
  Client over((*server)->port());
  EXPECT_TRUE(ClosedByServer(over, 5)) << "a fourth connection from the same address is closed at once";
  // The held ones still work, and a freed place is taken again.
  EXPECT_EQ(held[0]->Send(Get("/")).result_int(), 200);
  held.pop_back();
  ASSERT_TRUE(WaitUntil([&] { return (*server)->connections() == 2; }));
  Client again((*server)->port());
  EXPECT_EQ(again.Send(Get("/")).result_int(), 200);
}

// Out of file descriptors, the server neither dies nor spins on accept(),
// and answers again once descriptors are free. The server runs in a child
// process whose limit is lowered; the connections come from this one.
TEST(HttpServer, KeepsServingAfterRunningOutOfDescriptors) {
  int ports[2];
  ASSERT_EQ(::pipe(ports), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ServerOptions options;
    options.max_connections = 1000;  // above the descriptor limit: the kernel says no first
    options.limits.max_connections_per_peer = 1000;
    auto server = Server::Start("127.0.0.1", 0, Ok(), options);
    if (!server.ok()) ::_exit(2);
    struct rlimit limit {
      64, 64
    };
    if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) ::_exit(3);
    int port = (*server)->port();
    if (::write(ports[1], &port, sizeof port) != sizeof port) ::_exit(4);
    ::pause();
    ::_exit(0);
  }
  struct Kill {
    pid_t pid;
    ~Kill() {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  } kill_child{child};
  int port = 0;
  ASSERT_EQ(::read(ports[0], &port, sizeof port), static_cast<ssize_t>(sizeof port));
  std::vector<std::unique_ptr<Client>> flood;
  for (int i = 0; i < 100; ++i) flood.push_back(std::make_unique<Client>(port));
  auto cpu = [&] {
    std::ifstream in("/proc/" + std::to_string(child) + "/stat");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::istringstream fields(text.substr(text.rfind(')') + 2));
    std::string f;
    long ticks = 0;
    for (int i = 3; i <= 15 && fields >> f; ++i) {
      if (i == 14 || i == 15) ticks += std::stol(f);  // utime + stime
    }
    return ticks;
  };
  long before = cpu();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // measuring CPU use over a period
  EXPECT_LT(cpu() - before, 20) << "the server spins while it has no descriptors";
  flood.clear();
  // Descriptors free again: a new client is answered (the first attempts
  // may still meet a server busy closing what it held).
  bool answered = WaitUntil([&] {
    try {
      Client c(port);
      return c.Send(Get("/")).result_int() == 200;
    } catch (const std::exception&) { return false; }
  });
  EXPECT_TRUE(answered);
}

TEST(HttpParse, RepeatedQueryParametersAreAllKept) {
  auto req = ParseRequest("GET /v2/events?event_type=a&event_type=b%20c&x HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_TRUE(req.ok()) << req.status();
  ASSERT_EQ(req->query_list.size(), 3u);
  EXPECT_EQ(req->query_list[0], (std::pair<std::string, std::string>{"event_type", "a"}));
  EXPECT_EQ(req->query_list[1], (std::pair<std::string, std::string>{"event_type", "b c"}));
  EXPECT_EQ(req->query.at("event_type"), "b c");
  EXPECT_EQ(req->query.at("x"), "");
}

}  // namespace
}  // namespace corral::http
