// corral-check: one HTTP(S) or TCP check of a task, run by the agent as a
// process of its own (so that a hung check never holds up the agent, which
// kills it after the check's timeout).
//
//   corral-check http <url> [status ...]   healthy: the response status is one
//                                          of `status`, or 200-399 if none given
//   corral-check http-status <url>         a general check: prints the line
//                                          "corral-check: http-status N" for
//                                          any response
//   corral-check tcp <host> <port>         healthy: a connection is accepted
//
// Exits 0 when healthy (or answered), 1 when not (the reason on stderr), 2
// on bad usage.
// As in Mesos, HTTPS checks do not verify the task's certificate.
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace {

size_t Discard(char*, size_t size, size_t n, void*) { return size * n; }

int Unhealthy(const std::string& why) {
  std::fprintf(stderr, "corral-check: %s\n", why.c_str());
  return 1;
}

// The HTTP status of GET `url`, or -1 with the reason printed.
long HttpStatus(const std::string& url) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, Discard);
  curl_easy_setopt(curl.get(), CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_SSL_VERIFYPEER, 0L);
  curl_easy_setopt(curl.get(), CURLOPT_SSL_VERIFYHOST, 0L);
  CURLcode rc = curl_easy_perform(curl.get());
  if (rc != CURLE_OK) {
    Unhealthy(url + ": " + (error[0] ? error : curl_easy_strerror(rc)));
    return -1;
  }
  long status = 0;
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &status);
  return status;
}

int CheckHttp(const std::string& url, const std::vector<long>& statuses) {
  long status = HttpStatus(url);
  if (status < 0) return 1;
  bool ok = statuses.empty() ? (status >= 200 && status < 400) : false;
  for (long s : statuses) ok = ok || s == status;
  if (!ok) return Unhealthy(url + " answered HTTP status " + std::to_string(status));
  return 0;
}

int CheckTcp(const std::string& host, const std::string& port) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    return Unhealthy(host + ": " + ::gai_strerror(rc));
  }
  std::string why = "no address";
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd < 0) continue;
    bool connected = ::connect(fd, a->ai_addr, a->ai_addrlen) == 0;
    if (!connected) why = std::strerror(errno);
    ::close(fd);
    if (connected) {
      ::freeaddrinfo(found);
      return 0;
    }
  }
  ::freeaddrinfo(found);
  return Unhealthy("connecting to " + host + ":" + port + ": " + why);
}

}  // namespace

int main(int argc, char** argv) {
  std::string kind = argc > 1 ? argv[1] : "";
  if (kind == "http" && argc >= 3) {
    std::vector<long> statuses;
    for (int i = 3; i < argc; ++i) statuses.push_back(std::strtol(argv[i], nullptr, 10));
    return CheckHttp(argv[2], statuses);
  }
  if (kind == "http-status" && argc == 3) {
    long status = HttpStatus(argv[2]);
    if (status < 0) return 1;
    std::printf("corral-check: http-status %ld\n", status);
    return 0;
  }
  if (kind == "tcp" && argc == 4) return CheckTcp(argv[2], argv[3]);
  std::fprintf(stderr, "usage: corral-check http <url> [status ...] | http-status <url> | tcp <host> <port>\n");
  return 2;
}
