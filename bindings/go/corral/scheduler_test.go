package corral_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/corral/corral/bindings/go/corral"
	"github.com/corral/corral/bindings/go/corralpb"
	"github.com/corral/corral/bindings/go/corralpb/schedulerpb"
	"github.com/corral/corral/bindings/go/corraltest"
	"google.golang.org/protobuf/proto"
)

func TestLaunchACommandTask(t *testing.T) {
	c := corraltest.Start(t, corraltest.Agents(1))
	r := newRecorder()
	d, err := corral.NewSchedulerDriver(r, corral.FrameworkInfo("go-launch"), c.Master())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	stop, _ := runDriver(d)
	offer := r.takeOffer(t)
	task := corral.CommandTask(offer, "hello", "echo hello from go", res(0.1, 32)...)
	if err := d.Launch(context.Background(), offer.GetId(), []*corralpb.TaskInfo{task}, nil); err != nil {
		t.Fatal(err)
	}
	r.awaitState(t, task.GetTaskId().GetValue(), corralpb.TaskState_TASK_FINISHED)
	if d.FrameworkID() == "" {
		t.Error("no framework ID after subscribing")
	}
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run after cancel = %v, want context.Canceled", err)
	}
	st, err := c.State()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, ct := range append(st.GetCompletedTasks(), st.GetTasks()...) {
		found = found || ct.GetTaskId().GetValue() == task.GetTaskId().GetValue()
	}
	if !found {
		t.Errorf("the master does not know task %s", task.GetTaskId().GetValue())
	}
}

// A handler that fails aborts the driver before the update is
// acknowledged: Run returns the error and the master sends the same update
// (same uuid) to the framework's next driver.
func TestAFailingHandlerLeavesItsUpdateUnacknowledged(t *testing.T) {
	c := corraltest.Start(t, corraltest.Agents(1))
	for _, mode := range []string{"error", "panic"} {
		t.Run(mode, func(t *testing.T) {
			fw := corral.FrameworkInfo("go-failover-" + mode)
			fw.FailoverTimeout = proto.Float64(60)
			boom := errors.New("boom")
			first := newRecorder()
			first.onUpdate = func(d *corral.SchedulerDriver, s *corralpb.TaskStatus) error {
				if s.GetState() == corralpb.TaskState_TASK_FINISHED {
					if mode == "panic" {
						panic("boom")
					}
					return boom
				}
				return nil
			}
			d, err := corral.NewSchedulerDriver(first, fw, c.Master())
			if err != nil {
				t.Fatal(err)
			}
			_, done := runDriver(d)
			offer := first.takeOffer(t)
			task := corral.CommandTask(offer, "once", "true", res(0.1, 32)...)
			if err := d.Launch(context.Background(), offer.GetId(), []*corralpb.TaskInfo{task}, nil); err != nil {
				t.Fatal(err)
			}
			failed := first.awaitState(t, task.GetTaskId().GetValue(), corralpb.TaskState_TASK_FINISHED)
			var runErr error
			select {
			case runErr = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("Run did not return after the handler failed")
			}
			var he *corral.HandlerError
			if !errors.As(runErr, &he) || he.Event != "UPDATE" {
				t.Fatalf("Run = %v, want a *HandlerError for UPDATE", runErr)
			}
			var pe *corral.PanicError
			if mode == "error" && !errors.Is(runErr, boom) {
				t.Errorf("Run = %v, want it to wrap the handler's error", runErr)
			}
			if mode == "panic" && (!errors.As(runErr, &pe) || pe.Value != "boom" || len(pe.Stack) == 0) {
				t.Errorf("Run = %v, want a *PanicError with the value and a stack", runErr)
			}
			if d.Status() != corral.DriverAborted {
				t.Errorf("status %v, want ABORTED", d.Status())
			}
			id := d.FrameworkID()
			d.Close()

			second := newRecorder()
			fw.Id = &corralpb.FrameworkID{Value: proto.String(id)}
			d2, err := corral.NewSchedulerDriver(second, fw, c.Master())
			if err != nil {
				t.Fatal(err)
			}
			defer d2.Close()
			stop2, _ := runDriver(d2)
			resent := second.awaitState(t, task.GetTaskId().GetValue(), corralpb.TaskState_TASK_FINISHED)
			if !bytes.Equal(resent.GetUuid(), failed.GetUuid()) {
				t.Errorf("resent update has uuid %x, want %x", resent.GetUuid(), failed.GetUuid())
			}
			stop2()
		})
	}
}

// closer closes its driver from inside the Subscribed handler.
type closer struct {
	corral.BaseScheduler
	closed chan struct{}
}

func (c *closer) Subscribed(ctx context.Context, d *corral.SchedulerDriver, id *corralpb.FrameworkID, m *corralpb.MasterInfo) error {
	d.Close()
	d.Close()
	close(c.closed)
	return nil
}

func TestCloseInsideAHandlerAndFromAnotherGoroutine(t *testing.T) {
	c := corraltest.Start(t, corraltest.Agents(1))
	ctx := context.Background()

	cl := &closer{closed: make(chan struct{})}
	d, err := corral.NewSchedulerDriver(cl, corral.FrameworkInfo("go-close-inside"), c.Master())
	if err != nil {
		t.Fatal(err)
	}
	runErr := make(chan error, 1)
	go func() { runErr <- d.Run(ctx) }()
	select {
	case <-cl.closed:
	case <-time.After(30 * time.Second):
		t.Fatal("never subscribed")
	}
	if err := <-runErr; err != nil {
		t.Errorf("Run after Close inside a handler = %v, want nil", err)
	}
	select {
	case <-d.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the native side never finished closing")
	}
	if err := d.Suppress(ctx); !errors.Is(err, corral.ErrClosed) {
		t.Errorf("call after Close = %v, want ErrClosed", err)
	}

	// From other goroutines, while calls are made, more than once.
	r := newRecorder()
	d2, err := corral.NewSchedulerDriver(r, corral.FrameworkInfo("go-close-outside"), c.Master())
	if err != nil {
		t.Fatal(err)
	}
	_, done := runDriver(d2)
	r.await(t, "subscribed", func() bool { return r.subscribed })
	var wg sync.WaitGroup
	var afterClose atomic.Int32
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if i%2 == 0 {
				d2.Close()
				return
			}
			for j := 0; j < 50; j++ {
				if err := d2.Revive(ctx); err != nil {
					var ce *corral.Error
					if !errors.As(err, &ce) {
						t.Errorf("call error %v is not a *corral.Error", err)
					}
					if errors.Is(err, corral.ErrClosed) {
						afterClose.Add(1)
					}
				}
			}
		}(i)
	}
	wg.Wait()
	if err := <-done; err != nil {
		t.Errorf("Run after Close = %v, want nil", err)
	}
	if err := d2.Revive(ctx); !errors.Is(err, corral.ErrClosed) {
		t.Errorf("call after Close = %v, want ErrClosed", err)
	}
	if err := d2.Start(); !errors.Is(err, corral.ErrClosed) {
		t.Errorf("Start after Close = %v, want ErrClosed", err)
	}
}

func TestCallsHonourTheirContext(t *testing.T) {
	// Nothing listens on the master's address, so calls wait for a
	// connection that never comes.
	d, err := corral.NewSchedulerDriver(newRecorder(), corral.FrameworkInfo("go-ctx"), "127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := d.Suppress(cancelled); !errors.Is(err, context.Canceled) {
		t.Errorf("call with a cancelled ctx = %v, want context.Canceled", err)
	}
	ctx, cancel2 := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel2()
	start := time.Now()
	err = d.Suppress(ctx)
	if err == nil {
		t.Fatal("a call without a master succeeded")
	}
	took := time.Since(start)
	t.Logf("a call without a master: %v after %v", err, took)
	if took > 5*time.Second {
		t.Errorf("the call took %v with a 200 ms ctx", took)
	}
	var ce *corral.Error
	if !errors.Is(err, context.DeadlineExceeded) && !errors.As(err, &ce) {
		t.Errorf("call = %v, want DeadlineExceeded or a *corral.Error", err)
	}
}

func TestTheMastersVerdictIsAnError(t *testing.T) {
	c := corraltest.Start(t, corraltest.Agents(1))
	r := newRecorder()
	d, err := corral.NewSchedulerDriver(r, corral.FrameworkInfo("go-verdict"), c.Master())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	stop, _ := runDriver(d)
	defer stop()
	r.await(t, "subscribed", func() bool { return r.subscribed })
	err = d.Call(context.Background(), &schedulerpb.Call{Type: schedulerpb.Call_ACKNOWLEDGE.Enum()})
	var ce *corral.Error
	if !errors.As(err, &ce) || ce.Code != corral.InvalidArgument || ce.Message == "" {
		t.Fatalf("ACKNOWLEDGE without a body = %v, want an INVALID_ARGUMENT *corral.Error", err)
	}
	if !errors.Is(err, &corral.Error{Code: corral.InvalidArgument}) {
		t.Errorf("errors.Is by code failed for %v", err)
	}

	// A ctx cancelled while calls are in flight: each call answers the
	// master's verdict or ctx.Err(), and every call after it ctx.Err().
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	cancelledCalls := 0
	for i := 0; i < 2000 && cancelledCalls < 10; i++ {
		if i == 5 {
			wg.Add(1)
			go func() { defer wg.Done(); cancel() }() // lands while a call is in flight
		}
		err := d.Revive(ctx)
		switch {
		case err == nil:
		case errors.Is(err, context.Canceled):
			cancelledCalls++
		default:
			t.Fatalf("call during cancellation = %v", err)
		}
	}
	wg.Wait()
	if err := d.Revive(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("call with a cancelled ctx = %v", err)
	}
	if err := d.Revive(context.Background()); err != nil {
		t.Errorf("the driver is unusable after a cancelled call: %v", err)
	}
	if _, err := corral.NewSchedulerDriver(nil, corral.FrameworkInfo("x"), c.Master()); err == nil {
		t.Error("a nil scheduler was accepted")
	}
}

// The Scheduler is reachable only through the driver while events flow
// and the GC runs; after Close nothing keeps it.
func TestTheSchedulerIsCollectedAfterClose(t *testing.T) {
	c := corraltest.Start(t, corraltest.Agents(2), corraltest.AllocationInterval(5*time.Millisecond))
	var offers atomic.Int64
	collected := make(chan struct{})
	d := func() *corral.SchedulerDriver {
		s := &decliner{count: &offers}
		runtime.SetFinalizer(s, func(*decliner) { close(collected) })
		d, err := corral.NewSchedulerDriver(s, corral.FrameworkInfo("go-gc"), c.Master())
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Start(); err != nil {
			t.Fatal(err)
		}
		return d
	}()
	deadline := time.Now().Add(30 * time.Second)
	for offers.Load() < 200 && time.Now().Before(deadline) {
		runtime.GC()
	}
	if offers.Load() < 200 {
		t.Fatalf("only %d offers arrived", offers.Load())
	}
	d.Close()
	<-d.Done()
	d = nil
	for {
		runtime.GC()
		select {
		case <-collected:
			return
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the scheduler was never collected after Close")
		}
	}
}

type decliner struct {
	corral.BaseScheduler
	count *atomic.Int64
}

func (s *decliner) Offers(ctx context.Context, d *corral.SchedulerDriver, offers []*corralpb.Offer) error {
	ids := make([]*corralpb.OfferID, len(offers))
	for i, o := range offers {
		ids[i] = o.GetId()
	}
	s.count.Add(int64(len(offers)))
	return d.Decline(ctx, ids, corral.RefuseFor(0))
}

func TestFiftyDriversStartAndStopConcurrently(t *testing.T) {
	c := corraltest.Start(t, corraltest.Agents(1))
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := newRecorder()
			d, err := corral.NewSchedulerDriver(r, corral.FrameworkInfo("go-many"), c.Master())
			if err != nil {
				errs <- err
				return
			}
			defer d.Close()
			stop, _ := runDriver(d)
			r.await(t, "subscribed", func() bool { return r.subscribed })
			if err := stop(); !errors.Is(err, context.Canceled) {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestAnOfferWithThousandsOfResources(t *testing.T) {
	resources := "cpus:4;mem:4096"
	for i := 0; i < 3000; i++ {
		resources += ";gadget" + strconv.Itoa(i) + ":1"
	}
	c := corraltest.Start(t, corraltest.Agents(1), corraltest.AgentResources(resources))
	r := newRecorder()
	d, err := corral.NewSchedulerDriver(r, corral.FrameworkInfo("go-large"), c.Master())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	stop, _ := runDriver(d)
	defer stop()
	offer := r.takeOffer(t)
	if n := len(offer.GetResources()); n < 3002 {
		t.Fatalf("offer has %d resources", n)
	}
	last := false
	for _, x := range offer.GetResources() {
		last = last || x.GetName() == "gadget2999"
	}
	if !last {
		t.Error("gadget2999 is not in the offer")
	}
}

// A Go executor, started by the agent, gets 4 MiB framework messages of
// arbitrary bytes (NUL, invalid UTF-8) and sends them back unchanged.
func TestFourMebibyteMessagesBothWays(t *testing.T) {
	c := corraltest.Start(t, corraltest.Agents(1))
	r := newRecorder()
	d, err := corral.NewSchedulerDriver(r, corral.FrameworkInfo("go-messages"), c.Master())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	stop, _ := runDriver(d)
	defer stop()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	offer := r.takeOffer(t)
	exec := corral.ExecutorInfo("echo", "exec "+self, res(0.1, 64)...)
	exec.Command.Environment = &corralpb.Environment{Variables: []*corralpb.Environment_Variable{
		{Name: proto.String("CORRAL_GO_TEST_EXECUTOR"), Value: proto.String("1")}}}
	task := corral.ExecutorTask(offer, "echo", exec, nil, res(0.1, 32)...)
	ctx := context.Background()
	if err := d.Launch(ctx, offer.GetId(), []*corralpb.TaskInfo{task}, nil); err != nil {
		t.Fatal(err)
	}
	r.awaitState(t, task.GetTaskId().GetValue(), corralpb.TaskState_TASK_RUNNING)
	payload := make([]byte, 4<<20)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	copy(payload, []byte{0, 0xff, 0xfe, 0xc3, 0x28, 0})
	if err := d.Message(ctx, offer.GetAgentId(), exec.GetExecutorId(), payload); err != nil {
		t.Fatal(err)
	}
	small := []byte("a\x00b\xff")
	if err := d.Message(ctx, offer.GetAgentId(), exec.GetExecutorId(), small); err != nil {
		t.Fatal(err)
	}
	r.await(t, "two messages back", func() bool { return len(r.messages) >= 2 })
	r.mu.Lock()
	got := r.messages
	r.mu.Unlock()
	if !bytes.Equal(got[0], payload) || !bytes.Equal(got[1], small) {
		t.Errorf("messages came back changed (%d and %d bytes)", len(got[0]), len(got[1]))
	}
	if err := d.Kill(ctx, task.GetTaskId(), offer.GetAgentId()); err != nil {
		t.Fatal(err)
	}
	r.awaitState(t, task.GetTaskId().GetValue(), corralpb.TaskState_TASK_KILLED)
}

func TestAMalformedZooKeeperURLIsRefusedAtStart(t *testing.T) {
	d, err := corral.NewSchedulerDriver(&corral.BaseScheduler{}, corral.FrameworkInfo("zk"), "zk://h1:2181")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	err = d.Start()
	var ce *corral.Error
	if !errors.As(err, &ce) || ce.Code != corral.InvalidArgument || !strings.Contains(ce.Message, "zk://h1:2181") {
		t.Fatalf("Start with a zk:// URL without a path: got %v, want InvalidArgument naming the URL", err)
	}
}

// The credential reaches the C++ SDK, which checks it before it connects
// (the master's side is tests/security_test.cc).
func TestACredentialNeedsAPrincipal(t *testing.T) {
	d, err := corral.NewSchedulerDriver(&corral.BaseScheduler{}, corral.FrameworkInfo("auth"), "127.0.0.1:1",
		corral.WithCredential("", "a-secret"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	err = d.Start()
	var ce *corral.Error
	if !errors.As(err, &ce) || ce.Code != corral.InvalidArgument || ce.Message != "a secret was given without a principal" {
		t.Fatalf("Start with a secret alone: got %v, want InvalidArgument", err)
	}
}
