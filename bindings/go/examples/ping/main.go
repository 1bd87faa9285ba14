// ping: a framework with an executor written in Go (this same binary, run
// as `ping executor` by the agent). The scheduler sends "ping" to the
// executor, which answers "pong"; then the task is killed.
//
//	scripts/dev.sh local                   # in another terminal
//	cd bindings/go && go run ./examples/ping -master 127.0.0.1:5050
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"

	"github.com/corral/corral/bindings/go/corral"
	"github.com/corral/corral/bindings/go/corralpb"
)

// --- the executor -------------------------------------------------------------

type pingExecutor struct{ corral.BaseExecutor }

func (pingExecutor) Launch(ctx context.Context, d *corral.ExecutorDriver, t *corralpb.TaskInfo) error {
	return d.SendStatusUpdate(ctx, corral.Update(t.GetTaskId(), corralpb.TaskState_TASK_RUNNING, "waiting for pings"))
}

func (pingExecutor) Message(ctx context.Context, d *corral.ExecutorDriver, data []byte) error {
	if string(data) == "ping" {
		return d.SendFrameworkMessage(ctx, []byte("pong"))
	}
	return nil
}

func (pingExecutor) Kill(ctx context.Context, d *corral.ExecutorDriver, id *corralpb.TaskID, _ *corralpb.KillPolicy) error {
	return d.SendStatusUpdate(ctx, corral.Update(id, corralpb.TaskState_TASK_KILLED, ""))
}

func runExecutor() error {
	d, err := corral.NewExecutorDriver(pingExecutor{})
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Run(context.Background())
}

// --- the scheduler ------------------------------------------------------------

type pinger struct {
	corral.BaseScheduler
	self     string
	task     *corralpb.TaskInfo
	executor *corralpb.ExecutorInfo
	done     chan error
}

func (p *pinger) Offers(ctx context.Context, d *corral.SchedulerDriver, offers []*corralpb.Offer) error {
	for _, o := range offers {
		if p.task != nil {
			if err := d.Decline(ctx, []*corralpb.OfferID{o.GetId()}, nil); err != nil {
				return err
			}
			continue
		}
		p.executor = corral.ExecutorInfo("ping", p.self+" executor", corral.Scalar("cpus", 0.1), corral.Scalar("mem", 64))
		p.task = corral.ExecutorTask(o, "ping", p.executor, nil, corral.Scalar("cpus", 0.1), corral.Scalar("mem", 32))
		if err := d.Launch(ctx, o.GetId(), []*corralpb.TaskInfo{p.task}, nil); err != nil {
			return err
		}
	}
	return nil
}

func (p *pinger) Update(ctx context.Context, d *corral.SchedulerDriver, s *corralpb.TaskStatus) error {
	fmt.Printf("%s: %s\n", s.GetTaskId().GetValue(), corral.StateName(s.GetState()))
	switch {
	case s.GetState() == corralpb.TaskState_TASK_RUNNING:
		return d.Message(ctx, s.GetAgentId(), p.executor.GetExecutorId(), []byte("ping"))
	case s.GetState() == corralpb.TaskState_TASK_KILLED:
		p.done <- nil
	case corral.IsTerminal(s.GetState()):
		p.done <- fmt.Errorf("the task ended %s: %s", s.GetState(), s.GetMessage())
	}
	return nil
}

func (p *pinger) Message(ctx context.Context, d *corral.SchedulerDriver, agent *corralpb.AgentID, _ *corralpb.ExecutorID, data []byte) error {
	fmt.Printf("the executor says %q\n", data)
	return d.Kill(ctx, p.task.GetTaskId(), agent)
}

func run(ctx context.Context, master string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	p := &pinger{self: self, done: make(chan error, 1)}
	d, err := corral.NewSchedulerDriver(p, corral.FrameworkInfo("ping-go"), master)
	if err != nil {
		return err
	}
	defer d.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ran := make(chan error, 1)
	go func() { ran <- d.Run(ctx) }()
	select {
	case err := <-p.done:
		d.Stop(false)
		<-ran
		return err
	case err := <-ran:
		return err
	}
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "executor" {
		if err := runExecutor(); err != nil {
			log.Fatal(err)
		}
		return
	}
	master := flag.String("master", corral.DefaultMaster(), "the master, host:port")
	flag.Parse()
	if err := run(context.Background(), *master); err != nil && !errors.Is(err, context.Canceled) {
		log.Print(err)
		os.Exit(1)
	}
}
