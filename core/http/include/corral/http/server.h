// An asynchronous HTTP/1.1 server on Boost.Beast, for the Mesos-compatible
// APIs. A few I/O threads serve every connection; a streamed response (a
// scheduler's SUBSCRIBE) holds no thread, only a queue of chunks.
//
// One port can serve gRPC too: a connection that opens with the HTTP/2
// preface ("PRI ...") is handed, as its file descriptor, to `on_http2`
// (gRPC's AddInsecureChannelFromFd), so Mesos clients and Corral's SDKs
// dial the same host:port.
//
// With TLS on, a connection that opens with a TLS record is served over
// TLS on that port too: HTTP/1 inside, or, where ALPN chose h2, gRPC
// through a socket pair (gRPC adopts only plain descriptors). A plain
// connection is then refused, or served where downgrade is allowed.
//
// Threading: handlers run on an I/O thread and may block briefly (they wait
// for the master's loop). ResponseStream::Write and Close may be called from
// any thread.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "corral/common/request_limits.h"
#include "corral/tls/tls_options.h"

namespace corral::http {

struct Request {
  std::string method;                                           // "GET", "POST", ...
  std::string path;                                             // without the query, percent-decoded
  std::map<std::string, std::string> query;                     // decoded parameters (the last of a repeated one)
  std::vector<std::pair<std::string, std::string>> query_list;  // all of them, in order
  std::map<std::string, std::string> headers;                   // names lowercased
  std::string body;
  bool keep_alive = true;
  std::string peer;  // the client's address, for logs

  // The header's value, or "" when absent; `name` in lowercase.
  const std::string& header(const std::string& name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  static Response Text(int status, std::string body);
  static Response Json(std::string body, int status = 200);
};

// A chunked response that stays open: each Write is one chunk, in order.
class ResponseStream {
 public:
  virtual ~ResponseStream() = default;
  // Queues a chunk; false once the stream is closed (the client went away,
  // it fell too far behind, or Close was called).
  virtual bool Write(std::string chunk) = 0;
  // Ends the response (the last chunk) and the connection.
  virtual void Close() = 0;
  // Called once, on an I/O thread, when the stream ends for any reason.
  virtual void OnClosed(std::function<void()> callback) = 0;
};

// How a handler answers: exactly one of Reply, Stream or SendFile.
class Responder {
 public:
  virtual ~Responder() = default;
  virtual void Reply(Response response) = 0;
  // `size` bytes of the open file `fd` (which the responder owns from now
  // on), with `head`'s status and headers (its body is ignored). The file
  // goes out a chunk at a time, the next read only once the client took
  // the last one: a client that does not read holds one chunk, not the
  // file.
  virtual void SendFile(Response head, int fd, uint64_t size) = 0;
  // Sends the status and headers now; chunks follow through the stream.
  virtual std::shared_ptr<ResponseStream> Stream(int status, std::string content_type,
                                                 std::vector<std::pair<std::string, std::string>> headers) = 0;
};

using Handler = std::function<void(const Request&, Responder&)>;

struct ServerOptions {
  // Body, headers, JSON nesting, timeouts, connections per address (counted
  // while this server serves them; those handed to gRPC are gRPC's).
  RequestLimits limits;
  size_t max_stream_backlog = 64 << 20;  // queued bytes before a slow stream is cut
  // Connections in all; 0: three quarters of the open-file limit, so that
  // the daemon keeps descriptors for everything else it does.
  size_t max_connections = 0;
  int threads = 2;
  // Connections that start with the HTTP/2 preface (plain, or over TLS
  // through a socket pair), with the address they came from; null refuses
  // them.
  std::function<void(int fd, const std::string& peer)> on_http2;
  // TLS on this port (certificate, client certificates, downgrade).
  tls::TlsOptions tls;
};

class Server {
 public:
  // Binds `host:port` (port 0 picks one) and starts serving.
  static absl::StatusOr<std::unique_ptr<Server>> Start(const std::string& host, int port, Handler handler,
                                                       ServerOptions options = {});
  ~Server();
  int port() const;
  // Connections this server holds now (not those handed to gRPC).
  size_t connections() const;
  // Stops accepting, closes every connection and joins the I/O threads.
  void Stop();

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// One whole request in `bytes`, parsed as the server parses a connection's
// (for tests and fuzzing).
absl::StatusOr<Request> ParseRequest(absl::string_view bytes, const RequestLimits& limits = {});

// How deeply objects and arrays nest in `json` (0 for a scalar); strings
// are skipped, so brackets inside them do not count. Not a validator.
size_t JsonDepth(absl::string_view json);

// Percent-decoding of a URL component ('+' is a space in queries).
std::string UrlDecode(absl::string_view text, bool plus_is_space);
// The request's query, encoded again: "" or "?k=v&k2=v2" (for redirects
// that send a request on with its query).
std::string QueryString(const Request& req);

}  // namespace corral::http
