// TLS on the HTTP server's port: HTTPS, gRPC (ALPN h2) through the bridge,
// plain connections refused or (downgrade) served, client certificates
// asked for and required, and bad certificate files refused at start.
// The certificates are made for each run by tests/tls/make_certs.sh.
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <openssl/ssl.h>

#include "corral/http/server.h"

namespace corral::http {
namespace {

namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

const std::string& Certs() {
  static const std::string dir = [] {
    std::string d = ::testing::TempDir() + "corral-tls-test-" + std::to_string(::getpid());
    std::string cmd = std::string("bash '") + CORRAL_MAKE_CERTS + "' '" + d + "'";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    return d;
  }();
  return dir;
}
std::string Cert(const std::string& name) { return Certs() + "/" + name; }

tls::TlsOptions ServerTls() {
  tls::TlsOptions o;
  o.enabled = true;
  o.cert_file = Cert("server.crt");
  o.key_file = Cert("server.key");
  o.ca_file = Cert("ca.crt");
  return o;
}

Handler Hello() {
  return [](const Request& req, Responder& r) { r.Reply(Response::Text(200, "hello " + req.path)); };
}

// A TLS client trusting `ca`, showing `cert` (if any), offering `alpn`.
struct TlsClient {
  net::io_context ioc;
  ssl::context ctx{ssl::context::tls_client};
  std::unique_ptr<ssl::stream<tcp::socket>> stream;

  TlsClient(int port, const std::string& ca, const std::string& cert = "", const std::string& alpn = "") {
    ctx.load_verify_file(ca);
    ctx.set_verify_mode(ssl::verify_peer);
    if (!cert.empty()) {
      ctx.use_certificate_chain_file(cert + ".crt");
      ctx.use_private_key_file(cert + ".key", ssl::context::pem);
    }
    stream = std::make_unique<ssl::stream<tcp::socket>>(ioc, ctx);
    stream->set_verify_callback(ssl::host_name_verification("127.0.0.1"));
    if (!alpn.empty()) {
      std::string wire = std::string(1, static_cast<char>(alpn.size())) + alpn;
      ::SSL_set_alpn_protos(stream->native_handle(), reinterpret_cast<const unsigned char*>(wire.data()),
                            static_cast<unsigned>(wire.size()));
    }
    stream->lowest_layer().connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    struct timeval tv {
      5, 0
    };
    ::setsockopt(stream->lowest_layer().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  beast::error_code Handshake() {
    beast::error_code ec;
    stream->handshake(ssl::stream_base::client, ec);
    return ec;
  }
  // One GET; the status, or -1 where the connection failed (the error in *why).
  int Get(const std::string& target, std::string* body = nullptr, std::string* why = nullptr) {
    bhttp::request<bhttp::string_body> req{bhttp::verb::get, target, 11};
    req.set(bhttp::field::host, "127.0.0.1");
    beast::error_code ec;
    bhttp::write(*stream, req, ec);
    beast::flat_buffer buf;
    bhttp::response<bhttp::string_body> res;
    if (!ec) bhttp::read(*stream, buf, res, ec);
    if (ec) {
      if (why) *why = ec.message();
      return -1;
    }
    if (body) *body = res.body();
    return res.result_int();
  }
};

// A plain GET; the status and body, or -1 where the connection failed.
int PlainGet(int port, std::string* body) {
  net::io_context ioc;
  tcp::socket socket(ioc);
  socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  bhttp::request<bhttp::string_body> req{bhttp::verb::get, "/plain", 11};
  req.set(bhttp::field::host, "127.0.0.1");
  beast::error_code ec;
  bhttp::write(socket, req, ec);
  beast::flat_buffer buf;
  bhttp::response<bhttp::string_body> res;
  if (!ec) bhttp::read(socket, buf, res, ec);
  if (ec) return -1;
  *body = res.body();
  return res.result_int();
}

TEST(HttpServerTls, ServesHttpsAndBridgesHttp2ToTheHandedOverDescriptor) {
  std::atomic<int> handed{-1};
  std::string peer;
  ServerOptions options;
  options.tls = ServerTls();
  options.on_http2 = [&](int fd, const std::string& p) {
    peer = p;
    handed = fd;
  };
  auto server = Server::Start("127.0.0.1", 0, Hello(), options);
  ASSERT_TRUE(server.ok()) << server.status();
  int port = (*server)->port();

  TlsClient https(port, Cert("ca.crt"));
  ASSERT_FALSE(https.Handshake());
  std::string body;
  EXPECT_EQ(https.Get("/state", &body), 200);
  EXPECT_EQ(body, "hello /state");
  EXPECT_EQ(https.Get("/again", &body), 200) << "the TLS connection is kept alive";

  // ALPN h2: the server hands gRPC a plain descriptor carrying the
  // connection's decrypted bytes, both ways.
  TlsClient h2(port, Cert("ca.crt"), "", "h2");
  ASSERT_FALSE(h2.Handshake());
  const unsigned char* chosen = nullptr;
  unsigned len = 0;
  ::SSL_get0_alpn_selected(h2.stream->native_handle(), &chosen, &len);
  ASSERT_EQ(std::string(reinterpret_cast<const char*>(chosen), len), "h2");
  const std::string preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  net::write(*h2.stream, net::buffer(preface));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (handed < 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  ASSERT_GE(handed, 0);
  EXPECT_EQ(peer, "127.0.0.1");
  struct timeval tv {
    5, 0
  };
  ::setsockopt(handed, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string got(preface.size(), '\0');
  size_t have = 0;
  while (have < got.size()) {
    ssize_t n = ::recv(handed, &got[have], got.size() - have, 0);
    ASSERT_GT(n, 0);
    have += static_cast<size_t>(n);
  }
  EXPECT_EQ(got, preface);
  ASSERT_EQ(::send(handed, "settings", 8, 0), 8);
  char back[8];
  net::read(*h2.stream, net::buffer(back));
  EXPECT_EQ(std::string(back, 8), "settings");
  ::close(handed);
  // gRPC's side closing ends the client's connection.
  beast::error_code ec;
  h2.stream->read_some(net::buffer(back), ec);
  EXPECT_TRUE(ec);
}

TEST(HttpServerTls, RefusesPlainConnectionsUnlessDowngradeIsAllowed) {
  ServerOptions options;
  options.tls = ServerTls();
  auto strict = Server::Start("127.0.0.1", 0, Hello(), options);
  ASSERT_TRUE(strict.ok()) << strict.status();
  std::string body;
  EXPECT_EQ(PlainGet((*strict)->port(), &body), 400);
  EXPECT_EQ(body, "This server takes only TLS (https) requests.\n");

  options.tls.support_downgrade = true;
  auto lenient = Server::Start("127.0.0.1", 0, Hello(), options);
  ASSERT_TRUE(lenient.ok()) << lenient.status();
  EXPECT_EQ(PlainGet((*lenient)->port(), &body), 200);
  EXPECT_EQ(body, "hello /plain");
  TlsClient https((*lenient)->port(), Cert("ca.crt"));
  ASSERT_FALSE(https.Handshake());
  EXPECT_EQ(https.Get("/tls", &body), 200);
  EXPECT_EQ(body, "hello /tls");
}

TEST(HttpServerTls, AClientTrustingAnotherCaRefusesTheServer) {
  ServerOptions options;
  options.tls = ServerTls();
  auto server = Server::Start("127.0.0.1", 0, Hello(), options);
  ASSERT_TRUE(server.ok()) << server.status();
  TlsClient client((*server)->port(), Cert("other-ca.crt"));
  beast::error_code ec = client.Handshake();
  ASSERT_TRUE(ec);
  EXPECT_NE(ec.message().find("certificate verify failed"), std::string::npos) << ec.message();
  // The server is unharmed.
  TlsClient good((*server)->port(), Cert("ca.crt"));
  ASSERT_FALSE(good.Handshake());
  EXPECT_EQ(good.Get("/"), 200);
}

TEST(HttpServerTls, RequiredClientCertificatesMustVerify) {
  ServerOptions options;
  options.tls = ServerTls();
  options.tls.require_cert = true;
  auto server = Server::Start("127.0.0.1", 0, Hello(), options);
  ASSERT_TRUE(server.ok()) << server.status();
  int port = (*server)->port();
  // TLS 1.3 finishes the client's handshake before the server has looked
  // at its certificate: the refusal shows at the handshake or the request.
  auto status = [&](const std::string& cert) {
    TlsClient c(port, Cert("ca.crt"), cert);
    if (c.Handshake()) return -1;
    return c.Get("/");
  };
  EXPECT_EQ(status(""), -1) << "no certificate";
  EXPECT_EQ(status(Cert("rogue")), -1) << "a certificate of another CA";
  EXPECT_EQ(status(Cert("client")), 200);

  // Where local peers are exempt (an agent's executors), a client on this
  // machine gets in without one; a certificate it shows still must verify.
  options.tls.require_cert_of_local_peers = false;
  auto agent = Server::Start("127.0.0.1", 0, Hello(), options);
  ASSERT_TRUE(agent.ok()) << agent.status();
  port = (*agent)->port();
  EXPECT_EQ(status(""), 200);
  EXPECT_EQ(status(Cert("rogue")), -1);
  EXPECT_EQ(status(Cert("client")), 200);
}

TEST(HttpServerTls, BadCertificateFilesStopTheStartWithTheirFlag) {
  ServerOptions options;
  options.tls = ServerTls();
  options.tls.key_file = Cert("missing.key");
  auto missing = Server::Start("127.0.0.1", 0, Hello(), options);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("--ssl_key_file: no such file"), std::string::npos) << missing.status();

  options.tls.key_file = Cert("client.key");
  auto mismatched = Server::Start("127.0.0.1", 0, Hello(), options);
  ASSERT_FALSE(mismatched.ok());
  EXPECT_NE(mismatched.status().message().find("is not the key of --ssl_cert_file"), std::string::npos)
      << mismatched.status();

  options.tls = ServerTls();
  options.tls.cert_file = Cert("ca.key");  // not a certificate
  auto garbage = Server::Start("127.0.0.1", 0, Hello(), options);
  ASSERT_FALSE(garbage.ok());
  EXPECT_NE(garbage.status().message().find("--ssl_cert_file"), std::string::npos) << garbage.status();
}

}  // namespace
}  // namespace corral::http
