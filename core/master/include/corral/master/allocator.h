// Hierarchical DRF allocator: a pure component with no I/O and no threads.
//
// The master owns one and calls it from its event loop. The allocator decides
// which framework (in which of its roles) is offered which agent's free
// resources; it never talks to anyone. Two levels of dominant resource
// fairness: roles are ordered by weighted dominant share, and frameworks
// inside a role by their own dominant share in that role.
//
// Each cycle has two stages, as in Mesos:
//   1. roles below their quota guarantee are offered resources first, up to
//      what they still lack;
//   2. everyone else in fair-share order, while keeping back enough
//      unallocated resources to still satisfy unmet guarantees.
// No role is ever offered beyond its quota limit.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "corral/common/resources.h"

namespace corral {

struct Allocation {
  std::string framework_id;
  std::string role;
  std::string agent_id;
  Resources resources;
};

struct RoleQuota {
  Quantities guarantee;
  Quantities limit;  // empty = no limit; otherwise names absent are unlimited
};

class Allocator {
 public:
  explicit Allocator(uint64_t seed = 0);

  // --- agents ---
  // Adds an agent with all of `total` free; a reregistering agent's running
  // tasks are then charged to their frameworks with AddUsed.
  void AddAgent(const std::string& agent_id, const Resources& total);
  void RemoveAgent(const std::string& agent_id);
  // A new total (reservations made or undone); what is allocated stays so.
  void UpdateAgentTotal(const std::string& agent_id, const Resources& total);
  void SetAgentActive(const std::string& agent_id, bool active);
  bool HasAgent(const std::string& agent_id) const { return agent_index_.count(agent_id) > 0; }

  // --- frameworks ---
  void AddFramework(const std::string& framework_id, const std::vector<std::string>& roles,
                    const std::set<std::string>& suppressed_roles, bool active);
  void RemoveFramework(const std::string& framework_id);
  void SetFrameworkActive(const std::string& framework_id, bool active);
  // Roles empty = all of the framework's roles. Revive also clears filters.
  void Suppress(const std::string& framework_id, const std::vector<std::string>& roles);
  void Revive(const std::string& framework_id, const std::vector<std::string>& roles);
  // Which agents a framework may be offered, by role: its offer
  // constraints, judged by the master, which knows what the agents are.
  // Unset (the default), it may be offered any.
  using AgentAdmission = std::function<bool(const std::string& agent_id, const std::string& role)>;
  void SetAgentAdmission(const std::string& framework_id, AgentAdmission admits);

  // --- roles ---
  void SetWeight(const std::string& role, double weight);
  void SetQuota(const std::string& role, const RoleQuota& quota);

  // --- resources ---
  // Marks resources on an agent as used by a framework outside an offer
  // cycle (tasks found on a reregistering agent).
  void AddUsed(const std::string& framework_id, const std::string& role, const std::string& agent_id,
               const Resources& resources);
  // Gives back resources (declined/unused offer, finished task). With
  // refuse_seconds > 0 the framework is not offered these resources on this
  // agent again for that long (an offer filter).
  void Recover(const std::string& framework_id, const std::string& role, const std::string& agent_id,
               const Resources& resources, double refuse_seconds, double now);

  // Runs a cycle over every agent, or only over `agents`.
  std::vector<Allocation> Allocate(double now);
  std::vector<Allocation> Allocate(double now, const std::vector<std::string>& agents);

  // --- introspection (state endpoints, tests) ---
  Resources AgentAllocated(const std::string& agent_id) const;
  Resources AgentAvailable(const std::string& agent_id) const;
  Quantities RoleAllocated(const std::string& role) const;
  double RoleShare(const std::string& role) const;
  const Quantities& ClusterTotal() const { return cluster_total_; }
  size_t FilterCount(const std::string& framework_id) const;

 private:
  struct Filter {
    double expires_at;
    Resources refused;
  };
  struct AgentEntry {
    std::string id;
    Resources total;
    Resources allocated;
    Resources available;  // total - allocated, kept in step by Account()
    bool active = true;
    bool removed = false;
  };
  struct FrameworkEntry {
    std::string id;
    std::vector<std::string> roles;
    std::set<std::string> suppressed;
    bool active = true;
    bool removed = false;
    std::unordered_map<int, Filter> filters;      // by agent index
    std::map<std::string, Quantities> allocated;  // by role
    AgentAdmission admits;
  };
  struct RoleEntry {
    double weight = 1.0;
    RoleQuota quota;
    Quantities allocated;
    std::set<std::pair<double, int>> frameworks;  // (share, framework index)
    double sorted_share = 0;                      // key in role_order_
    bool in_order = false;
  };

  double Share(const Quantities& q) const;
  RoleEntry& Role(const std::string& name);
  void Reposition(const std::string& role, int fw);  // after allocation changes
  void RebuildOrder();
  void Account(int fw, const std::string& role, int agent, const Resources& r, bool add);
  // Not to be offered: an offer filter, or its offer constraints.
  bool Filtered(FrameworkEntry& f, int agent, const std::string& role, const Resources& r, double now);
  Quantities UnsatisfiedGuarantees() const;
  std::vector<Allocation> Run(double now, std::vector<int> agents);

  std::mt19937_64 rng_;
  std::vector<AgentEntry> agents_;
  std::unordered_map<std::string, int> agent_index_;
  std::vector<FrameworkEntry> frameworks_;
  std::unordered_map<std::string, int> framework_index_;
  std::map<std::string, RoleEntry> roles_;
  std::set<std::pair<double, std::string>> role_order_;  // (weighted share, role)
  Quantities cluster_total_;
  bool order_dirty_ = true;
};

}  // namespace corral
