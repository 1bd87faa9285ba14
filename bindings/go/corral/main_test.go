package corral_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/corral/corral/bindings/go/corral"
	"github.com/corral/corral/bindings/go/corralpb"
	"go.uber.org/goleak"
)

// The test binary is also the tests' executor: the agent starts it with
// CORRAL_GO_TEST_EXECUTOR set (see echoExecutor).
func TestMain(m *testing.M) {
	if os.Getenv("CORRAL_GO_TEST_EXECUTOR") != "" {
		os.Exit(runEchoExecutor())
	}
	goleak.VerifyTestMain(m)
}

// recorder keeps what a scheduler saw and lets a test wait for it.
type recorder struct {
	corral.BaseScheduler
	mu         sync.Mutex
	cond       *sync.Cond
	subscribed bool
	offers     []*corralpb.Offer
	updates    []*corralpb.TaskStatus
	messages   [][]byte
	onUpdate   func(*corral.SchedulerDriver, *corralpb.TaskStatus) error
}

func newRecorder() *recorder {
	r := &recorder{}
	r.cond = sync.NewCond(&r.mu)
	return r
}

func (r *recorder) Subscribed(ctx context.Context, d *corral.SchedulerDriver, id *corralpb.FrameworkID, m *corralpb.MasterInfo) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.subscribed = true
	r.cond.Broadcast()
	return nil
}

func (r *recorder) Offers(ctx context.Context, d *corral.SchedulerDriver, offers []*corralpb.Offer) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.offers = append(r.offers, offers...)
	r.cond.Broadcast()
	return nil
}

func (r *recorder) Update(ctx context.Context, d *corral.SchedulerDriver, s *corralpb.TaskStatus) error {
	r.mu.Lock()
	r.updates = append(r.updates, s)
	r.cond.Broadcast()
	fn := r.onUpdate
	r.mu.Unlock()
	if fn != nil {
		return fn(d, s)
	}
	return nil
}

func (r *recorder) Message(ctx context.Context, d *corral.SchedulerDriver, a *corralpb.AgentID, e *corralpb.ExecutorID, data []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.messages = append(r.messages, data)
	r.cond.Broadcast()
	return nil
}

// await waits up to 30 s for cond (called with the lock held).
func (r *recorder) await(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	stop := time.AfterFunc(30*time.Second, func() { r.mu.Lock(); r.cond.Broadcast(); r.mu.Unlock() })
	defer stop.Stop()
	r.mu.Lock()
	defer r.mu.Unlock()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		r.cond.Wait()
	}
}

func (r *recorder) takeOffer(t *testing.T) *corralpb.Offer {
	t.Helper()
	r.await(t, "an offer", func() bool { return len(r.offers) > 0 })
	r.mu.Lock()
	defer r.mu.Unlock()
	o := r.offers[0]
	r.offers = r.offers[1:]
	return o
}

func (r *recorder) awaitState(t *testing.T, taskID string, state corralpb.TaskState) *corralpb.TaskStatus {
	t.Helper()
	var found *corralpb.TaskStatus
	r.await(t, fmt.Sprintf("%s %s", taskID, state), func() bool {
		for _, s := range r.updates {
			if s.GetTaskId().GetValue() == taskID && s.GetState() == state {
				found = s
				return true
			}
		}
		return false
	})
	return found
}

// runDriver runs d in the background; the returned func cancels it and
// answers what Run returned.
func runDriver(d *corral.SchedulerDriver) (stop func() error, done <-chan error) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan error, 1)
	go func() { ch <- d.Run(ctx) }()
	return func() error { cancel(); return <-ch }, ch
}

func res(cpus, mem float64) []*corralpb.Resource {
	return []*corralpb.Resource{corral.Scalar("cpus", cpus), corral.Scalar("mem", mem)}
}
