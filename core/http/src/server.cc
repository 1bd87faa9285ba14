#include "corral/http/server.h"

#include <cctype>
#include <cstring>
#include <type_traits>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "corral/common/logging.h"

namespace corral::http {
namespace {

namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

std::chrono::milliseconds Millis(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string UrlDecode(absl::string_view text, bool plus_is_space);

namespace {

Request ToRequest(bhttp::request<bhttp::string_body>& msg) {
  Request req;
  req.method = std::string(msg.method_string());
  req.keep_alive = msg.keep_alive();
  absl::string_view target(msg.target().data(), msg.target().size());
  size_t q = target.find('?');
  req.path = UrlDecode(target.substr(0, q), false);
  if (q != absl::string_view::npos) {
    for (absl::string_view kv : absl::StrSplit(target.substr(q + 1), '&', absl::SkipEmpty())) {
      size_t eq = kv.find('=');
      std::string key = UrlDecode(kv.substr(0, eq), true);
      std::string value = eq == absl::string_view::npos ? "" : UrlDecode(kv.substr(eq + 1), true);
      req.query[key] = value;
      req.query_list.emplace_back(std::move(key), std::move(value));
    }
  }
  for (const auto& field : msg) {
    req.headers[absl::AsciiStrToLower(absl::string_view(field.name_string().data(), field.name_string().size()))] =
        std::string(field.value());
  }
  req.body = std::move(msg.body());
  return req;
}

// What `limits` refuse of a request that parsed within its sizes: too many
// header fields, or a JSON body nested too deeply (a parser that recurses
// would spend its stack on it).
std::optional<Response> Refusal(const bhttp::request<bhttp::string_body>& msg, const RequestLimits& limits) {
  size_t fields = static_cast<size_t>(std::distance(msg.begin(), msg.end()));
  if (fields > limits.max_header_count) {
    return Response::Text(
        431, absl::StrCat("Request has ", fields, " header fields; the limit is ", limits.max_header_count, "\n"));
  }
  const std::string& body = msg.body();
  if (body.empty()) return std::nullopt;
  absl::string_view type(msg[bhttp::field::content_type].data(), msg[bhttp::field::content_type].size());
  absl::string_view start = absl::StripLeadingAsciiWhitespace(body);
  const bool json = absl::StrContains(type, "json") ||
                    (!absl::StrContains(type, "protobuf") && !start.empty() && (start[0] == '{' || start[0] == '['));
  if (json && JsonDepth(body) > limits.max_json_depth) {
    return Response::Text(
        400, absl::StrCat("Request body nests JSON deeper than the limit of ", limits.max_json_depth, " levels\n"));
  }
  return std::nullopt;
}

}  // namespace

size_t JsonDepth(absl::string_view json) {
  size_t depth = 0, deepest = 0;
  for (size_t i = 0; i < json.size(); ++i) {
    char c = json[i];
    if (c == '"') {
      for (++i; i < json.size() && json[i] != '"'; ++i) {
        if (json[i] == '\\') ++i;
      }
    } else if (c == '{' || c == '[') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

absl::StatusOr<Request> ParseRequest(absl::string_view bytes, const RequestLimits& limits) {
  bhttp::request_parser<bhttp::string_body> parser;
  parser.body_limit(limits.max_body_bytes);
  parser.header_limit(static_cast<uint32_t>(limits.max_header_bytes));
  parser.eager(true);
  beast::error_code ec;
  size_t used = parser.put(net::buffer(bytes.data(), bytes.size()), ec);
  if (!ec && !parser.is_done()) { parser.put_eof(ec); }
  if (ec) return absl::InvalidArgumentError(absl::StrCat("Malformed HTTP request: ", ec.message()));
  if (!parser.is_done()) return absl::InvalidArgumentError("Incomplete HTTP request");
  (void)used;
  if (auto refused = Refusal(parser.get(), limits)) {
    return absl::InvalidArgumentError(absl::StripTrailingAsciiWhitespace(refused->body));
  }
  return ToRequest(parser.get());
}

std::string UrlDecode(absl::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%' && i + 2 < text.size()) {
      int hi = HexValue(text[i + 1]), lo = HexValue(text[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(plus_is_space && c == '+' ? ' ' : c);
  }
  return out;
}

std::string QueryString(const Request& req) {
  std::string out;
  auto encode = [&out](const std::string& s) {
    static const char kHex[] = "0123456789ABCDEF";
    for (unsigned char c : s) {
      if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
        out += static_cast<char>(c);
      } else {
        out += '%';
        out += kHex[c >> 4];
        out += kHex[c & 15];
      }
    }
  };
  for (const auto& [k, v] : req.query_list) {
    out += out.empty() ? '?' : '&';
    encode(k);
    out += '=';
    encode(v);
  }
  return out;
}

const std::string& Request::header(const std::string& name) const {
  static const std::string kEmpty;
  auto it = headers.find(name);
  return it == headers.end() ? kEmpty : it->second;
}

Response Response::Text(int status, std::string body) {
  Response r;
  r.status = status;
  r.content_type = "text/plain; charset=utf-8";
  r.body = std::move(body);
  return r;
}

Response Response::Json(std::string body, int status) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

namespace {
using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;
}  // namespace

// The session side of a streamed response, whatever its transport.
class StreamSink {
 public:
  virtual ~StreamSink() = default;
  virtual void Post(std::string chunk) = 0;
  virtual void PostClose() = 0;
};

// What a streamed response's owner holds. The session may end first (the
// client went away); then writes fail instead of reaching a dead socket.
class StreamHandle : public ResponseStream {
 public:
  StreamHandle(std::weak_ptr<StreamSink> session, size_t max_backlog)
      : session_(std::move(session)), max_backlog_(max_backlog) {}
  bool Write(std::string chunk) override;
  void Close() override;
  void OnClosed(std::function<void()> callback) override;

  // From the session, on its strand.
  void Ended();
  void Sent(size_t bytes) { backlog_ -= bytes; }

 private:
  std::weak_ptr<StreamSink> session_;
  size_t max_backlog_;
  std::atomic<size_t> backlog_{0};
  std::mutex mu_;
  bool ended_ = false;
  bool cut_ = false;  // fell too far behind
  std::function<void()> on_closed_;
};

struct Server::Impl {
  // First: sessions destroyed with the io_context below give their slots back here.
  std::mutex conn_mu;
  size_t open = 0;
  std::map<std::string, size_t> per_peer;

  net::io_context ioc;
  // With options.tls.enabled: the certificate, the clients asked for one,
  // and ALPN (h2 for gRPC, http/1.1).
  std::unique_ptr<net::ssl::context> ssl;
  tcp::acceptor acceptor{ioc};
  net::steady_timer accept_pause{ioc};
  Handler handler;
  ServerOptions options;
  std::vector<std::thread> threads;
  std::atomic<bool> stopped{false};
  int port = 0;
  // A descriptor kept in reserve: when the process runs out, it is given
  // up to accept and close the waiting connection, so that the backlog
  // does not keep the acceptor busy with an error it cannot clear.
  int reserve_fd = -1;

  // One connection's place in the counts, given back when it is dropped.
  class Slot {
   public:
    Slot(Impl* impl, std::string peer) : impl_(impl), peer_(std::move(peer)) {}
    ~Slot() {
      std::lock_guard<std::mutex> lock(impl_->conn_mu);
      --impl_->open;
      if (--impl_->per_peer[peer_] == 0) impl_->per_peer.erase(peer_);
    }
    const std::string& peer() const { return peer_; }

   private:
    Impl* impl_;
    std::string peer_;
  };
  // A slot for a connection from `peer`, or null (with the reason) when
  // it would go over a limit.
  std::shared_ptr<Slot> Admit(const std::string& peer, std::string* why);

  void Accept();
  void PauseAccepting();
  void Sniff(std::shared_ptr<tcp::socket> socket, std::shared_ptr<Slot> slot,
             std::shared_ptr<net::steady_timer> deadline, int tries);
  // A connection that opened with a TLS record: the handshake, then HTTP/1
  // or (ALPN h2) gRPC through a bridge.
  void Handshake(tcp::socket socket, std::shared_ptr<Slot> slot);
  // A plain connection where only TLS is served: told so, and closed.
  void RefusePlain(std::shared_ptr<tcp::socket> socket, bool http2);
};

template <class Transport>
class Session : public std::enable_shared_from_this<Session<Transport>>, public Responder, public StreamSink {
 public:
  Session(Transport stream, Server::Impl* server, std::shared_ptr<Server::Impl::Slot> slot)
      : stream_(std::move(stream)), server_(server), slot_(std::move(slot)) {}
  using std::enable_shared_from_this<Session<Transport>>::shared_from_this;
  using std::enable_shared_from_this<Session<Transport>>::weak_from_this;

  void Start() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->Read(); });
  }

  // Responder; called by the handler, on this session's strand.
  void Reply(Response response) override {
    answered_ = true;
    auto res = std::make_shared<bhttp::response<bhttp::string_body>>(static_cast<bhttp::status>(response.status), 11);
    res->set(bhttp::field::server, "corral");
    res->set(bhttp::field::content_type, response.content_type);
    for (auto& [name, value] : response.headers) res->set(name, value);
    res->body() = std::move(response.body);
    res->keep_alive(keep_alive_);
    res->prepare_payload();
    bhttp::async_write(stream_, *res, [self = shared_from_this(), res](beast::error_code ec, size_t) {
      if (ec || !res->keep_alive()) return self->Shutdown();
      self->Read();
    });
  }

  void SendFile(Response head, int fd, uint64_t size) override {
    answered_ = true;
    file_fd_ = fd;
    file_left_ = size;
    file_offset_ = 0;
    header_ = std::make_unique<bhttp::response<bhttp::empty_body>>(static_cast<bhttp::status>(head.status), 11);
    header_->set(bhttp::field::server, "corral");
    header_->set(bhttp::field::content_type, head.content_type);
    for (auto& [name, value] : head.headers) header_->set(name, value);
    header_->content_length(size);
    header_->keep_alive(keep_alive_);
    serializer_ = std::make_unique<bhttp::response_serializer<bhttp::empty_body>>(*header_);
    beast::get_lowest_layer(stream_).expires_after(Millis(server_->options.limits.idle_timeout));
    bhttp::async_write_header(stream_, *serializer_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->EndFile(false);
      self->WriteFileChunk();
    });
  }

  std::shared_ptr<ResponseStream> Stream(int status, std::string content_type,
                                         std::vector<std::pair<std::string, std::string>> headers) override {
    answered_ = true;
    streaming_ = true;
    handle_ = std::make_shared<StreamHandle>(weak_from_this(), server_->options.max_stream_backlog);
    header_ = std::make_unique<bhttp::response<bhttp::empty_body>>(static_cast<bhttp::status>(status), 11);
    header_->set(bhttp::field::server, "corral");
    header_->set(bhttp::field::content_type, content_type);
    header_->set(bhttp::field::cache_control, "no-cache");
    for (auto& [name, value] : headers) header_->set(name, value);
    header_->chunked(true);
    header_->keep_alive(true);
    serializer_ = std::make_unique<bhttp::response_serializer<bhttp::empty_body>>(*header_);
    beast::get_lowest_layer(stream_).expires_never();
    writing_ = true;
    bhttp::async_write_header(stream_, *serializer_, [self = shared_from_this()](beast::error_code ec, size_t) {
      self->writing_ = false;
      if (ec) return self->EndStream();
      self->WriteNext();
    });
    WatchForHangup();
    return handle_;
  }

  // From StreamHandle, any thread.
  void Post(std::string chunk) override {
    net::post(stream_.get_executor(), [self = shared_from_this(), chunk = std::move(chunk)]() mutable {
      if (self->ended_) return;
      self->chunks_.push_back(std::move(chunk));
      if (!self->writing_) self->WriteNext();
    });
  }
  void PostClose() override {
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      if (self->ended_) return;
      self->closing_ = true;
      if (!self->writing_) self->WriteNext();
    });
  }

  ~Session() override {
    if (handle_) handle_->Ended();
    if (file_fd_ >= 0) ::close(file_fd_);
  }

 private:
  void Read() {
    if (server_->stopped) return Shutdown();
    parser_.emplace();
    parser_->body_limit(server_->options.limits.max_body_bytes);
    parser_->header_limit(static_cast<uint32_t>(server_->options.limits.max_header_bytes));
    // The first request must come within the request timeout; later ones
    // within the idle timeout of the last answer.
    beast::get_lowest_layer(stream_).expires_after(
        Millis(requests_ == 0 ? server_->options.limits.request_timeout : server_->options.limits.idle_timeout));
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    keep_alive_ = false;
    if (ec == bhttp::error::end_of_stream || ec == net::error::eof || ec == beast::error::timeout ||
        ec == net::error::operation_aborted || ec == net::error::connection_reset) {
      return Shutdown();
    }
    if (ec == bhttp::error::body_limit) {
      return Reply(Response::Text(413, absl::StrCat("Request body is larger than the limit of ",
                                                    server_->options.limits.max_body_bytes, " bytes\n")));
    }
    if (ec == bhttp::error::header_limit) {
      return Reply(Response::Text(431, absl::StrCat("Request headers are larger than the limit of ",
                                                    server_->options.limits.max_header_bytes, " bytes\n")));
    }
    if (ec) return Reply(Response::Text(400, absl::StrCat("Malformed HTTP request: ", ec.message(), "\n")));

    auto& msg = parser_->get();
    ++requests_;
    if (auto refused = Refusal(msg, server_->options.limits)) return Reply(std::move(*refused));
    keep_alive_ = msg.keep_alive();
    Request req = ToRequest(msg);
    if (slot_) req.peer = slot_->peer();
    answered_ = false;
    server_->handler(req, *this);
    if (!answered_) Reply(Response::Text(500, "The handler gave no answer\n"));
  }

  void WriteFileChunk() {
    if (file_left_ == 0) return EndFile(true);
    if (!file_chunk_) file_chunk_ = std::make_unique<char[]>(kFileChunk);
    size_t want = static_cast<size_t>(std::min<uint64_t>(kFileChunk, file_left_));
    ssize_t n = ::pread(file_fd_, file_chunk_.get(), want, static_cast<off_t>(file_offset_));
    if (n <= 0) return EndFile(false);  // the file shrank: the response ends short, and the connection with it
    // A client that takes no chunk for the idle timeout is cut off.
    beast::get_lowest_layer(stream_).expires_after(Millis(server_->options.limits.idle_timeout));
    net::async_write(stream_, net::buffer(file_chunk_.get(), static_cast<size_t>(n)),
                     [self = shared_from_this()](beast::error_code ec, size_t written) {
                       if (ec) return self->EndFile(false);
                       self->file_offset_ += written;
                       self->file_left_ -= written;
                       self->WriteFileChunk();
                     });
  }

  void EndFile(bool complete) {
    if (file_fd_ >= 0) ::close(file_fd_);
    file_fd_ = -1;
    file_chunk_.reset();
    if (!complete || !keep_alive_) return Shutdown();
    Read();
  }

  void WatchForHangup() {
    // A subscriber sends nothing more; a read completing means it hung up.
    stream_.async_read_some(net::buffer(hangup_buf_), [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->EndStream();
      self->WatchForHangup();
    });
  }

  void WriteNext() {
    if (ended_) return;
    if (chunks_.empty()) {
      if (!closing_) return;
      writing_ = true;
      net::async_write(stream_, bhttp::make_chunk_last(),
                       [self = shared_from_this()](beast::error_code, size_t) { self->EndStream(); });
      return;
    }
    writing_ = true;
    net::async_write(stream_, bhttp::make_chunk(net::buffer(chunks_.front())),
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       self->writing_ = false;
                       if (!self->chunks_.empty()) {
                         self->handle_->Sent(self->chunks_.front().size());
                         self->chunks_.pop_front();
                       }
                       if (ec || self->ended_) {
                         self->EndStream();
                         self->chunks_.clear();
                         return;
                       }
                       self->WriteNext();
                     });
  }

  void EndStream() {
    if (ended_) return;
    ended_ = true;
    // A write in flight still reads the front chunk; its handler clears.
    if (!writing_) chunks_.clear();
    if (handle_) handle_->Ended();
    Shutdown();
  }

  void Shutdown() {
    if constexpr (std::is_same_v<Transport, TlsStream>) {
      // close_notify, then the socket; a peer that never answers has a
      // moment, not forever. With a read or write of its own in flight (a
      // stream's hang-up watch, a chunk going out) the socket is closed
      // at once instead: the TLS stream takes no second operation then.
      if (shutting_down_) return;
      shutting_down_ = true;
      if (streaming_ || writing_ || file_fd_ >= 0) {
        beast::error_code ignored;
        beast::get_lowest_layer(stream_).socket().close(ignored);
        return;
      }
      beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(2));
      stream_.async_shutdown([self = shared_from_this()](beast::error_code) {
        beast::error_code ignored;
        beast::get_lowest_layer(self->stream_).socket().close(ignored);
      });
    } else {
      beast::error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
      stream_.socket().close(ignored);
    }
  }

  Transport stream_;
  bool shutting_down_ = false;
  Server::Impl* server_;
  std::shared_ptr<Server::Impl::Slot> slot_;
  uint64_t requests_ = 0;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  bool keep_alive_ = false;
  bool answered_ = false;
  // Streaming state, on the strand.
  bool streaming_ = false;
  bool writing_ = false;
  bool closing_ = false;
  bool ended_ = false;
  std::deque<std::string> chunks_;
  std::shared_ptr<StreamHandle> handle_;
  std::unique_ptr<bhttp::response<bhttp::empty_body>> header_;
  std::unique_ptr<bhttp::response_serializer<bhttp::empty_body>> serializer_;
  char hangup_buf_[512];
  // A file being sent (SendFile), a chunk at a time.
  static constexpr size_t kFileChunk = 64 << 10;
  int file_fd_ = -1;
  uint64_t file_offset_ = 0;
  uint64_t file_left_ = 0;
  std::unique_ptr<char[]> file_chunk_;
};

bool StreamHandle::Write(std::string chunk) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (ended_ || cut_) return false;
    // Once: later writes fail quietly until the session ends.
    cut_ = backlog_ + chunk.size() > max_backlog_;
  }
  if (cut_) {
    CORRAL_LOG(WARNING) << "HTTP stream fell more than " << max_backlog_ << " bytes behind; closing it";
    Close();
    return false;
  }
  auto session = session_.lock();
  if (!session) return false;
  backlog_ += chunk.size();
  session->Post(std::move(chunk));
  return true;
}

void StreamHandle::Close() {
  if (auto session = session_.lock()) session->PostClose();
}

void StreamHandle::OnClosed(std::function<void()> callback) {
  std::unique_lock<std::mutex> lock(mu_);
  if (ended_) {
    lock.unlock();
    callback();
    return;
  }
  on_closed_ = std::move(callback);
}

void StreamHandle::Ended() {
  std::function<void()> callback;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (ended_) return;
    ended_ = true;
    callback = std::move(on_closed_);
  }
  if (callback) callback();
}

std::shared_ptr<Server::Impl::Slot> Server::Impl::Admit(const std::string& peer, std::string* why) {
  std::lock_guard<std::mutex> lock(conn_mu);
  if (open >= options.max_connections) {
    *why = absl::StrCat("the server holds ", open, " connections, its limit");
    return nullptr;
  }
  size_t& from_peer = per_peer[peer];
  if (from_peer >= options.limits.max_connections_per_peer) {
    *why = absl::StrCat(peer, " has ", from_peer, " connections open, the limit per peer");
    if (from_peer == 0) per_peer.erase(peer);
    return nullptr;
  }
  ++open;
  ++from_peer;
  return std::make_shared<Slot>(this, peer);
}

void Server::Impl::PauseAccepting() {
  accept_pause.expires_after(std::chrono::milliseconds(50));
  accept_pause.async_wait([this](beast::error_code ec) {
    if (!ec && !stopped) Accept();
  });
}

void Server::Impl::Accept() {
  acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (stopped) return;
    if (ec) {
      if (ec == net::error::no_descriptors || ec.value() == ENFILE) {
        // Out of descriptors: shed the connection waiting in the backlog
        // (the reserve pays for it), and give the others a moment to close.
        CORRAL_LOG(ERROR) << "Out of file descriptors; refusing connections for now";
        if (reserve_fd >= 0) {
          ::close(reserve_fd);
          int fd = ::accept4(acceptor.native_handle(), nullptr, nullptr, SOCK_CLOEXEC);
          if (fd >= 0) ::close(fd);
          reserve_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        }
      } else if (ec != net::error::operation_aborted) {
        CORRAL_LOG(WARNING) << "Cannot accept a connection: " << ec.message();
      }
      return PauseAccepting();
    }
    beast::error_code peer_ec;
    auto remote = socket.remote_endpoint(peer_ec);
    std::string peer = peer_ec ? "unknown" : remote.address().to_string();
    std::string why;
    auto slot = Admit(peer, &why);
    if (!slot) {
      CORRAL_LOG(WARNING) << "Refusing a connection from " << peer << ": " << why;
      beast::error_code ignored;
      socket.close(ignored);
      return Accept();
    }
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    // Processes the daemon starts must not inherit its connections.
    ::fcntl(socket.native_handle(), F_SETFD, FD_CLOEXEC);
    if (options.on_http2 || ssl) {
      auto sock = std::make_shared<tcp::socket>(std::move(socket));
      // A connection that sends nothing at all is closed at the deadline.
      auto deadline = std::make_shared<net::steady_timer>(sock->get_executor());
      deadline->expires_after(Millis(options.limits.request_timeout));
      deadline->async_wait([sock](beast::error_code e) {
        if (e) return;  // cancelled: it spoke in time
        beast::error_code ignore;
        sock->close(ignore);
      });
      Sniff(std::move(sock), std::move(slot), std::move(deadline), 0);
    } else {
      std::make_shared<Session<PlainStream>>(PlainStream(std::move(socket)), this, std::move(slot))->Start();
    }
    Accept();
  });
}

// An HTTP/2 connection that arrived over TLS, handed to gRPC (which takes
// only plain descriptors) as one end of a socket pair: the bridge moves
// bytes between the TLS stream and the other end, on the stream's strand,
// one read in flight each way. gRPC gets its end once the client's first
// bytes are in it, as with a plain connection.
class Http2Bridge : public std::enable_shared_from_this<Http2Bridge> {
 public:
  Http2Bridge(TlsStream tls, std::shared_ptr<Server::Impl::Slot> slot)
      : tls_(std::move(tls)), plain_(tls_.get_executor()), slot_(std::move(slot)) {}

  // Hands gRPC's end of the pair to `adopt` once it holds the client's
  // first bytes; on the TLS stream's strand. A failure drops the
  // connection.
  void Start(std::function<void(int fd)> adopt) {
    int fds[2];
    // Non-blocking, as gRPC takes every descriptor to be.
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) != 0) {
      CORRAL_LOG(WARNING) << "Cannot bridge a TLS connection to gRPC: socketpair: " << std::strerror(errno);
      return Close();
    }
    beast::error_code ec;
    plain_.assign(net::local::stream_protocol(), fds[0], ec);
    if (ec) {
      ::close(fds[0]);
      ::close(fds[1]);
      return Close();
    }
    grpc_end_ = fds[1];
    adopt_ = std::move(adopt);
    beast::get_lowest_layer(tls_).expires_never();  // gRPC keeps its own time
    FromClient();
    ToClient();
  }

  ~Http2Bridge() {
    if (grpc_end_ >= 0) ::close(grpc_end_);  // never handed over
  }

 private:
  void FromClient() {
    tls_.async_read_some(net::buffer(in_), [self = shared_from_this()](beast::error_code ec, size_t n) {
      if (ec) return self->Close();
      net::async_write(self->plain_, net::buffer(self->in_, n), [self](beast::error_code ec2, size_t) {
        if (ec2) return self->Close();
        if (self->grpc_end_ >= 0) {
          int fd = std::exchange(self->grpc_end_, -1);
          std::exchange(self->adopt_, nullptr)(fd);
        }
        self->FromClient();
      });
    });
  }
  void ToClient() {
    plain_.async_read_some(net::buffer(out_), [self = shared_from_this()](beast::error_code ec, size_t n) {
      if (ec) return self->Close();
      net::async_write(self->tls_, net::buffer(self->out_, n), [self](beast::error_code ec2, size_t) {
        if (ec2) return self->Close();
        self->ToClient();
      });
    });
  }
  void Close() {
    beast::error_code ignored;
    plain_.close(ignored);
    beast::get_lowest_layer(tls_).socket().close(ignored);
  }

  TlsStream tls_;
  net::local::stream_protocol::socket plain_;
  int grpc_end_ = -1;  // until handed to adopt_
  std::function<void(int fd)> adopt_;
  std::shared_ptr<Server::Impl::Slot> slot_;
  char in_[32 << 10];
  char out_[32 << 10];
};

// Tells TLS, HTTP/2 (gRPC) and HTTP/1 apart by the first bytes, without
// consuming them.
void Server::Impl::Sniff(std::shared_ptr<tcp::socket> socket, std::shared_ptr<Slot> slot,
                         std::shared_ptr<net::steady_timer> deadline, int tries) {
  socket->async_wait(tcp::socket::wait_read, [this, socket, slot, deadline, tries](beast::error_code ec) {
    if (ec || stopped || !socket->is_open()) return;
    char head[3];
    ssize_t n = ::recv(socket->native_handle(), head, sizeof head, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return;  // closed: drop it
    // A TLS record starts with its type, 22 for a handshake.
    const bool tls = n >= 1 && head[0] == 0x16;
    if (!tls && n < static_cast<ssize_t>(sizeof head) && tries < 20) return Sniff(socket, slot, deadline, tries + 1);
    deadline->cancel();
    const bool http2 = n == static_cast<ssize_t>(sizeof head) && absl::string_view(head, 3) == "PRI";
    if (tls && ssl) return Handshake(std::move(*socket), slot);
    if (ssl && !options.tls.support_downgrade) return RefusePlain(socket, http2);
    if (http2 && options.on_http2) {
      beast::error_code release_ec;
      int fd = socket->release(release_ec);
      if (!release_ec) options.on_http2(fd, slot->peer());
      return;
    }
    // The session's own timeout takes over from here.
    std::make_shared<Session<PlainStream>>(PlainStream(std::move(*socket)), this, slot)->Start();
  });
}

void Server::Impl::RefusePlain(std::shared_ptr<tcp::socket> socket, bool http2) {
  if (http2) {  // a plain gRPC client: nothing it would read
    beast::error_code ignored;
    socket->close(ignored);
    return;
  }
  static const std::string kRefusal =
      "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n"
      "Content-Length: 45\r\n\r\nThis server takes only TLS (https) requests.\n";
  net::async_write(*socket, net::buffer(kRefusal), [socket](beast::error_code, size_t) {
    beast::error_code ignored;
    socket->shutdown(tcp::socket::shutdown_both, ignored);
    socket->close(ignored);
  });
}

void Server::Impl::Handshake(tcp::socket socket, std::shared_ptr<Slot> slot) {
  auto stream = std::make_shared<TlsStream>(PlainStream(std::move(socket)), *ssl);
  if (options.tls.require_cert && !options.tls.require_cert_of_local_peers) {
    // A peer on this machine (its local and remote addresses agree, or it
    // came over loopback) is asked for a certificate but not refused
    // without one.
    beast::error_code e1, e2;
    auto& sock = beast::get_lowest_layer(*stream).socket();
    auto local = sock.local_endpoint(e1).address();
    auto remote = sock.remote_endpoint(e2).address();
    if (!e1 && !e2 && (local == remote || remote.is_loopback())) {
      ::SSL_set_verify(stream->native_handle(), SSL_VERIFY_PEER, nullptr);
    }
  }
  beast::get_lowest_layer(*stream).expires_after(Millis(options.limits.request_timeout));
  stream->async_handshake(net::ssl::stream_base::server, [this, stream, slot](beast::error_code ec) {
    if (ec) {
      CORRAL_LOG(INFO) << "TLS handshake with " << slot->peer() << " failed: " << ec.message();
      beast::error_code ignored;
      beast::get_lowest_layer(*stream).socket().close(ignored);
      return;
    }
    const unsigned char* proto = nullptr;
    unsigned int len = 0;
    ::SSL_get0_alpn_selected(stream->native_handle(), &proto, &len);
    if (absl::string_view(reinterpret_cast<const char*>(proto), len) == "h2" && options.on_http2) {
      auto bridge = std::make_shared<Http2Bridge>(std::move(*stream), slot);
      bridge->Start([this, peer = slot->peer()](int fd) { options.on_http2(fd, peer); });
      return;
    }
    std::make_shared<Session<TlsStream>>(std::move(*stream), this, slot)->Start();
  });
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

namespace {

// ALPN: h2 where gRPC is served, else (and for clients that offer only it)
// http/1.1.
int SelectProtocol(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen,
                   void* arg) {
  static const unsigned char kBoth[] = "\x02h2\x08http/1.1";
  static const unsigned char kHttp1[] = "\x08http/1.1";
  const bool http2 = arg != nullptr;
  unsigned char* chosen = nullptr;
  int got = ::SSL_select_next_proto(&chosen, outlen, http2 ? kBoth : kHttp1,
                                    static_cast<unsigned int>(http2 ? sizeof kBoth - 1 : sizeof kHttp1 - 1), in, inlen);
  if (got != OPENSSL_NPN_NEGOTIATED) return SSL_TLSEXT_ERR_NOACK;
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

absl::StatusOr<std::unique_ptr<net::ssl::context>> MakeTlsContext(const tls::TlsOptions& o, bool http2) {
  if (absl::Status st = tls::ValidateServer(o); !st.ok()) return st;
  auto ctx = std::make_unique<net::ssl::context>(net::ssl::context::tls_server);
  beast::error_code ec;
  ctx->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 | net::ssl::context::no_sslv3 |
                       net::ssl::context::no_tlsv1 | net::ssl::context::no_tlsv1_1,
                   ec);
  auto failed = [&](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", ec.message()));
  };
  if (ctx->use_certificate_chain_file(o.cert_file, ec); ec) return failed("--ssl_cert_file " + o.cert_file);
  if (ctx->use_private_key_file(o.key_file, net::ssl::context::pem, ec);
      ec || ::SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
    if (ec && !absl::StrContains(ec.message(), "mismatch")) return failed("--ssl_key_file " + o.key_file);
    return absl::InvalidArgumentError(
        absl::StrCat("--ssl_key_file ", o.key_file, " is not the key of --ssl_cert_file ", o.cert_file));
  }
  if (o.verify_cert || o.require_cert) {
    if (!o.ca_file.empty()) {
      if (ctx->load_verify_file(o.ca_file, ec); ec) return failed("--ssl_ca_file " + o.ca_file);
    }
    if (!o.ca_dir.empty()) {
      if (ctx->add_verify_path(o.ca_dir, ec); ec) return failed("--ssl_ca_dir " + o.ca_dir);
    }
    if (o.ca_file.empty() && o.ca_dir.empty()) ctx->set_default_verify_paths(ec);
    ctx->set_verify_mode(
        o.require_cert ? net::ssl::verify_peer | net::ssl::verify_fail_if_no_peer_cert : net::ssl::verify_peer, ec);
  } else {
    ctx->set_verify_mode(net::ssl::verify_none, ec);
  }
  // Any non-null argument means "h2 too".
  ::SSL_CTX_set_alpn_select_cb(ctx->native_handle(), SelectProtocol,
                               http2 ? reinterpret_cast<void*>(ctx.get()) : nullptr);
  return ctx;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Start(const std::string& host, int port, Handler handler,
                                                      ServerOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->handler = std::move(handler);
  impl->options = std::move(options);
  if (impl->options.tls.enabled) {
    auto ctx = MakeTlsContext(impl->options.tls, static_cast<bool>(impl->options.on_http2));
    if (!ctx.ok()) return ctx.status();
    impl->ssl = std::move(*ctx);
  }
  beast::error_code ec;
  auto address = net::ip::make_address(host == "localhost" ? "127.0.0.1" : host, ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("'", host, "' is not an IP address: ", ec.message()));
  tcp::endpoint endpoint(address, static_cast<unsigned short>(port));
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) ::fcntl(impl->acceptor.native_handle(), F_SETFD, FD_CLOEXEC);
  if (!ec) impl->acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(endpoint, ec);
  if (!ec) impl->acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) { return absl::UnavailableError(absl::StrCat("cannot listen on ", host, ":", port, ": ", ec.message())); }
  impl->port = impl->acceptor.local_endpoint().port();
  if (impl->options.max_connections == 0) {
    struct rlimit limit {};
    uint64_t files = ::getrlimit(RLIMIT_NOFILE, &limit) == 0 ? limit.rlim_cur : 1024;
    impl->options.max_connections = std::max<uint64_t>(16, files / 4 * 3);
  }
  // No one address may take more than a quarter of all connections.
  impl->options.limits.max_connections_per_peer =
      std::min(impl->options.limits.max_connections_per_peer, std::max<size_t>(1, impl->options.max_connections / 4));
  impl->reserve_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  impl->Accept();
  Impl* raw = impl.get();
  for (int i = 0; i < std::max(1, raw->options.threads); ++i) {
    raw->threads.emplace_back([raw] { raw->ioc.run(); });
  }
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

int Server::port() const { return impl_->port; }

size_t Server::connections() const {
  std::lock_guard<std::mutex> lock(impl_->conn_mu);
  return impl_->open;
}

void Server::Stop() {
  if (!impl_ || impl_->stopped.exchange(true)) return;
  net::post(impl_->ioc, [impl = impl_.get()] {
    beast::error_code ignored;
    impl->acceptor.close(ignored);
    impl->accept_pause.cancel();
  });
  impl_->ioc.stop();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
}

Server::~Server() {
  Stop();
  int reserve = impl_ ? impl_->reserve_fd : -1;
  impl_.reset();  // destroys pending handlers and with them the sessions
  if (reserve >= 0) ::close(reserve);
}

}  // namespace corral::http
