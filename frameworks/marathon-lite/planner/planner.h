// The planner: what to launch and kill for one app, from its definition,
// its tasks and the time. Pure functions, no I/O and no clock of their own:
// the scheduler calls them after every change and acts on what they say.
//
// Rolling replacement is Marathon's: while tasks of an older definition
// remain, at most floor(n * (1 + maximumOverCapacity)) tasks exist (killed
// ones count until they are gone), and old
// tasks are killed only while ceil(n * minimumHealthCapacity) healthy ones
// remain; so each new healthy task retires one old one.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "model/app.h"

namespace corral::marathon {

// Failed launches of an app's current definition, for its launch delay.
struct Backoff {
  int failures = 0;
  absl::Time last_failure = absl::InfinitePast();
};

struct AppPlan {
  int launch = 0;                                  // new tasks of the current definition, now
  std::vector<std::string> kill;                   // task IDs
  absl::Time launch_after = absl::InfinitePast();  // launches held back until then
  bool crash_looping = false;                      // crashLoopLimit reached: no launches until a change
  bool canary_ready = false;                       // the canaries run healthy: the deployment waits for a promote
  // The app is where its definition says: n tasks of it, all running and
  // healthy, none older, none still being killed. Its deployment (if any) is done.
  bool steady = false;
  // Unreachable tasks past expungeAfterSeconds: kill, and forget them.
  std::vector<std::string> expunge;
};

// backoffSeconds * backoffFactor^(failures - 1), at most
// maxLaunchDelaySeconds, after the last failure.
absl::Time LaunchDelayUntil(const App& app, const Backoff& backoff);

// How far a deployment has come: healthy tasks of the current definition,
// less the tasks of older ones. A deployment progresses while this grows.
int Progress(const App& app, const std::vector<Task>& tasks);

// `canary` >= 0: a canary deployment not promoted yet, which may run only
// that many tasks of the new definition (and keeps enough old ones to make
// up the app's instances); it is never steady.
AppPlan PlanApp(const App& app, const std::vector<Task>& tasks, const Backoff& backoff, absl::Time now,
                int canary = -1);

// The order in which an app's tasks are killed when it has too many: ones
// not running yet first, then by killSelection (YOUNGEST_FIRST: the latest
// staged first).
void SortForKilling(const App& app, std::vector<const Task*>* tasks);

// Where a new task may go. `host` and `attributes` describe the offer's
// agent; `placed` the app's active tasks.
bool SatisfiesConstraints(const App& app, const std::string& host, const std::map<std::string, std::string>& attributes,
                          const std::vector<const Task*>& placed);

}  // namespace corral::marathon
