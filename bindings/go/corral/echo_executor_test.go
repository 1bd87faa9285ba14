package corral_test

import (
	"context"

	"github.com/corral/corral/bindings/go/corral"
	"github.com/corral/corral/bindings/go/corralpb"
)

// echoExecutor runs tasks that do nothing until killed and sends every
// framework message back unchanged.
type echoExecutor struct{ corral.BaseExecutor }

func (echoExecutor) Launch(ctx context.Context, d *corral.ExecutorDriver, task *corralpb.TaskInfo) error {
	return d.SendStatusUpdate(ctx, corral.Update(task.GetTaskId(), corralpb.TaskState_TASK_RUNNING, ""))
}

func (echoExecutor) Kill(ctx context.Context, d *corral.ExecutorDriver, id *corralpb.TaskID, p *corralpb.KillPolicy) error {
	return d.SendStatusUpdate(ctx, corral.Update(id, corralpb.TaskState_TASK_KILLED, "killed"))
}

func (echoExecutor) Message(ctx context.Context, d *corral.ExecutorDriver, data []byte) error {
	return d.SendFrameworkMessage(ctx, data)
}

func runEchoExecutor() int {
	d, err := corral.NewExecutorDriver(echoExecutor{})
	if err != nil {
		return 2
	}
	defer d.Close()
	if err := d.Run(context.Background()); err != nil {
		return 1
	}
	return 0
}
