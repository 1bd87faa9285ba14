// hello: a one-command framework. It takes one offer, runs `echo` there and
// exits when the task is done.
//
//	scripts/dev.sh local                   # in another terminal
//	cd bindings/go && go run ./examples/hello -master 127.0.0.1:5050
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

type hello struct {
	corral.BaseScheduler
	launched bool
	done     chan error
}

func (h *hello) Offers(ctx context.Context, d *corral.SchedulerDriver, offers []*corralpb.Offer) error {
	for _, o := range offers {
		if h.launched {
			if err := d.Decline(ctx, []*corralpb.OfferID{o.GetId()}, nil); err != nil {
				return err
			}
			continue
		}
		task := corral.CommandTask(o, "hello", "echo hello from a Go framework",
			corral.Scalar("cpus", 0.1), corral.Scalar("mem", 32))
		if err := d.Launch(ctx, o.GetId(), []*corralpb.TaskInfo{task}, nil); err != nil {
			return err
		}
		h.launched = true
	}
	return nil
}

func (h *hello) Update(ctx context.Context, d *corral.SchedulerDriver, s *corralpb.TaskStatus) error {
	fmt.Printf("%s: %s\n", s.GetTaskId().GetValue(), corral.StateName(s.GetState()))
	if corral.IsTerminal(s.GetState()) {
		if s.GetState() != corralpb.TaskState_TASK_FINISHED {
			h.done <- fmt.Errorf("the task ended %s: %s", s.GetState(), s.GetMessage())
		} else {
			h.done <- nil
		}
	}
	return nil
}

func run(ctx context.Context, master string) error {
	h := &hello{done: make(chan error, 1)}
	d, err := corral.NewSchedulerDriver(h, corral.FrameworkInfo("hello-go"), master)
	if err != nil {
		return err
	}
	defer d.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ran := make(chan error, 1)
	go func() { ran <- d.Run(ctx) }()
	select {
	case err := <-h.done:
		d.Stop(false) // done: tear the framework down
		<-ran
		return err
	case err := <-ran:
		return err
	}
}

func main() {
	master := flag.String("master", corral.DefaultMaster(), "the master, host:port")
	flag.Parse()
	if err := run(context.Background(), *master); err != nil && !errors.Is(err, context.Canceled) {
		log.Print(err)
		os.Exit(1)
	}
}
