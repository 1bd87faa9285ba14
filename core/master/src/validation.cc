#include "corral/master/validation.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "corral/common/frameworks.h"

namespace corral::validation {
namespace {

using v1::scheduler::Call;

absl::Status Invalid(const std::string& msg) { return absl::InvalidArgumentError(msg); }

absl::Status ValidateId(const std::string& what, const std::string& value) {
  if (value.empty()) return Invalid(absl::StrCat("'", what, "' is empty"));
  if (value.size() > 1024) return Invalid(absl::StrCat("'", what, "' is longer than 1024 characters"));
  for (char c : value) {
    if (c == '/' || c == '\0' || std::iscntrl(static_cast<unsigned char>(c))) {
      return Invalid(absl::StrCat("'", what, "' contains an invalid character ('/' or control)"));
    }
  }
  if (value == "." || value == "..") return Invalid(absl::StrCat("'", what, "' must not be '.' or '..'"));
  return absl::OkStatus();
}

absl::Status ValidateDuration(const std::string& what, const v1::DurationInfo& d) {
  if (!d.has_nanoseconds()) return Invalid(absl::StrCat("'", what, ".nanoseconds' is missing"));
  if (d.nanoseconds() < 0) return Invalid(absl::StrCat("'", what, "' is negative"));
  return absl::OkStatus();
}

absl::Status ValidateCommand(const std::string& where, const v1::CommandInfo& cmd) {
  if (cmd.shell()) {
    if (!cmd.has_value() || cmd.value().empty()) {
      return Invalid(absl::StrCat(where, ": 'command.value' is required for a shell command"));
    }
  } else if (!cmd.has_value() || cmd.value().empty()) {
    return Invalid(absl::StrCat(where, ": 'command.value' (the executable) is required when 'command.shell' is false"));
  }
  for (const auto& var : cmd.environment().variables()) {
    if (!var.has_name() || var.name().empty()) {
      return Invalid(absl::StrCat(where, ": an environment variable has no 'name'"));
    }
    if (var.type() == v1::Environment::Variable::SECRET) {
      return Invalid(absl::StrCat(where, ": environment variable '", var.name(), "' of type SECRET is not supported"));
    }
  }
  for (const auto& uri : cmd.uris()) {
    if (uri.value().empty()) return Invalid(absl::StrCat(where, ": a 'command.uris' entry has no 'value'"));
  }
  return absl::OkStatus();
}

bool Finite(double v) { return std::isfinite(v) && v >= 0; }

// A path with no ".." part: it stays below where it is joined.
bool StaysBelow(const std::string& path) {
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part == "..") return false;
  }
  return true;
}

absl::Status ValidateVolume(const std::string& where, int i, const v1::Volume& v) {
  const std::string at = absl::StrCat(where, ": 'container.volumes[", i, "]");
  auto unsupported = [&](absl::string_view field, absl::string_view why) {
    return Invalid(absl::StrCat(at, ".", field, "' is not supported: ", why));
  };
  if (v.container_path().empty()) return Invalid(absl::StrCat(at, ".container_path' is required"));
  if (v.container_path()[0] != '/' && !StaysBelow(v.container_path())) {
    return Invalid(absl::StrCat(at, ".container_path' must not leave the sandbox ('..')"));
  }
  if (v.has_image()) return unsupported("image", "Corral has no container images");
  if (!v.has_source()) {
    if (v.host_path().empty() || v.host_path()[0] != '/') {
      return Invalid(absl::StrCat(at, ".host_path' must be an absolute path (or give 'source')"));
    }
    return absl::OkStatus();
  }
  switch (v.source().type()) {
    case v1::Volume::Source::HOST_PATH: {
      const auto& hp = v.source().host_path();
      if (hp.path().empty() || hp.path()[0] != '/') {
        return Invalid(absl::StrCat(at, ".source.host_path.path' must be an absolute path"));
      }
      if (hp.has_mount_propagation() && hp.mount_propagation().mode() == v1::MountPropagation::BIDIRECTIONAL) {
        return unsupported("source.host_path.mount_propagation", "mounts made in a task never reach the host");
      }
      return absl::OkStatus();
    }
    case v1::Volume::Source::SANDBOX_PATH: {
      const auto& sp = v.source().sandbox_path();
      if (sp.type() == v1::Volume::Source::SandboxPath::PARENT) {
        return unsupported("source.sandbox_path.type", "PARENT is for nested containers, which Corral does not make");
      }
      if (sp.type() != v1::Volume::Source::SandboxPath::SELF) {
        return Invalid(absl::StrCat(at, ".source.sandbox_path.type' must be SELF"));
      }
      if (sp.path().empty() || sp.path()[0] == '/' || !StaysBelow(sp.path())) {
        return Invalid(absl::StrCat(at, ".source.sandbox_path.path' must be a relative path inside the sandbox"));
      }
      return absl::OkStatus();
    }
    case v1::Volume::Source::DOCKER_VOLUME: return unsupported("source.docker_volume", "Corral has no volume drivers");
    case v1::Volume::Source::SECRET: return unsupported("source.secret", "Corral has no secret store");
    case v1::Volume::Source::CSI_VOLUME: return unsupported("source.csi_volume", "Corral has no CSI plugins");
    default: return Invalid(absl::StrCat(at, ".source.type' must be HOST_PATH or SANDBOX_PATH"));
  }
}

// A Mesos container without an image, whose volumes are bind mounts, is
// what Corral runs; anything more is refused by name, never run on the
// host as if it had not been asked for.
absl::Status ValidateContainer(const std::string& where, const v1::ContainerInfo& c) {
  auto unsupported = [&](absl::string_view field, absl::string_view why) {
    return Invalid(absl::StrCat(where, ": 'container.", field, "' is not supported: ", why));
  };
  if (c.type() == v1::ContainerInfo::DOCKER || c.has_docker()) {
    return unsupported("docker", "Corral agents have no Docker runtime; use a MESOS container without an image");
  }
  if (c.type() != v1::ContainerInfo::MESOS) return Invalid(absl::StrCat(where, ": 'container.type' must be MESOS"));
  if (c.mesos().has_image()) {
    return unsupported("mesos.image", "Corral runs tasks on the agent's own filesystem, without images");
  }
  for (int i = 0; i < c.volumes_size(); ++i) {
    if (auto s = ValidateVolume(where, i, c.volumes(i)); !s.ok()) return s;
  }
  if (c.network_infos_size() > 0) return unsupported("network_infos", "tasks share the agent's network");
  if (c.has_hostname()) return unsupported("hostname", "tasks share the agent's hostname");
  if (c.has_linux_info()) return unsupported("linux_info", "Corral sets no capabilities, seccomp or namespaces");
  if (c.has_rlimit_info()) return unsupported("rlimit_info", "Corral sets no resource limits of this kind");
  if (c.has_tty_info()) return unsupported("tty_info", "Corral attaches no terminal");
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateRole(const std::string& role) {
  if (role == "*") return absl::OkStatus();
  if (role.empty()) return Invalid("role is empty");
  if (role[0] == '-' || role == "." || role == "..") return Invalid(absl::StrCat("invalid role '", role, "'"));
  for (char c : role) {
    if (std::isspace(static_cast<unsigned char>(c)) || c == '\\' || std::iscntrl(static_cast<unsigned char>(c))) {
      return Invalid(absl::StrCat("invalid role '", role, "'"));
    }
  }
  return absl::OkStatus();
}

std::vector<std::string> FrameworkRoles(const v1::FrameworkInfo& info) {
  bool multi = false;
  for (const auto& c : info.capabilities()) {
    if (c.type() == v1::FrameworkInfo::Capability::MULTI_ROLE) multi = true;
  }
  if (multi && info.roles_size() > 0) return {info.roles().begin(), info.roles().end()};
  return {info.role()};
}

absl::Status ValidateCall(const Call& call) {
  if (!call.has_type() || call.type() == Call::UNKNOWN) return Invalid("'type' is missing or UNKNOWN");
  if (call.type() != Call::SUBSCRIBE) {
    if (!call.has_framework_id() || call.framework_id().value().empty()) {
      return Invalid(absl::StrCat("'framework_id' is required for ", Call::Type_Name(call.type())));
    }
  }
  auto need = [&](bool has, const char* field) -> absl::Status {
    if (!has) return Invalid(absl::StrCat("'", field, "' is required for ", Call::Type_Name(call.type())));
    return absl::OkStatus();
  };
  switch (call.type()) {
    case Call::SUBSCRIBE: return need(call.has_subscribe(), "subscribe");
    case Call::ACCEPT: {
      if (auto s = need(call.has_accept(), "accept"); !s.ok()) return s;
      if (call.accept().offer_ids_size() == 0) return Invalid("'accept.offer_ids' is empty");
      if (call.accept().has_filters() && !std::isfinite(call.accept().filters().refuse_seconds())) {
        return Invalid("'accept.filters.refuse_seconds' is not a finite number");
      }
      for (const auto& op : call.accept().operations()) {
        if (!op.has_type() || op.type() == v1::Offer::Operation::UNKNOWN) {
          return Invalid("an 'accept.operations' entry has no 'type'");
        }
      }
      return absl::OkStatus();
    }
    case Call::DECLINE:
      // Mesos takes a DECLINE that names no offer (it declines nothing).
      if (auto s = need(call.has_decline(), "decline"); !s.ok()) return s;
      if (call.decline().has_filters() && !std::isfinite(call.decline().filters().refuse_seconds())) {
        return Invalid("'decline.filters.refuse_seconds' is not a finite number");
      }
      return absl::OkStatus();
    case Call::KILL:
      if (auto s = need(call.has_kill(), "kill"); !s.ok()) return s;
      if (call.kill().task_id().value().empty()) return Invalid("'kill.task_id' is required");
      if (call.kill().has_kill_policy() && call.kill().kill_policy().has_grace_period()) {
        return ValidateDuration("kill.kill_policy.grace_period", call.kill().kill_policy().grace_period());
      }
      return absl::OkStatus();
    case Call::SHUTDOWN:
      if (auto s = need(call.has_shutdown(), "shutdown"); !s.ok()) return s;
      if (call.shutdown().executor_id().value().empty()) return Invalid("'shutdown.executor_id' is required");
      if (call.shutdown().agent_id().value().empty()) return Invalid("'shutdown.agent_id' is required");
      return absl::OkStatus();
    case Call::ACKNOWLEDGE:
      if (auto s = need(call.has_acknowledge(), "acknowledge"); !s.ok()) return s;
      if (call.acknowledge().agent_id().value().empty()) return Invalid("'acknowledge.agent_id' is required");
      if (call.acknowledge().task_id().value().empty()) return Invalid("'acknowledge.task_id' is required");
      if (call.acknowledge().uuid().size() != 16) return Invalid("'acknowledge.uuid' must be 16 bytes");
      return absl::OkStatus();
    case Call::RECONCILE:
      if (auto s = need(call.has_reconcile(), "reconcile"); !s.ok()) return s;
      for (const auto& t : call.reconcile().tasks()) {
        if (t.task_id().value().empty()) return Invalid("a 'reconcile.tasks' entry has no 'task_id'");
      }
      return absl::OkStatus();
    case Call::MESSAGE:
      if (auto s = need(call.has_message(), "message"); !s.ok()) return s;
      if (call.message().agent_id().value().empty()) return Invalid("'message.agent_id' is required");
      if (call.message().executor_id().value().empty()) return Invalid("'message.executor_id' is required");
      return absl::OkStatus();
    case Call::ACCEPT_INVERSE_OFFERS:
      if (!call.has_accept_inverse_offers() || call.accept_inverse_offers().inverse_offer_ids_size() == 0) {
        return Invalid("'accept_inverse_offers.inverse_offer_ids' must name at least one inverse offer");
      }
      return absl::OkStatus();
    case Call::DECLINE_INVERSE_OFFERS:
      if (!call.has_decline_inverse_offers() || call.decline_inverse_offers().inverse_offer_ids_size() == 0) {
        return Invalid("'decline_inverse_offers.inverse_offer_ids' must name at least one inverse offer");
      }
      return absl::OkStatus();
    case Call::REQUEST: return need(call.has_request(), "request");
    case Call::UPDATE_FRAMEWORK: {
      if (auto s = need(call.has_update_framework(), "update_framework"); !s.ok()) return s;
      const auto& update = call.update_framework();
      if (!update.has_framework_info()) return Invalid("'update_framework.framework_info' is required");
      if (update.framework_info().id().value() != call.framework_id().value()) {
        return Invalid("'update_framework.framework_info.id' must be the call's 'framework_id'");
      }
      return ValidateFrameworkInfo(update.framework_info(), update.suppressed_roles(), "update_framework");
    }
    case Call::TEARDOWN:
    case Call::REVIVE:
    case Call::SUPPRESS: return absl::OkStatus();
    default:
      return absl::UnimplementedError(absl::StrCat("call type ", Call::Type_Name(call.type()), " is not supported"));
  }
}

absl::Status ValidateSubscribe(const Call& call) {
  if (auto s = ValidateCall(call); !s.ok()) return s;
  if (!call.subscribe().has_framework_info()) return Invalid("'subscribe.framework_info' is required");
  const v1::FrameworkInfo& info = call.subscribe().framework_info();
  if (info.has_id()) {
    if (auto s = ValidateId("subscribe.framework_info.id", info.id().value()); !s.ok()) return s;
    if (call.has_framework_id() && call.framework_id().value() != info.id().value()) {
      return Invalid("'framework_id' differs from 'subscribe.framework_info.id'");
    }
  } else if (call.has_framework_id()) {
    return Invalid("'framework_id' is set but 'subscribe.framework_info.id' is not");
  }
  return ValidateFrameworkInfo(info, call.subscribe().suppressed_roles(), "subscribe");
}

absl::Status ValidateFrameworkInfo(const v1::FrameworkInfo& info,
                                   const google::protobuf::RepeatedPtrField<std::string>& suppressed_roles,
                                   absl::string_view call) {
  const std::string at = absl::StrCat("'", call, ".framework_info.");
  if (!info.has_user()) return Invalid(absl::StrCat(at, "user' is required"));
  if (!info.has_name() || info.name().empty()) return Invalid(absl::StrCat(at, "name' is required"));
  if (!Finite(info.failover_timeout())) {
    return Invalid(absl::StrCat(at, "failover_timeout' must be a finite, non-negative number"));
  }
  const bool multi = MultiRole(info);
  if (info.roles_size() > 0 && !multi) return Invalid(absl::StrCat(at, "roles' requires the MULTI_ROLE capability"));
  if (multi && info.has_role()) {
    return Invalid(absl::StrCat(at, "role' must not be set with the MULTI_ROLE capability; use 'roles'"));
  }
  std::vector<std::string> roles = FrameworkRoles(info);
  std::set<std::string> seen;
  for (const std::string& r : roles) {
    if (auto s = ValidateRole(r); !s.ok()) return Invalid(absl::StrCat(at, "roles': ", s.message()));
    if (!seen.insert(r).second) return Invalid(absl::StrCat(at, "roles' has role '", r, "' twice"));
  }
  for (const std::string& r : suppressed_roles) {
    if (!seen.count(r))
      return Invalid(
          absl::StrCat("'", call, ".suppressed_roles' has role '", r, "' that the framework is not subscribed to"));
  }
  return absl::OkStatus();
}

absl::Status ValidateExecutor(const v1::ExecutorInfo& executor, const std::string& framework_id) {
  if (auto s = ValidateId("executor.executor_id", executor.executor_id().value()); !s.ok()) return s;
  const std::string where = absl::StrCat("executor '", executor.executor_id().value(), "'");
  if (executor.has_framework_id() && executor.framework_id().value() != framework_id) {
    return Invalid(absl::StrCat(where, ": 'framework_id' is not the calling framework's"));
  }
  if (executor.type() == v1::ExecutorInfo::DEFAULT) {
    if (executor.has_command())
      return Invalid(absl::StrCat(where, ": 'command' must not be set for a DEFAULT executor"));
  } else {
    if (!executor.has_command()) return Invalid(absl::StrCat(where, ": 'command' is required for a CUSTOM executor"));
    if (auto s = ValidateCommand(where, executor.command()); !s.ok()) return s;
  }
  auto res = Resources::FromProto(executor.resources());
  if (!res.ok()) return Invalid(absl::StrCat(where, ": 'resources': ", res.status().message()));
  if (executor.has_container()) {
    if (auto s = ValidateContainer(where, executor.container()); !s.ok()) return s;
  }
  if (executor.has_shutdown_grace_period()) {
    if (auto s = ValidateDuration("executor.shutdown_grace_period", executor.shutdown_grace_period()); !s.ok())
      return s;
  }
  return absl::OkStatus();
}

absl::Status ValidateTask(const v1::TaskInfo& task, const std::string& agent_id, Resources* resources) {
  if (auto s = ValidateId("task_id", task.task_id().value()); !s.ok()) return s;
  const std::string where = absl::StrCat("task '", task.task_id().value(), "'");
  if (!task.has_name()) return Invalid(absl::StrCat(where, ": 'name' is required"));
  if (task.agent_id().value() != agent_id) {
    return Invalid(absl::StrCat(where, ": 'agent_id' '", task.agent_id().value(), "' is not the agent of the offers ('",
                                agent_id, "')"));
  }
  auto res = Resources::FromProto(task.resources());
  if (!res.ok()) return Invalid(absl::StrCat(where, ": 'resources': ", res.status().message()));
  if (res->Empty()) return Invalid(absl::StrCat(where, ": 'resources' is empty; a task must use some resources"));
  if (task.has_command() && task.has_executor()) {
    return Invalid(absl::StrCat(where, ": 'command' and 'executor' are both set; set exactly one"));
  }
  if (!task.has_command() && !task.has_executor()) {
    return Invalid(absl::StrCat(where, ": neither 'command' nor 'executor' is set"));
  }
  if (task.has_command()) {
    if (auto s = ValidateCommand(where, task.command()); !s.ok()) return s;
  }
  if (task.has_container()) {
    if (auto s = ValidateContainer(where, task.container()); !s.ok()) return s;
  }
  if (task.has_check()) {
    const auto& check = task.check();
    if (!Finite(check.delay_seconds()) || !Finite(check.interval_seconds()) || !Finite(check.timeout_seconds())) {
      return Invalid(absl::StrCat(where, ": 'check' durations must be finite and non-negative"));
    }
    switch (check.type()) {
      case v1::CheckInfo::COMMAND:
        if (!check.command().has_command()) {
          return Invalid(absl::StrCat(where, ": 'check.command.command' is required for a COMMAND check"));
        }
        if (auto s = ValidateCommand(absl::StrCat(where, ": 'check.command'"), check.command().command()); !s.ok()) {
          return s;
        }
        break;
      case v1::CheckInfo::HTTP:
        if (check.http().port() == 0 || check.http().port() > 65535) {
          return Invalid(absl::StrCat(where, ": 'check.http.port' must be a port number for an HTTP check"));
        }
        break;
      case v1::CheckInfo::TCP:
        if (check.tcp().port() == 0 || check.tcp().port() > 65535) {
          return Invalid(absl::StrCat(where, ": 'check.tcp.port' must be a port number for a TCP check"));
        }
        break;
      default: return Invalid(absl::StrCat(where, ": 'check.type' must be COMMAND, HTTP or TCP"));
    }
  }
  for (const auto& [name, limit] : task.limits()) {
    // As in Mesos: a limit is a cap above the task's request, or infinite.
    if (name != "cpus" && name != "mem") {
      return Invalid(absl::StrCat(where, ": 'limits' has '", name, "'; only 'cpus' and 'mem' can be limited"));
    }
    double requested = FromMilli(res->Scalar(name));
    if (std::isnan(limit.value()) || limit.value() < requested) {
      return Invalid(absl::StrCat(where, ": 'limits.", name, "' (", limit.value(), ") is below the task's request (",
                                  requested, ")"));
    }
  }
  if (task.has_kill_policy() && task.kill_policy().has_grace_period()) {
    if (auto s = ValidateDuration("kill_policy.grace_period", task.kill_policy().grace_period()); !s.ok()) {
      return Invalid(absl::StrCat(where, ": ", s.message()));
    }
  }
  if (task.has_health_check()) {
    const auto& hc = task.health_check();
    if (!Finite(hc.delay_seconds()) || !Finite(hc.interval_seconds()) || !Finite(hc.timeout_seconds()) ||
        !Finite(hc.grace_period_seconds())) {
      return Invalid(absl::StrCat(where, ": 'health_check' durations must be finite and non-negative"));
    }
    switch (hc.type()) {
      case v1::HealthCheck::COMMAND:
        if (!hc.has_command() || hc.command().value().empty()) {
          return Invalid(absl::StrCat(where, ": 'health_check.command' is required for a COMMAND check"));
        }
        break;
      case v1::HealthCheck::HTTP:
        if (hc.http().port() == 0 || hc.http().port() > 65535) {
          return Invalid(absl::StrCat(where, ": 'health_check.http.port' must be a port number for an HTTP check"));
        }
        if (!hc.http().scheme().empty() && hc.http().scheme() != "http" && hc.http().scheme() != "https") {
          return Invalid(absl::StrCat(where, ": 'health_check.http.scheme' must be 'http' or 'https'"));
        }
        break;
      case v1::HealthCheck::TCP:
        if (hc.tcp().port() == 0 || hc.tcp().port() > 65535) {
          return Invalid(absl::StrCat(where, ": 'health_check.tcp.port' must be a port number for a TCP check"));
        }
        break;
      default: return Invalid(absl::StrCat(where, ": 'health_check.type' must be COMMAND, HTTP or TCP"));
    }
  }
  if (task.has_max_completion_time()) {
    if (auto s = ValidateDuration("max_completion_time", task.max_completion_time()); !s.ok()) {
      return Invalid(absl::StrCat(where, ": ", s.message()));
    }
  }
  *resources = std::move(*res);
  return absl::OkStatus();
}

}  // namespace corral::validation
