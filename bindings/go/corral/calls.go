package corral

import (
	"context"
	"time"
	"unsafe"

	"github.com/corral/corral/bindings/go/corralpb"
	"github.com/corral/corral/bindings/go/corralpb/schedulerpb"
	"google.golang.org/protobuf/proto"
)

// Call sends any scheduler Call (the framework ID is filled in) and
// returns the master's verdict. A ctx that ends first makes Call return
// ctx.Err(); the call itself may still reach the master.
func (d *SchedulerDriver) Call(ctx context.Context, call *schedulerpb.Call) error {
	if call == nil {
		return &Error{Op: "call", Code: InvalidArgument, Message: "call: must not be nil"}
	}
	op := call.GetType().String()
	if err := ctx.Err(); err != nil {
		return err
	}
	b, err := proto.Marshal(call)
	if err != nil {
		return &Error{Op: op, Code: InvalidArgument, Message: err.Error()}
	}
	nat, ok := d.h.acquire()
	if !ok {
		return &Error{Op: op, Code: FailedPrecondition, Message: closedMessage}
	}
	send := func() error {
		defer d.h.release()
		var msg string
		// The bytes are copied on the C++ side before Call returns.
		code := nat.Call(unsafe.String(unsafe.SliceData(b), len(b)), &msg)
		return answer(op, code, msg)
	}
	if ctx.Done() == nil {
		return send()
	}
	done := make(chan error, 1)
	go func() { done <- send() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func call(t schedulerpb.Call_Type) *schedulerpb.Call { return &schedulerpb.Call{Type: t.Enum()} }

// Accept applies operations to offers; what they leave is declined.
func (d *SchedulerDriver) Accept(ctx context.Context, offerIDs []*corralpb.OfferID,
	operations []*corralpb.Offer_Operation, filters *corralpb.Filters) error {
	c := call(schedulerpb.Call_ACCEPT)
	c.Accept = &schedulerpb.Call_Accept{OfferIds: offerIDs, Operations: operations, Filters: filters}
	return d.Call(ctx, c)
}

// Launch launches tasks on one offer; what they do not use is declined.
func (d *SchedulerDriver) Launch(ctx context.Context, offerID *corralpb.OfferID, tasks []*corralpb.TaskInfo,
	filters *corralpb.Filters) error {
	op := &corralpb.Offer_Operation{Type: corralpb.Offer_Operation_LAUNCH.Enum(),
		Launch: &corralpb.Offer_Operation_Launch{TaskInfos: tasks}}
	return d.Accept(ctx, []*corralpb.OfferID{offerID}, []*corralpb.Offer_Operation{op}, filters)
}

// LaunchGroup launches tasks as one group under `executor` (the default
// executor if its type is DEFAULT).
func (d *SchedulerDriver) LaunchGroup(ctx context.Context, offerID *corralpb.OfferID, executor *corralpb.ExecutorInfo,
	group *corralpb.TaskGroupInfo, filters *corralpb.Filters) error {
	op := &corralpb.Offer_Operation{Type: corralpb.Offer_Operation_LAUNCH_GROUP.Enum(),
		LaunchGroup: &corralpb.Offer_Operation_LaunchGroup{Executor: executor, TaskGroup: group}}
	return d.Accept(ctx, []*corralpb.OfferID{offerID}, []*corralpb.Offer_Operation{op}, filters)
}

// Decline declines offers; filters may be nil.
func (d *SchedulerDriver) Decline(ctx context.Context, offerIDs []*corralpb.OfferID, filters *corralpb.Filters) error {
	c := call(schedulerpb.Call_DECLINE)
	c.Decline = &schedulerpb.Call_Decline{OfferIds: offerIDs, Filters: filters}
	return d.Call(ctx, c)
}

// RefuseFor is a Filters that keeps declined resources away for d.
func RefuseFor(d time.Duration) *corralpb.Filters {
	return &corralpb.Filters{RefuseSeconds: proto.Float64(d.Seconds())}
}

// AcceptInverseOffers agrees to the maintenance the inverse offers ask for.
func (d *SchedulerDriver) AcceptInverseOffers(ctx context.Context, ids []*corralpb.OfferID, filters *corralpb.Filters) error {
	c := call(schedulerpb.Call_ACCEPT_INVERSE_OFFERS)
	c.AcceptInverseOffers = &schedulerpb.Call_AcceptInverseOffers{InverseOfferIds: ids, Filters: filters}
	return d.Call(ctx, c)
}

// DeclineInverseOffers refuses the maintenance the inverse offers ask for.
func (d *SchedulerDriver) DeclineInverseOffers(ctx context.Context, ids []*corralpb.OfferID, filters *corralpb.Filters) error {
	c := call(schedulerpb.Call_DECLINE_INVERSE_OFFERS)
	c.DeclineInverseOffers = &schedulerpb.Call_DeclineInverseOffers{InverseOfferIds: ids, Filters: filters}
	return d.Call(ctx, c)
}

// Kill kills a task with its own KillPolicy; agentID may be nil.
func (d *SchedulerDriver) Kill(ctx context.Context, taskID *corralpb.TaskID, agentID *corralpb.AgentID) error {
	c := call(schedulerpb.Call_KILL)
	c.Kill = &schedulerpb.Call_Kill{TaskId: taskID, AgentId: agentID}
	return d.Call(ctx, c)
}

// KillWithGracePeriod kills a task, overriding its KillPolicy's grace period.
func (d *SchedulerDriver) KillWithGracePeriod(ctx context.Context, taskID *corralpb.TaskID, agentID *corralpb.AgentID,
	grace time.Duration) error {
	c := call(schedulerpb.Call_KILL)
	c.Kill = &schedulerpb.Call_Kill{TaskId: taskID, AgentId: agentID, KillPolicy: &corralpb.KillPolicy{
		GracePeriod: &corralpb.DurationInfo{Nanoseconds: proto.Int64(grace.Nanoseconds())}}}
	return d.Call(ctx, c)
}

// Acknowledge acknowledges a status update (needed with
// WithExplicitAcknowledgements); a status without a uuid needs none.
func (d *SchedulerDriver) Acknowledge(ctx context.Context, status *corralpb.TaskStatus) error {
	if len(status.GetUuid()) == 0 {
		return nil
	}
	c := call(schedulerpb.Call_ACKNOWLEDGE)
	c.Acknowledge = &schedulerpb.Call_Acknowledge{AgentId: status.GetAgentId(), TaskId: status.GetTaskId(),
		Uuid: status.GetUuid()}
	return d.Call(ctx, c)
}

// Reconcile asks for the latest state of these tasks (of every task of the
// framework, if none).
func (d *SchedulerDriver) Reconcile(ctx context.Context, tasks []*corralpb.TaskStatus) error {
	c := call(schedulerpb.Call_RECONCILE)
	r := &schedulerpb.Call_Reconcile{Tasks: make([]*schedulerpb.Call_Reconcile_Task, 0, len(tasks))}
	for _, t := range tasks {
		r.Tasks = append(r.Tasks, &schedulerpb.Call_Reconcile_Task{TaskId: t.GetTaskId(), AgentId: t.GetAgentId()})
	}
	c.Reconcile = r
	return d.Call(ctx, c)
}

// Revive removes offer filters and asks for offers again (for roles, or all).
func (d *SchedulerDriver) Revive(ctx context.Context, roles ...string) error {
	c := call(schedulerpb.Call_REVIVE)
	c.Revive = &schedulerpb.Call_Revive{Roles: roles}
	return d.Call(ctx, c)
}

// Suppress stops offers (for roles, or all) until Revive.
func (d *SchedulerDriver) Suppress(ctx context.Context, roles ...string) error {
	c := call(schedulerpb.Call_SUPPRESS)
	c.Suppress = &schedulerpb.Call_Suppress{Roles: roles}
	return d.Call(ctx, c)
}

// Message sends a framework message to an executor.
func (d *SchedulerDriver) Message(ctx context.Context, agentID *corralpb.AgentID, executorID *corralpb.ExecutorID,
	data []byte) error {
	c := call(schedulerpb.Call_MESSAGE)
	c.Message = &schedulerpb.Call_Message{AgentId: agentID, ExecutorId: executorID, Data: data}
	return d.Call(ctx, c)
}

// Shutdown asks an executor to shut down (its tasks are killed).
func (d *SchedulerDriver) Shutdown(ctx context.Context, executorID *corralpb.ExecutorID, agentID *corralpb.AgentID) error {
	c := call(schedulerpb.Call_SHUTDOWN)
	c.Shutdown = &schedulerpb.Call_Shutdown{ExecutorId: executorID, AgentId: agentID}
	return d.Call(ctx, c)
}

// Teardown removes the framework and kills its tasks, then the driver
// stops: Stop(false), as Mesos's TEARDOWN.
func (d *SchedulerDriver) Teardown(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return d.Stop(false)
}
