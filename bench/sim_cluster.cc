// A master and N simulated agents in one process, for benchmarks of
// frameworks that run as their own process (bench/marathon_bench.py): the
// agents report every launched task running and every killed one killed,
// without starting processes.
//
//   sim_cluster --agents=10 --port=5050 --allocation_interval=0.05
//
// Prints "ready <host:port>" once every agent registered; stops at EOF on
// stdin or SIGTERM.
#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "corral/common/logging.h"
#include "corral/master/master_server.h"
#include "sim_agent.h"

ABSL_FLAG(int, agents, 10, "Simulated agents.");
ABSL_FLAG(int, port, 0, "Master port (0 picks one).");
ABSL_FLAG(double, allocation_interval, 0.05, "Seconds between allocation cycles.");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  corral::SetLogLevel(corral::LogLevel::kWarning);
  corral::MasterOptions options;
  options.allocation_interval = absl::GetFlag(FLAGS_allocation_interval);
  auto server = corral::MasterServer::Start(options, "127.0.0.1:" + std::to_string(absl::GetFlag(FLAGS_port)));
  if (!server.ok()) {
    std::cerr << "sim_cluster: " << server.status() << std::endl;
    return 1;
  }
  auto stub = corral::v1::internal::AgentService::NewStub(
      grpc::CreateChannel((*server)->address(), grpc::InsecureChannelCredentials()));
  const int n = absl::GetFlag(FLAGS_agents);
  std::vector<std::unique_ptr<corral::SimAgent>> agents;
  for (int i = 0; i < n; ++i) {
    agents.push_back(std::make_unique<corral::SimAgent>());
    agents.back()->Start(stub.get(), i);
  }
  for (int i = 0; i < 3000 && corral::g_registered < n; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (corral::g_registered < n) {
    std::cerr << "sim_cluster: only " << corral::g_registered << " of " << n << " agents registered" << std::endl;
    return 1;
  }
  std::cout << "ready " << (*server)->address() << std::endl;
  std::string line;
  while (std::getline(std::cin, line)) {}
  (*server)->Shutdown();
  std::_Exit(0);  // the agents' streams end with the process
}
