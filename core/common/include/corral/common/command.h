// How a CommandInfo becomes a program and its argv, as Mesos defines it:
// shell commands run as `/bin/sh -c value`; otherwise `value` is the
// executable and `arguments` its argv (argv[0] included).
#pragma once

#include "corral/common/process.h"
#include "corral/v1/corral.pb.h"

namespace corral {

inline void SetCommand(const v1::CommandInfo& cmd, LaunchSpec* spec) {
  if (cmd.shell()) {
    spec->program = "/bin/sh";
    spec->argv = {"sh", "-c", cmd.value()};
  } else {
    spec->program = cmd.value();
    spec->argv.assign(cmd.arguments().begin(), cmd.arguments().end());
    if (spec->argv.empty()) spec->argv.push_back(cmd.value());
  }
  for (const auto& var : cmd.environment().variables()) spec->env[var.name()] = var.value();
}

}  // namespace corral
