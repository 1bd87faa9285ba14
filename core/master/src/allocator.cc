#include "corral/master/allocator.h"

#include <algorithm>

namespace corral {
namespace {

// Cap scalars of `r` by `cap` (names absent from cap are unlimited);
// `cap` is decremented by what is kept.
Resources CapScalars(const Resources& r, Quantities* cap) {
  // Which names are capped is decided up front: a cap used up to zero
  // disappears from `cap` but still applies to later items of that name.
  std::set<std::string> capped;
  for (const auto& [n, v] : cap->entries()) capped.insert(n);
  Resources out;
  for (const ResourceItem& item : r.items()) {
    if (!capped.count(item.name)) {
      out.Add(item);
      continue;
    }
    Milli left = cap->Get(item.name);
    if (item.kind == ResourceKind::kScalar) {
      ResourceItem kept = item;
      kept.scalar = std::min(item.scalar, left);
      if (kept.scalar > 0) {
        out.Add(kept);
        cap->Set(item.name, left - kept.scalar);
      }
    } else {
      Resources single;
      single.Add(item);
      Milli need = Quantities::Of(single).Get(item.name);
      if (need <= left) {
        out.Add(item);
        cap->Set(item.name, left - need);
      }
    }
  }
  return out;
}

}  // namespace

Allocator::Allocator(uint64_t seed) : rng_(seed ? seed : std::random_device{}()) {}

double Allocator::Share(const Quantities& q) const {
  double share = 0;
  for (const auto& [name, value] : q.entries()) {
    Milli total = cluster_total_.Get(name);
    if (total > 0) share = std::max(share, static_cast<double>(value) / static_cast<double>(total));
  }
  return share;
}

Allocator::RoleEntry& Allocator::Role(const std::string& name) { return roles_[name]; }

void Allocator::AddAgent(const std::string& agent_id, const Resources& total) {
  if (agent_index_.count(agent_id)) return;
  agent_index_[agent_id] = static_cast<int>(agents_.size());
  AgentEntry a;
  a.id = agent_id;
  a.total = total;
  a.available = total;
  agents_.push_back(std::move(a));
  cluster_total_ += Quantities::Of(total);
  order_dirty_ = true;
}

void Allocator::UpdateAgentTotal(const std::string& agent_id, const Resources& total) {
  auto it = agent_index_.find(agent_id);
  if (it == agent_index_.end()) return;
  AgentEntry& a = agents_[it->second];
  cluster_total_ -= Quantities::Of(a.total);
  cluster_total_ += Quantities::Of(total);
  a.total = total;
  a.available = total - a.allocated;
  order_dirty_ = true;
}

void Allocator::RemoveAgent(const std::string& agent_id) {
  auto it = agent_index_.find(agent_id);
  if (it == agent_index_.end()) return;
  AgentEntry& a = agents_[it->second];
  cluster_total_ -= Quantities::Of(a.total);
  a.removed = true;
  a.active = false;
  for (FrameworkEntry& f : frameworks_) f.filters.erase(it->second);
  agent_index_.erase(it);
  order_dirty_ = true;
  // Allocations on the agent are forgotten by the caller through Recover()
  // for each framework before removal; the slot stays so indices are stable.
}

void Allocator::SetAgentActive(const std::string& agent_id, bool active) {
  auto it = agent_index_.find(agent_id);
  if (it != agent_index_.end()) agents_[it->second].active = active;
}

void Allocator::AddFramework(const std::string& framework_id, const std::vector<std::string>& roles,
                             const std::set<std::string>& suppressed_roles, bool active) {
  auto it = framework_index_.find(framework_id);
  int idx;
  if (it != framework_index_.end()) {
    idx = it->second;
  } else {
    idx = static_cast<int>(frameworks_.size());
    framework_index_[framework_id] = idx;
    frameworks_.emplace_back();
  }
  FrameworkEntry& f = frameworks_[idx];
  // Leave old roles (re-add with new roles).
  for (const std::string& r : f.roles) {
    auto& set = Role(r).frameworks;
    for (auto sit = set.begin(); sit != set.end(); ++sit) {
      if (sit->second == idx) {
        set.erase(sit);
        break;
      }
    }
  }
  f.id = framework_id;
  f.roles = roles;
  f.suppressed = suppressed_roles;
  f.active = active;
  f.removed = false;
  for (const std::string& r : roles) {
    RoleEntry& re = Role(r);
    re.frameworks.insert({Share(f.allocated[r]), idx});
  }
  order_dirty_ = true;
}

void Allocator::RemoveFramework(const std::string& framework_id) {
  auto it = framework_index_.find(framework_id);
  if (it == framework_index_.end()) return;
  int idx = it->second;
  FrameworkEntry& f = frameworks_[idx];
  for (const std::string& r : f.roles) {
    auto& set = Role(r).frameworks;
    for (auto sit = set.begin(); sit != set.end(); ++sit) {
      if (sit->second == idx) {
        set.erase(sit);
        break;
      }
    }
  }
  f.removed = true;
  f.active = false;
  f.filters.clear();
  framework_index_.erase(it);
  order_dirty_ = true;
}

void Allocator::SetFrameworkActive(const std::string& framework_id, bool active) {
  auto it = framework_index_.find(framework_id);
  if (it != framework_index_.end()) frameworks_[it->second].active = active;
}

void Allocator::Suppress(const std::string& framework_id, const std::vector<std::string>& roles) {
  auto it = framework_index_.find(framework_id);
  if (it == framework_index_.end()) return;
  FrameworkEntry& f = frameworks_[it->second];
  for (const std::string& r : roles.empty() ? f.roles : roles) f.suppressed.insert(r);
}

void Allocator::Revive(const std::string& framework_id, const std::vector<std::string>& roles) {
  auto it = framework_index_.find(framework_id);
  if (it == framework_index_.end()) return;
  FrameworkEntry& f = frameworks_[it->second];
  for (const std::string& r : roles.empty() ? f.roles : roles) f.suppressed.erase(r);
  f.filters.clear();
}

void Allocator::SetWeight(const std::string& role, double weight) {
  Role(role).weight = weight > 0 ? weight : 1.0;
  order_dirty_ = true;
}

void Allocator::SetQuota(const std::string& role, const RoleQuota& quota) { Role(role).quota = quota; }

void Allocator::Account(int fw, const std::string& role, int agent, const Resources& r, bool add) {
  Quantities q = Quantities::Of(r);
  AgentEntry& a = agents_[agent];
  FrameworkEntry& f = frameworks_[fw];
  RoleEntry& re = Role(role);
  if (add) {
    a.allocated += r;
    a.available -= r;
    f.allocated[role] += q;
    re.allocated += q;
  } else {
    a.allocated -= r;
    a.available = a.total - a.allocated;
    f.allocated[role] -= q;
    re.allocated -= q;
  }
  if (!order_dirty_) Reposition(role, fw);
}

void Allocator::Reposition(const std::string& role, int fw) {
  RoleEntry& re = Role(role);
  if (re.in_order) {
    role_order_.erase({re.sorted_share, role});
    re.sorted_share = Share(re.allocated) / re.weight;
    role_order_.insert({re.sorted_share, role});
  }
  FrameworkEntry& f = frameworks_[fw];
  for (auto it = re.frameworks.begin(); it != re.frameworks.end(); ++it) {
    if (it->second == fw) {
      re.frameworks.erase(it);
      re.frameworks.insert({Share(f.allocated[role]), fw});
      break;
    }
  }
}

void Allocator::RebuildOrder() {
  role_order_.clear();
  for (auto& [name, re] : roles_) {
    std::set<std::pair<double, int>> fws;
    for (const auto& [share, fw] : re.frameworks) fws.insert({Share(frameworks_[fw].allocated[name]), fw});
    re.frameworks = std::move(fws);
    re.in_order = !re.frameworks.empty();
    if (re.in_order) {
      re.sorted_share = Share(re.allocated) / re.weight;
      role_order_.insert({re.sorted_share, name});
    }
  }
  order_dirty_ = false;
}

void Allocator::AddUsed(const std::string& framework_id, const std::string& role, const std::string& agent_id,
                        const Resources& resources) {
  auto fit = framework_index_.find(framework_id);
  auto ait = agent_index_.find(agent_id);
  if (ait == agent_index_.end()) return;
  if (fit == framework_index_.end()) {
    // Framework not yet resubscribed: track it inactive so its usage counts.
    AddFramework(framework_id, {role}, {}, false);
    fit = framework_index_.find(framework_id);
  }
  Account(fit->second, role, ait->second, resources, true);
}

void Allocator::Recover(const std::string& framework_id, const std::string& role, const std::string& agent_id,
                        const Resources& resources, double refuse_seconds, double now) {
  auto ait = agent_index_.find(agent_id);
  auto fit = framework_index_.find(framework_id);
  if (ait == agent_index_.end()) return;
  if (fit == framework_index_.end()) {
    agents_[ait->second].allocated -= resources;
    agents_[ait->second].available = agents_[ait->second].total - agents_[ait->second].allocated;
    Quantities q = Quantities::Of(resources);
    Role(role).allocated -= q;
    return;
  }
  Account(fit->second, role, ait->second, resources, false);
  if (refuse_seconds > 0 && !resources.Empty()) {
    Filter& filter = frameworks_[fit->second].filters[ait->second];
    filter.expires_at = now + std::min(refuse_seconds, 365.0 * 24 * 3600);
    filter.refused = resources;
  }
}

void Allocator::SetAgentAdmission(const std::string& framework_id, AgentAdmission admits) {
  auto it = framework_index_.find(framework_id);
  if (it != framework_index_.end()) frameworks_[it->second].admits = std::move(admits);
}

bool Allocator::Filtered(FrameworkEntry& f, int agent, const std::string& role, const Resources& r, double now) {
  if (f.admits && !f.admits(agents_[agent].id, role)) return true;
  auto it = f.filters.find(agent);
  if (it == f.filters.end()) return false;
  if (it->second.expires_at <= now) {
    f.filters.erase(it);
    return false;
  }
  // Offer again only if there is more than what was refused.
  return it->second.refused.Contains(r);
}

Quantities Allocator::UnsatisfiedGuarantees() const {
  Quantities need;
  for (const auto& [name, re] : roles_) {
    if (re.quota.guarantee.Empty()) continue;
    Quantities lack = re.quota.guarantee;
    lack -= re.allocated;
    need += lack;
  }
  return need;
}

std::vector<Allocation> Allocator::Allocate(double now) {
  std::vector<int> all;
  all.reserve(agents_.size());
  for (size_t i = 0; i < agents_.size(); ++i)
    if (!agents_[i].removed) all.push_back(static_cast<int>(i));
  return Run(now, std::move(all));
}

std::vector<Allocation> Allocator::Allocate(double now, const std::vector<std::string>& agents) {
  std::vector<int> idx;
  for (const std::string& id : agents) {
    auto it = agent_index_.find(id);
    if (it != agent_index_.end()) idx.push_back(it->second);
  }
  std::sort(idx.begin(), idx.end());
  idx.erase(std::unique(idx.begin(), idx.end()), idx.end());
  return Run(now, std::move(idx));
}

std::vector<Allocation> Allocator::Run(double now, std::vector<int> agents) {
  if (order_dirty_) RebuildOrder();
  std::shuffle(agents.begin(), agents.end(), rng_);
  std::vector<Allocation> out;

  auto eligible = [&](int fw, const std::string& role) {
    const FrameworkEntry& f = frameworks_[fw];
    return f.active && !f.removed && f.suppressed.count(role) == 0;
  };
  auto limit_headroom = [&](const RoleEntry& re) {
    Quantities cap = re.quota.limit;
    cap -= re.allocated;
    return cap;
  };
  auto offer = [&](int agent, int fw, const std::string& role, Resources r) {
    Account(fw, role, agent, r, true);
    out.push_back({frameworks_[fw].id, role, agents_[agent].id, std::move(r)});
  };

  // Candidate resources for (role, agent), capped by the role's limit.
  auto candidate = [&](int agent, const std::string& role, const RoleEntry& re) {
    const AgentEntry& a = agents_[agent];
    Resources avail = a.available.AllocatableTo(role);
    if (!re.quota.limit.Empty()) {
      // Quantities drops zero entries and CapScalars treats absent names as
      // unlimited, so items whose limit is used up are dropped here first.
      Quantities bounded = limit_headroom(re);
      Resources kept;
      for (const ResourceItem& item : avail.items()) {
        Milli lim = re.quota.limit.Get(item.name);
        if (lim > 0 && bounded.Get(item.name) <= 0) continue;
        kept.Add(item);
      }
      avail = CapScalars(kept, &bounded);
    }
    return avail;
  };

  // Stage 1: unmet guarantees.
  bool any_guarantee = false;
  for (const auto& [name, re] : roles_)
    if (!re.quota.guarantee.Empty()) {
      any_guarantee = true;
      break;
    }
  if (any_guarantee) {
    for (int agent : agents) {
      if (!agents_[agent].active) continue;
      for (auto& [name, re] : roles_) {
        if (re.quota.guarantee.Empty()) continue;
        Quantities lack = re.quota.guarantee;
        lack -= re.allocated;
        if (lack.Empty()) continue;
        for (const auto& [share, fw] : std::set<std::pair<double, int>>(re.frameworks)) {
          if (!eligible(fw, name)) continue;
          Resources avail = candidate(agent, name, re);
          // Reserved resources for the role always count toward it; cap only
          // the unreserved part by what the guarantee still lacks.
          Resources reserved = avail - avail.Unreserved();
          Quantities cap = lack;
          cap -= Quantities::Of(reserved);
          Resources r = reserved + CapScalars(avail.Unreserved(), &cap);
          if (r.Empty() || Filtered(frameworks_[fw], agent, name, r, now)) continue;
          offer(agent, fw, name, std::move(r));
          break;
        }
      }
    }
  }

  // Stage 2: fair share, keeping headroom for unmet guarantees.
  Quantities headroom_needed = any_guarantee ? UnsatisfiedGuarantees() : Quantities();
  Quantities unallocated;
  if (!headroom_needed.Empty()) {
    unallocated = cluster_total_;
    for (const auto& [name, re] : roles_) unallocated -= re.allocated;
  }
  for (int agent : agents) {
    AgentEntry& a = agents_[agent];
    if (!a.active || a.removed) continue;
    // Walk roles in share order. Allocating moves a role later in the order,
    // so resume from the key that followed it rather than from an iterator.
    for (auto it = role_order_.begin(); it != role_order_.end();) {
      const std::string name = it->second;
      auto next_it = std::next(it);
      std::optional<std::pair<double, std::string>> next_key;
      if (next_it != role_order_.end()) next_key = *next_it;
      auto advance = [&] { it = next_key ? role_order_.lower_bound(*next_key) : role_order_.end(); };
      if (a.available.Empty()) break;
      RoleEntry& re = roles_[name];
      bool guaranteed = !re.quota.guarantee.Empty();
      int chosen = -1;
      Resources chosen_r;
      for (const auto& [share, fw] : re.frameworks) {
        if (!eligible(fw, name)) continue;
        Resources r = candidate(agent, name, re);
        if (!guaranteed && !headroom_needed.Empty()) {
          // Only offer what leaves the unmet guarantees satisfiable.
          Quantities spare = unallocated;
          spare -= headroom_needed;
          Resources reserved = r - r.Unreserved();
          Resources unreserved = r.Unreserved();
          Quantities cap;
          for (const ResourceItem& item : unreserved.items()) {
            if (headroom_needed.Get(item.name) > 0) cap.Set(item.name, spare.Get(item.name));
          }
          Resources kept;
          for (const ResourceItem& item : unreserved.items()) {
            if (headroom_needed.Get(item.name) > 0 && cap.Get(item.name) <= 0) continue;
            kept.Add(item);
          }
          r = reserved + CapScalars(kept, &cap);
        }
        if (r.Empty() || Filtered(frameworks_[fw], agent, name, r, now)) continue;
        chosen = fw;
        chosen_r = std::move(r);
        break;
      }
      if (chosen >= 0) {
        if (!headroom_needed.Empty()) unallocated -= Quantities::Of(chosen_r.Unreserved());
        offer(agent, chosen, name, std::move(chosen_r));
      }
      advance();
    }
  }
  return out;
}

Resources Allocator::AgentAllocated(const std::string& agent_id) const {
  auto it = agent_index_.find(agent_id);
  return it == agent_index_.end() ? Resources() : agents_[it->second].allocated;
}

Resources Allocator::AgentAvailable(const std::string& agent_id) const {
  auto it = agent_index_.find(agent_id);
  if (it == agent_index_.end()) return Resources();
  return agents_[it->second].available;
}

Quantities Allocator::RoleAllocated(const std::string& role) const {
  auto it = roles_.find(role);
  return it == roles_.end() ? Quantities() : it->second.allocated;
}

double Allocator::RoleShare(const std::string& role) const {
  auto it = roles_.find(role);
  return it == roles_.end() ? 0 : Share(it->second.allocated);
}

size_t Allocator::FilterCount(const std::string& framework_id) const {
  auto it = framework_index_.find(framework_id);
  return it == framework_index_.end() ? 0 : frameworks_[it->second].filters.size();
}

}  // namespace corral
