// corral._testing: the in-process LocalCluster for tests of Python
// frameworks, and a reader of a master's state over its operator API.
// Kept apart from corral._native so that a framework never loads master or
// agent code unless its tests ask for a cluster.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include <grpcpp/grpcpp.h>

#include "corral/common/logging.h"
#include "corral/local/local_cluster.h"
#include "corral/v1/internal.grpc.pb.h"

namespace py = pybind11;

namespace corral {
namespace {

[[noreturn]] void Raise(const absl::Status& s) {
  if (s.code() == absl::StatusCode::kInvalidArgument) throw py::value_error(std::string(s.message()));
  throw std::runtime_error(std::string(s.message()));
}

class PyLocalCluster {
 public:
  PyLocalCluster(int agents, const std::string& resources, const std::string& work_dir, bool keep_work_dir,
                 const std::string& launcher_dir, bool cgroups, double offer_timeout, double allocation_interval,
                 double agent_ping_timeout, int max_agent_ping_timeouts, const std::string& log_level) {
    if (agents < 0) throw py::value_error("agents: must be >= 0");
    LogLevel level;
    if (!ParseLogLevel(log_level, &level)) throw py::value_error("log_level: expected debug, info, warning or error");
    SetLogLevel(level);
    LocalClusterOptions o;
    o.agents = agents;
    if (!resources.empty()) o.agent_resources = resources;
    o.work_dir = work_dir;
    o.keep_work_dir = keep_work_dir;
    o.agent.launcher_dir = launcher_dir;
    o.agent.cgroups = cgroups;
    o.master.offer_timeout = offer_timeout;
    o.master.allocation_interval = allocation_interval;
    o.master.agent_ping_timeout = agent_ping_timeout;
    o.master.max_agent_ping_timeouts = max_agent_ping_timeouts;
    absl::StatusOr<std::unique_ptr<LocalCluster>> c;
    {
      py::gil_scoped_release nogil;
      c = LocalCluster::Start(o);
    }
    if (!c.ok()) Raise(c.status());
    cluster_ = std::move(*c);
  }
  ~PyLocalCluster() {
    py::gil_scoped_release nogil;
    cluster_.reset();
  }

  LocalCluster& get() {
    if (!cluster_) throw std::runtime_error("the cluster was shut down");
    return *cluster_;
  }
  std::string master() { return get().master_address(); }
  std::string work_dir() { return get().work_dir(); }
  size_t agent_count() { return get().agent_count(); }
  void wait_for_agents(double timeout) {
    LocalCluster& c = get();
    absl::Status s;
    {
      py::gil_scoped_release nogil;
      s = c.WaitForAgents(timeout);
    }
    if (!s.ok()) throw std::runtime_error(std::string(s.message()));
  }
  size_t add_agent(const std::string& resources) {
    LocalCluster& c = get();
    absl::StatusOr<size_t> i;
    {
      py::gil_scoped_release nogil;
      i = c.AddAgent(resources);
    }
    if (!i.ok()) Raise(i.status());
    return *i;
  }
  void stop_agent(size_t i) {
    LocalCluster& c = get();
    if (i >= c.agent_count()) throw py::index_error("agent index out of range");
    py::gil_scoped_release nogil;
    c.StopAgent(i);
  }
  py::bytes state() {
    LocalCluster& c = get();
    std::string out;
    {
      py::gil_scoped_release nogil;
      out = c.master().GetState().SerializeAsString();
    }
    return py::bytes(out);
  }
  void shutdown() {
    py::gil_scoped_release nogil;
    cluster_.reset();
  }

 private:
  std::unique_ptr<LocalCluster> cluster_;
};

// ClusterState of the master at `address`, read over gRPC.
py::bytes MasterState(const std::string& address, double timeout) {
  std::string out;
  grpc::Status st;
  {
    py::gil_scoped_release nogil;
    auto stub =
        v1::internal::OperatorService::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::milliseconds(static_cast<int64_t>(timeout * 1000)));
    v1::internal::ClusterState state;
    st = stub->GetState(&ctx, v1::internal::GetClusterState(), &state);
    if (st.ok()) out = state.SerializeAsString();
  }
  if (!st.ok()) throw std::runtime_error("cannot read the state of " + address + ": " + st.error_message());
  return py::bytes(out);
}

}  // namespace
}  // namespace corral

PYBIND11_MODULE(_testing, m) {
  using corral::PyLocalCluster;
  m.doc() = "Corral's in-process cluster; use corral.testing, not this module.";
  py::class_<PyLocalCluster>(m, "LocalCluster")
      .def(py::init<int, const std::string&, const std::string&, bool, const std::string&, bool, double, double, double,
                    int, const std::string&>(),
           py::arg("agents"), py::arg("resources"), py::arg("work_dir"), py::arg("keep_work_dir"),
           py::arg("launcher_dir"), py::arg("cgroups"), py::arg("offer_timeout"), py::arg("allocation_interval"),
           py::arg("agent_ping_timeout"), py::arg("max_agent_ping_timeouts"), py::arg("log_level"))
      .def("master", &PyLocalCluster::master)
      .def("work_dir", &PyLocalCluster::work_dir)
      .def("agent_count", &PyLocalCluster::agent_count)
      .def("wait_for_agents", &PyLocalCluster::wait_for_agents, py::arg("timeout"))
      .def("add_agent", &PyLocalCluster::add_agent, py::arg("resources"))
      .def("stop_agent", &PyLocalCluster::stop_agent, py::arg("index"))
      .def("state", &PyLocalCluster::state)
      .def("shutdown", &PyLocalCluster::shutdown);
  m.def("master_state", &corral::MasterState, py::arg("address"), py::arg("timeout"));
}
