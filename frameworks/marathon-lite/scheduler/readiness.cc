#include "scheduler/readiness.h"

#include <curl/curl.h>

#include <memory>

namespace corral::marathon {
namespace {

size_t Discard(char*, size_t size, size_t n, void*) { return size * n; }

int Get(const std::string& url, double timeout) {
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) return 0;
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, Discard);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(timeout * 1000));
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  // Tasks serve their own certificates; readiness is not authentication.
  curl_easy_setopt(curl.get(), CURLOPT_SSL_VERIFYPEER, 0L);
  curl_easy_setopt(curl.get(), CURLOPT_SSL_VERIFYHOST, 0L);
  if (curl_easy_perform(curl.get()) != CURLE_OK) return 0;
  long status = 0;
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &status);
  return static_cast<int>(status);
}

}  // namespace

ReadinessChecker::ReadinessChecker(int threads) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Run(); });
}

ReadinessChecker::~ReadinessChecker() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    queue_.clear();
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void ReadinessChecker::Check(std::string url, double timeout_seconds, std::function<void(int)> done) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    queue_.push_back({std::move(url), timeout_seconds, std::move(done)});
  }
  cv_.notify_one();
}

void ReadinessChecker::Run() {
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    job.done(Get(job.url, job.timeout));
  }
}

}  // namespace corral::marathon
