package corral

import (
	"context"
	"fmt"
	"sync"
	"unsafe"

	"github.com/corral/corral/bindings/go/corralpb"
	"github.com/corral/corral/bindings/go/corralpb/executorpb"
	"github.com/corral/corral/bindings/go/internal/native"
	"google.golang.org/protobuf/proto"
)

// Executor receives an executor's events; embed BaseExecutor and implement
// what you need. Handlers run on the driver's callback thread, one at a
// time; an error or a panic stops the driver and Run returns a *HandlerError.
type Executor interface {
	Subscribed(ctx context.Context, d *ExecutorDriver, executor *corralpb.ExecutorInfo, framework *corralpb.FrameworkInfo, agent *corralpb.AgentInfo) error
	Launch(ctx context.Context, d *ExecutorDriver, task *corralpb.TaskInfo) error
	LaunchGroup(ctx context.Context, d *ExecutorDriver, group *corralpb.TaskGroupInfo) error
	Kill(ctx context.Context, d *ExecutorDriver, taskID *corralpb.TaskID, policy *corralpb.KillPolicy) error
	Acknowledged(ctx context.Context, d *ExecutorDriver, taskID *corralpb.TaskID, uuid []byte) error
	Message(ctx context.Context, d *ExecutorDriver, data []byte) error
	Shutdown(ctx context.Context, d *ExecutorDriver) error
	Error(ctx context.Context, d *ExecutorDriver, message string) error
}

// BaseExecutor implements every Executor method as doing nothing.
type BaseExecutor struct{}

func (BaseExecutor) Subscribed(context.Context, *ExecutorDriver, *corralpb.ExecutorInfo, *corralpb.FrameworkInfo, *corralpb.AgentInfo) error {
	return nil
}
func (BaseExecutor) Launch(context.Context, *ExecutorDriver, *corralpb.TaskInfo) error { return nil }
func (BaseExecutor) LaunchGroup(context.Context, *ExecutorDriver, *corralpb.TaskGroupInfo) error {
	return nil
}
func (BaseExecutor) Kill(context.Context, *ExecutorDriver, *corralpb.TaskID, *corralpb.KillPolicy) error {
	return nil
}
func (BaseExecutor) Acknowledged(context.Context, *ExecutorDriver, *corralpb.TaskID, []byte) error {
	return nil
}
func (BaseExecutor) Message(context.Context, *ExecutorDriver, []byte) error { return nil }
func (BaseExecutor) Shutdown(context.Context, *ExecutorDriver) error        { return nil }
func (BaseExecutor) Error(context.Context, *ExecutorDriver, string) error   { return nil }

// ExecutorDriver connects an Executor to its agent, found from the
// environment the agent sets (as a Mesos executor's). Close it when done.
type ExecutorDriver struct {
	exec Executor
	h    handle[native.Executor]
	id   int64

	mu         sync.Mutex
	ctx        context.Context
	started    bool
	handlerErr error
	closed     chan struct{}
}

// NewExecutorDriver makes a driver; it connects at Start or Run.
func NewExecutorDriver(exec Executor) (*ExecutorDriver, error) {
	if exec == nil {
		return nil, &Error{Op: "NewExecutorDriver", Code: InvalidArgument, Message: "executor: must not be nil"}
	}
	if err := setup(); err != nil {
		return nil, err
	}
	d := &ExecutorDriver{exec: exec, ctx: context.Background(), closed: make(chan struct{})}
	d.id = register(d)
	d.h = handle[native.Executor]{obj: native.NewExecutor(d.id), free: native.DeleteExecutor}
	return d, nil
}

func (d *ExecutorDriver) with(op string, fn func(native.Executor, *string) int) error {
	nat, ok := d.h.acquire()
	if !ok {
		return &Error{Op: op, Code: FailedPrecondition, Message: closedMessage}
	}
	defer d.h.release()
	var msg string
	return answer(op, fn(nat, &msg), msg)
}

// Start connects to the agent and subscribes.
func (d *ExecutorDriver) Start() error {
	err := d.with("start", func(n native.Executor, m *string) int { return n.Start(m) })
	if err == nil {
		d.mu.Lock()
		d.started = true
		d.mu.Unlock()
	}
	return err
}

// Stop stops the driver.
func (d *ExecutorDriver) Stop() error {
	return d.with("stop", func(n native.Executor, m *string) int { return n.Stop(m) })
}

// Run starts the driver (unless started) and waits until it stops (the
// agent shut the executor down, or Stop): nil, ctx.Err() after ctx ended
// (the driver is stopped), or the *HandlerError of a failed handler.
func (d *ExecutorDriver) Run(ctx context.Context) error {
	d.mu.Lock()
	d.ctx = ctx
	started := d.started
	d.mu.Unlock()
	if !started {
		if err := d.Start(); err != nil {
			return err
		}
	}
	done := make(chan error, 1)
	go func() { done <- d.join() }()
	select {
	case err := <-done:
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.handlerErr != nil {
			return d.handlerErr
		}
		return err
	case <-ctx.Done():
		_ = d.Stop()
		<-done
		return ctx.Err()
	}
}

func (d *ExecutorDriver) join() error {
	for {
		nat, ok := d.h.acquire()
		if !ok {
			return nil
		}
		var msg string
		code := nat.JoinFor(0.2, &msg)
		d.h.release()
		if code == -1 {
			continue
		}
		if code != 0 && msg == closedMessage {
			return nil
		}
		return answer("run", code, msg)
	}
}

// SendStatusUpdate reports a task's state; uuid, timestamp, source and
// executor ID are filled in.
func (d *ExecutorDriver) SendStatusUpdate(ctx context.Context, status *corralpb.TaskStatus) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b, err := proto.Marshal(status)
	if err != nil {
		return &Error{Op: "update", Code: InvalidArgument, Message: err.Error()}
	}
	return d.with("update", func(n native.Executor, m *string) int {
		return n.SendStatusUpdate(unsafe.String(unsafe.SliceData(b), len(b)), m)
	})
}

// SendFrameworkMessage sends bytes to the scheduler.
func (d *ExecutorDriver) SendFrameworkMessage(ctx context.Context, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return d.with("message", func(n native.Executor, m *string) int {
		return n.SendFrameworkMessage(unsafe.String(unsafe.SliceData(data), len(data)), m)
	})
}

// Close stops and frees the driver; safe from a handler, from any
// goroutine and more than once.
func (d *ExecutorDriver) Close() error {
	d.h.close(func(n native.Executor) {
		var msg string
		n.Stop(&msg)
		n.Close()
	})
	return nil
}

// Done is closed when the native side is done with the driver (after Close).
func (d *ExecutorDriver) Done() <-chan struct{} { return d.closed }

func (d *ExecutorDriver) onDisconnected() bool { return true }
func (d *ExecutorDriver) onClosed()            { close(d.closed) }

func (d *ExecutorDriver) onEvent(data string) bool {
	ev := &executorpb.Event{}
	if err := proto.Unmarshal(unsafe.Slice(unsafe.StringData(data), len(data)), ev); err != nil {
		d.fail(&HandlerError{Event: "UNKNOWN", Err: fmt.Errorf("an event that does not parse: %w", err)})
		return false
	}
	x := d.exec
	var name string
	var fn func(context.Context) error
	switch ev.GetType() {
	case executorpb.Event_SUBSCRIBED:
		s := ev.GetSubscribed()
		name, fn = "SUBSCRIBED", func(ctx context.Context) error {
			return x.Subscribed(ctx, d, s.GetExecutorInfo(), s.GetFrameworkInfo(), s.GetAgentInfo())
		}
	case executorpb.Event_LAUNCH:
		name, fn = "LAUNCH", func(ctx context.Context) error { return x.Launch(ctx, d, ev.GetLaunch().GetTask()) }
	case executorpb.Event_LAUNCH_GROUP:
		name, fn = "LAUNCH_GROUP", func(ctx context.Context) error {
			return x.LaunchGroup(ctx, d, ev.GetLaunchGroup().GetTaskGroup())
		}
	case executorpb.Event_KILL:
		k := ev.GetKill()
		name, fn = "KILL", func(ctx context.Context) error { return x.Kill(ctx, d, k.GetTaskId(), k.GetKillPolicy()) }
	case executorpb.Event_ACKNOWLEDGED:
		a := ev.GetAcknowledged()
		name, fn = "ACKNOWLEDGED", func(ctx context.Context) error { return x.Acknowledged(ctx, d, a.GetTaskId(), a.GetUuid()) }
	case executorpb.Event_MESSAGE:
		name, fn = "MESSAGE", func(ctx context.Context) error { return x.Message(ctx, d, ev.GetMessage().GetData()) }
	case executorpb.Event_SHUTDOWN:
		name, fn = "SHUTDOWN", func(ctx context.Context) error { return x.Shutdown(ctx, d) }
	case executorpb.Event_ERROR:
		name, fn = "ERROR", func(ctx context.Context) error { return x.Error(ctx, d, ev.GetError().GetMessage()) }
	default:
		return true
	}
	d.mu.Lock()
	ctx := d.ctx
	d.mu.Unlock()
	if err := protect(fn, ctx); err != nil {
		d.fail(&HandlerError{Event: name, Err: err})
		return false
	}
	return true
}

func (d *ExecutorDriver) fail(err error) {
	d.mu.Lock()
	if d.handlerErr == nil {
		d.handlerErr = err
	}
	d.mu.Unlock()
}
