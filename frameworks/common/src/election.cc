#include "corral/framework/election.h"

#include <time.h>

#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <mutex>

#include "corral/common/logging.h"
#include "corral/framework/json.h"
#include "corral/http/server.h"

namespace corral::framework {

namespace {

// The request header a standby adds to what it proxies: a standby that gets
// a request already proxied (it and another both think the other leads,
// for a moment) answers 503 instead of sending it round again.
constexpr char kViaHeader[] = "X-Corral-Proxied-By";

bool HopByHop(const std::string& lower) {
  static const char* const kHeaders[] = {"connection",          "keep-alive", "proxy-authenticate",
                                         "proxy-authorization", "te",         "trailer",
                                         "transfer-encoding",   "upgrade",    "host",
                                         "content-length",      "expect"};
  for (const char* h : kHeaders)
    if (lower == h) return true;
  return false;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The decoded path encoded again for the leader's URL.
std::string EncodePath(const std::string& path) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : path) {
    if (std::isalnum(c) || std::strchr("-._~/!$&'()*+,;=:@", c) != nullptr) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

struct Proxied {
  http::Response response;
};

size_t OnBody(char* data, size_t size, size_t n, void* p) {
  static_cast<Proxied*>(p)->response.body.append(data, size * n);
  return size * n;
}

size_t OnHeader(char* data, size_t size, size_t n, void* p) {
  auto* out = static_cast<Proxied*>(p);
  std::string line(data, size * n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  if (line.rfind("HTTP/", 0) == 0) {  // a status line: a new response (after a 100 Continue)
    out->response.headers.clear();
    return size * n;
  }
  size_t colon = line.find(':');
  if (colon == std::string::npos) return size * n;
  std::string name = line.substr(0, colon);
  std::string value = line.substr(colon + 1);
  while (!value.empty() && value.front() == ' ') value.erase(0, 1);
  std::string lower = Lower(name);
  if (!HopByHop(lower) && lower != "content-type") out->response.headers.emplace_back(name, value);
  return size * n;
}

class Standby {
 public:
  explicit Standby(const ElectionOptions& options) : options_(options) {}
  void SetLeader(const std::string& leader) {
    std::lock_guard<std::mutex> lock(mu_);
    leader_ = leader;
  }
  void SetSelf(const std::string& self) {
    std::lock_guard<std::mutex> lock(mu_);
    self_ = self;
  }
  void Handle(const http::Request& req, http::Responder& r) {
    using http::Response;
    std::string leader, self;
    {
      std::lock_guard<std::mutex> lock(mu_);
      leader = leader_;
      self = self_;
    }
    auto in = [&req](const std::vector<std::string>& paths) {
      return std::find(paths.begin(), paths.end(), req.path) != paths.end();
    };
    if (req.path == "/ping") return r.Reply(Response::Text(200, "pong\n"));
    if (in(options_.leader_paths) && req.method == "GET") {
      if (leader.empty()) return r.Reply(Response::Json("{\"message\":\"There is no leader\"}", 404));
      return r.Reply(Response::Json("{\"leader\":\"" + leader + "\"}"));
    }
    if (leader.empty() || !req.header(Lower(kViaHeader)).empty()) {
      Response res = Response::Json("{\"message\":\"Could not determine the current leader\"}", 503);
      res.headers.emplace_back("Retry-After", "1");
      return r.Reply(std::move(res));
    }
    if (in(options_.redirect_paths)) {
      Response res = Response::Text(307, "");
      res.headers.emplace_back("Location", "http://" + leader + req.path + http::QueryString(req));
      return r.Reply(std::move(res));
    }
    r.Reply(Proxy(leader, self, req));
  }

 private:
  http::Response Proxy(const std::string& leader, const std::string& self, const http::Request& req) {
    Proxied out;
    out.response.content_type.clear();
    std::string url = "http://" + leader + EncodePath(req.path) + http::QueryString(req);
    CURL* curl = curl_easy_init();
    if (curl == nullptr) return http::Response::Json(MessageJson("out of memory proxying to the leader"), 500);
    curl_slist* headers = nullptr;
    for (const auto& [name, value] : req.headers)
      if (!HopByHop(name)) headers = curl_slist_append(headers, (name + ": " + value).c_str());
    headers = curl_slist_append(headers, (std::string(kViaHeader) + ": " + self).c_str());
    headers = curl_slist_append(headers, "Expect:");
    char error[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.proxy_timeout * 1000));
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &out);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &out);
    if (req.method == "HEAD") {
      curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    } else if (req.method != "GET" || !req.body.empty()) {
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, req.body.data());
      curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
      curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    }
    CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    char* content_type = nullptr;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &content_type);
    if (content_type != nullptr) out.response.content_type = content_type;
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    if (rc != CURLE_OK) {
      std::string why = error[0] != 0 ? error : curl_easy_strerror(rc);
      CORRAL_LOG(WARNING) << options_.program << ": proxying " << req.method << " " << req.path << " to the leader at "
                          << leader << " failed: " << why;
      return http::Response::Json(MessageJson("the leader at " + leader + " did not answer: " + why), 502);
    }
    out.response.status = static_cast<int>(status);
    if (!options_.leader_header.empty()) out.response.headers.emplace_back(options_.leader_header, "http://" + leader);
    return std::move(out.response);
  }

  const ElectionOptions options_;
  std::mutex mu_;
  std::string self_;
  std::string leader_;
};

}  // namespace

absl::StatusOr<std::optional<Elected>> StandByUntilElected(const ElectionOptions& options, const sigset_t& stop) {
  auto url = zk::ParseUrl(options.zk);
  if (!url.ok()) return url.status();
  curl_global_init(CURL_GLOBAL_DEFAULT);  // before any thread uses curl
  Standby standby(options);
  // Proxied requests block an I/O thread until the leader answers.
  http::ServerOptions so;
  so.threads = 8;
  auto listening = http::Server::Start(
      options.http_address, options.http_port,
      [&standby](const http::Request& req, http::Responder& r) { standby.Handle(req, r); }, so);
  if (!listening.ok()) return listening.status();
  Elected out;
  out.http_port = (*listening)->port();
  out.self = options.http_address + ":" + std::to_string(out.http_port);
  standby.SetSelf(out.self);
  out.state_path = url->path + "/state";
  zk::Url election = *url;
  election.path += "/leader";
  auto detector =
      zk::LeaderDetector::StartForData(election, "member_", options.session_timeout,
                                       [&standby, self = out.self](const std::optional<std::string>& leader) {
                                         // Seen leading before the contender says so: not serving yet.
                                         standby.SetLeader(leader && *leader != self ? *leader : "");
                                       });
  auto elected = std::make_shared<std::atomic<bool>>(false);
  zk::LeaderContender::Callbacks callbacks;
  callbacks.elected = [elected] { *elected = true; };
  std::string program = options.program;
  callbacks.lost = [program](const std::string& why) {
    CORRAL_LOG(ERROR) << program << ": exiting: " << why;
    std::fflush(stderr);
    std::_Exit(1);
  };
  auto contender = zk::LeaderContender::Start(election, "member_", out.self, options.session_timeout, callbacks);
  if (!contender.ok()) return contender.status();
  out.contender = std::move(*contender);
  std::cout << options.program << ": standing by on http://" << out.self << " until elected" << std::endl;
  timespec tick{0, 100 * 1000 * 1000};
  while (!*elected) {
    int sig = sigtimedwait(&stop, nullptr, &tick);
    if (sig > 0) {
      CORRAL_LOG(INFO) << "Received signal " << sig << " while standing by; stopping";
      return std::optional<Elected>();
    }
  }
  // Free the port for the REST API; stop following the leader (this is it).
  (*listening)->Stop();
  detector.reset();
  CORRAL_LOG(INFO) << options.program << ": elected; leading as http://" << out.self;
  return std::optional<Elected>(std::move(out));
}

}  // namespace corral::framework
