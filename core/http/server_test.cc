#include "corral/http/server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
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

bhttp::request<bhttp::string_body> Get(const std::string& target) {
  bhttp::request<bhttp::string_body> req{bhttp::verb::get, target, 11};
  req.set(bhttp::field::host, "localhost");
  return req;
}

TEST(HttpServer, AnswersAndKeepsTheConnection) {
  auto server = Server::Start("127.0.0.1", 0, [](const Request& req, Responder& r) {
    std::string q = req.query.count("a ") ? req.query.at("a ") : "-";
    r.Reply(Response::Json("{\"path\":\"" + req.path + "\",\"q\":\"" + q + "\",\"h\":\"" +
                           req.header("x-test") + "\"}"));
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
  options.max_body_bytes = 1024;
  auto server = Server::Start("127.0.0.1", 0, [](const Request&, Responder& r) { r.Reply(Response::Text(200, "ok")); },
                              options);
  ASSERT_TRUE(server.ok());
  Client c((*server)->port());
  bhttp::request<bhttp::string_body> req{bhttp::verb::post, "/api/v1", 11};
  req.body() = std::string(4096, 'x');
  auto res = c.Send(req);
  EXPECT_EQ(res.result_int(), 413);
  EXPECT_NE(res.body().find("larger than the limit of 1024 bytes"), std::string::npos) << res.body();
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
  options.request_timeout = 0.3;
  auto server = Server::Start("127.0.0.1", 0, [](const Request&, Responder& r) { r.Reply(Response::Text(200, "ok")); },
                              options);
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
  options.on_http2 = [&](int fd) { handed = fd; };
  auto server = Server::Start("127.0.0.1", 0, [](const Request&, Responder& r) { r.Reply(Response::Text(200, "ok")); },
                              options);
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

}  // namespace
}  // namespace corral::http
