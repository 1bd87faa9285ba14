// corral._testing: the in-process LocalCluster for tests of Python
// frameworks, and a reader of a master's state over its operator API.
// Kept apart from corral._native so that a framework never loads master or
// agent code unless its tests ask for a cluster.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "corral/binding/cluster.h"

namespace py = pybind11;

namespace corral {
namespace {

void Check(const binding::Result& r) {
  if (r.ok()) return;
  if (r.code == static_cast<int>(absl::StatusCode::kInvalidArgument)) throw py::value_error(r.message);
  if (r.code == static_cast<int>(absl::StatusCode::kOutOfRange)) throw py::index_error(r.message);
  throw std::runtime_error(r.message);
}

class PyLocalCluster {
 public:
  PyLocalCluster(int agents, const std::string& resources, const std::string& work_dir, bool keep_work_dir,
                 const std::string& launcher_dir, bool cgroups, double offer_timeout, double allocation_interval,
                 double agent_ping_timeout, int max_agent_ping_timeouts, const std::string& log_level) {
    binding::ClusterOptions o;
    o.agents = agents;
    o.resources = resources;
    o.work_dir = work_dir;
    o.keep_work_dir = keep_work_dir;
    o.launcher_dir = launcher_dir;
    o.cgroups = cgroups;
    o.offer_timeout = offer_timeout;
    o.allocation_interval = allocation_interval;
    o.agent_ping_timeout = agent_ping_timeout;
    o.max_agent_ping_timeouts = max_agent_ping_timeouts;
    o.log_level = log_level;
    binding::Result r;
    {
      py::gil_scoped_release nogil;
      r = cluster_.Start(o);
    }
    Check(r);
  }
  ~PyLocalCluster() { shutdown(); }

  binding::Cluster& get() {
    if (!cluster_.running()) throw std::runtime_error("the cluster was shut down");
    return cluster_;
  }
  std::string master() { return get().master(); }
  std::string work_dir() { return get().work_dir(); }
  int agent_count() { return get().agent_count(); }
  void wait_for_agents(double timeout) {
    binding::Cluster& c = get();
    binding::Result r;
    {
      py::gil_scoped_release nogil;
      r = c.WaitForAgents(timeout);
    }
    Check(r);
  }
  int add_agent(const std::string& resources) {
    binding::Cluster& c = get();
    binding::Result r;
    int index = -1;
    {
      py::gil_scoped_release nogil;
      r = c.AddAgent(resources, &index);
    }
    Check(r);
    return index;
  }
  void stop_agent(int i) {
    binding::Cluster& c = get();
    binding::Result r;
    {
      py::gil_scoped_release nogil;
      r = c.StopAgent(i);
    }
    Check(r);
  }
  py::bytes state() {
    binding::Cluster& c = get();
    std::string out;
    binding::Result r;
    {
      py::gil_scoped_release nogil;
      r = c.State(&out);
    }
    Check(r);
    return py::bytes(out);
  }
  void shutdown() {
    py::gil_scoped_release nogil;
    cluster_.Shutdown();
  }

 private:
  binding::Cluster cluster_;
};

py::bytes MasterState(const std::string& address, double timeout) {
  std::string out;
  binding::Result r;
  {
    py::gil_scoped_release nogil;
    r = binding::MasterState(address, timeout, &out);
  }
  if (!r.ok()) throw std::runtime_error(r.message);
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
