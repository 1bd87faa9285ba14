#include "corral/local/local_cluster.h"

#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"

namespace corral {

absl::StatusOr<std::unique_ptr<LocalCluster>> LocalCluster::Start(LocalClusterOptions options) {
  std::unique_ptr<LocalCluster> c(new LocalCluster());
  c->options_ = options;
  if (options.work_dir.empty()) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "corral-local-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) return absl::InternalError("cannot create a temporary work directory");
    c->work_dir_ = tmpl;
    c->own_work_dir_ = !options.keep_work_dir;
  } else {
    c->work_dir_ = options.work_dir;
    std::error_code ec;
    std::filesystem::create_directories(c->work_dir_, ec);
  }
  auto master = MasterServer::Start(options.master, absl::StrCat(options.listen_host, ":", options.master_port));
  if (!master.ok()) return master.status();
  c->master_ = std::move(*master);
  for (int i = 0; i < options.agents; ++i) {
    auto added = c->AddAgent();
    if (!added.ok()) return added.status();
  }
  return c;
}

absl::StatusOr<size_t> LocalCluster::AddAgent(const std::string& resources, const std::string& hostname) {
  AgentOptions opts = options_.agent;
  if (!hostname.empty()) opts.hostname = hostname;
  size_t index = agents_.size();
  opts.master = master_->address();
  opts.work_dir = absl::StrCat(work_dir_, "/agent-", index);
  opts.resources = resources.empty() ? options_.agent_resources : resources;
  opts.ip = options_.listen_host;
  auto agent = AgentServer::Start(opts, absl::StrCat(options_.listen_host, ":0"));
  if (!agent.ok()) return agent.status();
  agents_.push_back(std::move(*agent));
  agent_resources_.push_back(opts.resources);
  agent_hostnames_.push_back(opts.hostname);
  return index;
}

absl::Status LocalCluster::WaitForAgents(double timeout_seconds) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    bool all = true;
    for (auto& a : agents_)
      if (a && !a->agent().registered()) all = false;
    if (all && master().GetState().agents_size() >= static_cast<int>(agents_.size())) return absl::OkStatus();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return absl::DeadlineExceededError("agents did not register in time");
}

absl::Status LocalCluster::RestartAgent(size_t i) {
  if (i >= agents_.size() || !agents_[i]) return absl::NotFoundError(absl::StrCat("no agent ", i));
  AgentOptions opts = options_.agent;
  opts.master = master_->address();
  opts.work_dir = absl::StrCat(work_dir_, "/agent-", i);
  opts.resources = agent_resources_[i];
  opts.hostname = agent_hostnames_[i];
  opts.ip = options_.listen_host;
  int port = agents_[i]->port();
  agents_[i]->agent().Abandon();
  agents_[i].reset();
  auto agent = AgentServer::Start(opts, absl::StrCat(options_.listen_host, ":", port));
  if (!agent.ok()) return agent.status();
  agents_[i] = std::move(*agent);
  return absl::OkStatus();
}

void LocalCluster::StopAgent(size_t i) {
  if (i < agents_.size() && agents_[i]) agents_[i]->Shutdown();
}

void LocalCluster::Shutdown() {
  for (auto& a : agents_)
    if (a) a->Shutdown();
  agents_.clear();
  if (master_) master_->Shutdown();
  master_.reset();
  if (own_work_dir_) {
    std::error_code ec;
    std::filesystem::remove_all(work_dir_, ec);
    own_work_dir_ = false;
  }
}

LocalCluster::~LocalCluster() { Shutdown(); }

}  // namespace corral
