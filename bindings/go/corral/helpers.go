package corral

import (
	"crypto/rand"
	"encoding/hex"
	"os/user"
	"time"

	"github.com/corral/corral/bindings/go/corralpb"
	"google.golang.org/protobuf/proto"
)

// FrameworkInfo is a framework named `name` run as the current user; with
// roles it is MULTI_ROLE.
func FrameworkInfo(name string, roles ...string) *corralpb.FrameworkInfo {
	f := &corralpb.FrameworkInfo{Name: proto.String(name), User: proto.String("")}
	if u, err := user.Current(); err == nil {
		f.User = proto.String(u.Username)
	}
	if len(roles) > 0 {
		f.Roles = roles
		f.Capabilities = []*corralpb.FrameworkInfo_Capability{
			{Type: corralpb.FrameworkInfo_Capability_MULTI_ROLE.Enum()}}
	}
	return f
}

// Command is a shell command.
func Command(shell string) *corralpb.CommandInfo {
	return &corralpb.CommandInfo{Shell: proto.Bool(true), Value: proto.String(shell)}
}

// Scalar is a scalar resource ("cpus", 0.5).
func Scalar(name string, value float64) *corralpb.Resource {
	return &corralpb.Resource{Name: proto.String(name), Type: corralpb.Value_SCALAR.Enum(),
		Scalar: &corralpb.Value_Scalar{Value: proto.Float64(value)}}
}

// TaskID is `name` with a random suffix, unique for every call.
func TaskID(name string) *corralpb.TaskID {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return &corralpb.TaskID{Value: proto.String(name + "-" + hex.EncodeToString(b[:]))}
}

// CommandTask is a task running `shell` on the offer's agent with resources.
func CommandTask(offer *corralpb.Offer, name, shell string, resources ...*corralpb.Resource) *corralpb.TaskInfo {
	return &corralpb.TaskInfo{Name: proto.String(name), TaskId: TaskID(name), AgentId: offer.GetAgentId(),
		Command: Command(shell), Resources: resources}
}

// ExecutorInfo is a custom executor started with `shell`.
func ExecutorInfo(executorID, shell string, resources ...*corralpb.Resource) *corralpb.ExecutorInfo {
	return &corralpb.ExecutorInfo{Type: corralpb.ExecutorInfo_CUSTOM.Enum(),
		ExecutorId: &corralpb.ExecutorID{Value: proto.String(executorID)}, Command: Command(shell),
		Resources: resources}
}

// ExecutorTask is a task for `executor` on the offer's agent.
func ExecutorTask(offer *corralpb.Offer, name string, executor *corralpb.ExecutorInfo, data []byte,
	resources ...*corralpb.Resource) *corralpb.TaskInfo {
	return &corralpb.TaskInfo{Name: proto.String(name), TaskId: TaskID(name), AgentId: offer.GetAgentId(),
		Executor: executor, Data: data, Resources: resources}
}

// WithKillGracePeriod sets the task's KillPolicy grace period.
func WithKillGracePeriod(task *corralpb.TaskInfo, grace time.Duration) *corralpb.TaskInfo {
	task.KillPolicy = &corralpb.KillPolicy{GracePeriod: &corralpb.DurationInfo{Nanoseconds: proto.Int64(grace.Nanoseconds())}}
	return task
}

// StateName is the state's name ("TASK_RUNNING").
func StateName(s corralpb.TaskState) string { return s.String() }

// IsTerminal says whether a task in this state is done for good.
func IsTerminal(s corralpb.TaskState) bool {
	switch s {
	case corralpb.TaskState_TASK_FINISHED, corralpb.TaskState_TASK_FAILED, corralpb.TaskState_TASK_KILLED,
		corralpb.TaskState_TASK_ERROR, corralpb.TaskState_TASK_LOST, corralpb.TaskState_TASK_DROPPED,
		corralpb.TaskState_TASK_GONE, corralpb.TaskState_TASK_GONE_BY_OPERATOR:
		return true
	}
	return false
}

// Update is a TaskStatus for an executor to send.
func Update(taskID *corralpb.TaskID, state corralpb.TaskState, message string) *corralpb.TaskStatus {
	s := &corralpb.TaskStatus{TaskId: taskID, State: state.Enum()}
	if message != "" {
		s.Message = proto.String(message)
	}
	return s
}
