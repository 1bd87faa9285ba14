package corral

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"sync"
	"time"
	"unsafe"

	"github.com/corral/corral/bindings/go/corralpb"
	"github.com/corral/corral/bindings/go/corralpb/schedulerpb"
	"github.com/corral/corral/bindings/go/internal/native"
	"google.golang.org/protobuf/proto"
)

// Scheduler receives a framework's events. Embed BaseScheduler and
// implement what you need. Every method runs on the driver's callback
// thread, one at a time, with the context of Run (cancelled when Run's is).
// Returning an error, or panicking, aborts the driver before it
// acknowledges the update the event carried; Run returns a *HandlerError.
type Scheduler interface {
	Subscribed(ctx context.Context, d *SchedulerDriver, frameworkID *corralpb.FrameworkID, master *corralpb.MasterInfo) error
	Offers(ctx context.Context, d *SchedulerDriver, offers []*corralpb.Offer) error
	Rescinded(ctx context.Context, d *SchedulerDriver, offerID *corralpb.OfferID) error
	InverseOffers(ctx context.Context, d *SchedulerDriver, inverseOffers []*corralpb.InverseOffer) error
	RescindedInverseOffer(ctx context.Context, d *SchedulerDriver, inverseOfferID *corralpb.OfferID) error
	Update(ctx context.Context, d *SchedulerDriver, status *corralpb.TaskStatus) error
	Message(ctx context.Context, d *SchedulerDriver, agentID *corralpb.AgentID, executorID *corralpb.ExecutorID, data []byte) error
	// status is nil when the executor's exit status is not known.
	Failure(ctx context.Context, d *SchedulerDriver, agentID *corralpb.AgentID, executorID *corralpb.ExecutorID, status *int32) error
	Error(ctx context.Context, d *SchedulerDriver, message string) error
	// The connection to the master dropped; the driver reconnects by itself.
	Disconnected(ctx context.Context, d *SchedulerDriver) error
}

// BaseScheduler implements every Scheduler method as doing nothing.
type BaseScheduler struct{}

func (BaseScheduler) Subscribed(context.Context, *SchedulerDriver, *corralpb.FrameworkID, *corralpb.MasterInfo) error {
	return nil
}
func (BaseScheduler) Offers(context.Context, *SchedulerDriver, []*corralpb.Offer) error { return nil }
func (BaseScheduler) Rescinded(context.Context, *SchedulerDriver, *corralpb.OfferID) error {
	return nil
}
func (BaseScheduler) InverseOffers(context.Context, *SchedulerDriver, []*corralpb.InverseOffer) error {
	return nil
}
func (BaseScheduler) RescindedInverseOffer(context.Context, *SchedulerDriver, *corralpb.OfferID) error {
	return nil
}
func (BaseScheduler) Update(context.Context, *SchedulerDriver, *corralpb.TaskStatus) error {
	return nil
}
func (BaseScheduler) Message(context.Context, *SchedulerDriver, *corralpb.AgentID, *corralpb.ExecutorID, []byte) error {
	return nil
}
func (BaseScheduler) Failure(context.Context, *SchedulerDriver, *corralpb.AgentID, *corralpb.ExecutorID, *int32) error {
	return nil
}
func (BaseScheduler) Error(context.Context, *SchedulerDriver, string) error { return nil }
func (BaseScheduler) Disconnected(context.Context, *SchedulerDriver) error  { return nil }

// DriverStatus is a driver's state, as the C++ SDK's.
type DriverStatus int

const (
	DriverNotStarted DriverStatus = 0
	DriverRunning    DriverStatus = 1
	DriverAborted    DriverStatus = 2
	DriverStopped    DriverStatus = 3
)

func (s DriverStatus) String() string {
	switch s {
	case DriverNotStarted:
		return "NOT_STARTED"
	case DriverRunning:
		return "RUNNING"
	case DriverAborted:
		return "ABORTED"
	case DriverStopped:
		return "STOPPED"
	}
	return fmt.Sprintf("DriverStatus(%d)", int(s))
}

type schedulerOptions struct {
	implicitAcks bool
	backoffMin   time.Duration
	backoffMax   time.Duration
	callTimeout  time.Duration
	principal    string
	secret       string
	tls          bool
	tlsCAFile    string
	tlsCertFile  string
	tlsKeyFile   string
}

// SchedulerOption configures NewSchedulerDriver.
type SchedulerOption func(*schedulerOptions)

// WithExplicitAcknowledgements leaves acknowledging updates to the
// framework (SchedulerDriver.Acknowledge), as Mesos's explicit acks.
func WithExplicitAcknowledgements() SchedulerOption {
	return func(o *schedulerOptions) { o.implicitAcks = false }
}

// WithReconnectBackoff bounds the wait between reconnection attempts.
func WithReconnectBackoff(min, max time.Duration) SchedulerOption {
	return func(o *schedulerOptions) { o.backoffMin, o.backoffMax = min, max }
}

// WithCallTimeout bounds how long a call waits for the master (default 30 s).
func WithCallTimeout(d time.Duration) SchedulerOption {
	return func(o *schedulerOptions) { o.callTimeout = d }
}

// WithCredential authenticates the framework where the master requires it
// (--authenticate_frameworks). Without it the driver reads CORRAL_PRINCIPAL
// and CORRAL_SECRET, or the file CORRAL_CREDENTIAL names. An empty
// FrameworkInfo.principal is filled with the principal.
func WithCredential(principal, secret string) SchedulerOption {
	return func(o *schedulerOptions) { o.principal, o.secret = principal, secret }
}

// WithTLS reaches the master over TLS: its certificate is verified against
// caFile (empty: the system's CAs) and the host dialled, and certFile with
// keyFile (both or neither) are the client certificate a master with
// --ssl_require_cert asks for. Without it the driver follows
// LIBPROCESS_SSL_ENABLED, LIBPROCESS_SSL_CA_FILE, LIBPROCESS_SSL_CERT_FILE
// and LIBPROCESS_SSL_KEY_FILE.
func WithTLS(caFile, certFile, keyFile string) SchedulerOption {
	return func(o *schedulerOptions) {
		o.tls, o.tlsCAFile, o.tlsCertFile, o.tlsKeyFile = true, caFile, certFile, keyFile
	}
}

// DefaultMaster is $CORRAL_MASTER, else $MESOS_MASTER, else 127.0.0.1:5050.
func DefaultMaster() string {
	if m := os.Getenv("CORRAL_MASTER"); m != "" {
		return m
	}
	if m := os.Getenv("MESOS_MASTER"); m != "" {
		return m
	}
	return "127.0.0.1:5050"
}

// SchedulerDriver connects a Scheduler to a master. Its methods may be
// called from any goroutine, handlers included. Always Close it: a driver
// that was started stays alive (and keeps its Scheduler reachable) until
// Close, like a goroutine that was never told to stop.
type SchedulerDriver struct {
	sched  Scheduler
	master string
	h      handle[native.Scheduler]
	id     int64

	mu         sync.Mutex
	ctx        context.Context
	handlerErr error
	closed     chan struct{} // closed at the native OnClosed
}

// NewSchedulerDriver makes a driver for `framework` at `master`
// ("host:port", or "zk://host:port[,...]/path" to follow the master elected
// through ZooKeeper; empty means DefaultMaster()). It does not connect until
// Start or Run; Start refuses a malformed zk:// URL.
func NewSchedulerDriver(sched Scheduler, framework *corralpb.FrameworkInfo, master string,
	opts ...SchedulerOption) (*SchedulerDriver, error) {
	if sched == nil {
		return nil, &Error{Op: "NewSchedulerDriver", Code: InvalidArgument, Message: "scheduler: must not be nil"}
	}
	if framework == nil {
		return nil, &Error{Op: "NewSchedulerDriver", Code: InvalidArgument, Message: "framework: must not be nil"}
	}
	if err := setup(); err != nil {
		return nil, err
	}
	o := schedulerOptions{implicitAcks: true, backoffMin: 100 * time.Millisecond, backoffMax: 2 * time.Second,
		callTimeout: 30 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	if master == "" {
		master = DefaultMaster()
	}
	fw, err := proto.Marshal(framework)
	if err != nil {
		return nil, &Error{Op: "NewSchedulerDriver", Code: InvalidArgument, Message: "framework: " + err.Error()}
	}
	d := &SchedulerDriver{sched: sched, master: master, ctx: context.Background(), closed: make(chan struct{})}
	d.id = register(d)
	nat := native.NewScheduler(d.id, string(fw), master, o.implicitAcks, o.backoffMin.Seconds(),
		o.backoffMax.Seconds(), o.callTimeout.Seconds(), o.principal, o.secret, o.tls, o.tlsCAFile, o.tlsCertFile,
		o.tlsKeyFile)
	d.h = handle[native.Scheduler]{obj: nat, free: native.DeleteScheduler}
	var msg string
	if code := nat.InitError(&msg); code != 0 {
		d.Close()
		return nil, answer("NewSchedulerDriver", code, msg)
	}
	return d, nil
}

// Master is the address the driver connects to.
func (d *SchedulerDriver) Master() string { return d.master }

// Scheduler is the handler the driver calls.
func (d *SchedulerDriver) Scheduler() Scheduler { return d.sched }

func (d *SchedulerDriver) with(op string, fn func(native.Scheduler, *string) int) error {
	nat, ok := d.h.acquire()
	if !ok {
		return &Error{Op: op, Code: FailedPrecondition, Message: closedMessage}
	}
	defer d.h.release()
	var msg string
	return answer(op, fn(nat, &msg), msg)
}

// Start connects and subscribes; events follow on the driver's thread.
func (d *SchedulerDriver) Start() error {
	return d.with("start", func(n native.Scheduler, m *string) int { return n.Start(m) })
}

// Stop stops the driver. With failover the framework stays registered, for
// a new driver with the same framework ID to take over (Mesos's failover);
// without, it is torn down and its tasks killed.
func (d *SchedulerDriver) Stop(failover bool) error {
	return d.with("stop", func(n native.Scheduler, m *string) int { return n.Stop(failover, m) })
}

// Abort stops the driver at once, as after a failed handler.
func (d *SchedulerDriver) Abort() error {
	return d.with("abort", func(n native.Scheduler, m *string) int { return n.Abort(m) })
}

// Status is the driver's state.
func (d *SchedulerDriver) Status() DriverStatus {
	nat, ok := d.h.acquire()
	if !ok {
		return DriverStopped
	}
	defer d.h.release()
	return DriverStatus(nat.Status())
}

// FrameworkID is the framework's ID once subscribed, else "".
func (d *SchedulerDriver) FrameworkID() string {
	nat, ok := d.h.acquire()
	if !ok {
		return ""
	}
	defer d.h.release()
	return nat.FrameworkId()
}

// Run starts the driver (unless started) and waits until it stops:
//   - ctx cancelled: the driver stops with failover and Run returns ctx.Err();
//   - a handler failed: a *HandlerError;
//   - the driver stopped or aborted for another reason: nil or an *Error.
//
// Handlers get ctx. Close the driver after Run returns.
func (d *SchedulerDriver) Run(ctx context.Context) error {
	d.mu.Lock()
	d.ctx = ctx
	d.mu.Unlock()
	if d.Status() == DriverNotStarted {
		if err := d.Start(); err != nil {
			return err
		}
	}
	done := make(chan error, 1)
	go func() { done <- d.join() }()
	select {
	case err := <-done:
		return d.outcome(err)
	case <-ctx.Done():
		_ = d.Stop(true)
		<-done
		return ctx.Err()
	}
}

// Wait waits until the driver stops, as Run does without starting it.
func (d *SchedulerDriver) Wait(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- d.join() }()
	select {
	case err := <-done:
		return d.outcome(err)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (d *SchedulerDriver) join() error {
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

func (d *SchedulerDriver) outcome(err error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.handlerErr != nil {
		return d.handlerErr
	}
	return err
}

// Close stops the driver (with failover, unless stopped already) and frees
// it. It may be called from a handler, from any goroutine and more than
// once; calls after it return ErrClosed.
func (d *SchedulerDriver) Close() error {
	d.h.close(func(n native.Scheduler) {
		var msg string
		n.Stop(true, &msg)
		n.Close()
	})
	return nil
}

// Done is closed when the native side is done with the driver (after Close).
func (d *SchedulerDriver) Done() <-chan struct{} { return d.closed }

// --- events -------------------------------------------------------------------

func (d *SchedulerDriver) onDisconnected() bool {
	return d.handle("DISCONNECTED", func(ctx context.Context) error { return d.sched.Disconnected(ctx, d) })
}

func (d *SchedulerDriver) onClosed() { close(d.closed) }

func (d *SchedulerDriver) onEvent(data string) bool {
	ev := &schedulerpb.Event{}
	if err := proto.Unmarshal(unsafe.Slice(unsafe.StringData(data), len(data)), ev); err != nil {
		d.fail(&HandlerError{Event: "UNKNOWN", Err: fmt.Errorf("an event that does not parse: %w", err)})
		return false
	}
	s := d.sched
	switch ev.GetType() {
	case schedulerpb.Event_SUBSCRIBED:
		e := ev.GetSubscribed()
		return d.handle("SUBSCRIBED", func(ctx context.Context) error {
			return s.Subscribed(ctx, d, e.GetFrameworkId(), e.GetMasterInfo())
		})
	case schedulerpb.Event_OFFERS:
		return d.handle("OFFERS", func(ctx context.Context) error { return s.Offers(ctx, d, ev.GetOffers().GetOffers()) })
	case schedulerpb.Event_RESCIND:
		return d.handle("RESCIND", func(ctx context.Context) error {
			return s.Rescinded(ctx, d, ev.GetRescind().GetOfferId())
		})
	case schedulerpb.Event_INVERSE_OFFERS:
		return d.handle("INVERSE_OFFERS", func(ctx context.Context) error {
			return s.InverseOffers(ctx, d, ev.GetInverseOffers().GetInverseOffers())
		})
	case schedulerpb.Event_RESCIND_INVERSE_OFFER:
		return d.handle("RESCIND_INVERSE_OFFER", func(ctx context.Context) error {
			return s.RescindedInverseOffer(ctx, d, ev.GetRescindInverseOffer().GetInverseOfferId())
		})
	case schedulerpb.Event_UPDATE:
		return d.handle("UPDATE", func(ctx context.Context) error { return s.Update(ctx, d, ev.GetUpdate().GetStatus()) })
	case schedulerpb.Event_MESSAGE:
		m := ev.GetMessage()
		return d.handle("MESSAGE", func(ctx context.Context) error {
			return s.Message(ctx, d, m.GetAgentId(), m.GetExecutorId(), m.GetData())
		})
	case schedulerpb.Event_FAILURE:
		f := ev.GetFailure()
		var status *int32
		if f.Status != nil {
			v := f.GetStatus()
			status = &v
		}
		return d.handle("FAILURE", func(ctx context.Context) error {
			return s.Failure(ctx, d, f.GetAgentId(), f.GetExecutorId(), status)
		})
	case schedulerpb.Event_ERROR:
		return d.handle("ERROR", func(ctx context.Context) error { return s.Error(ctx, d, ev.GetError().GetMessage()) })
	}
	return true // an event type this SDK does not know yet
}

func (d *SchedulerDriver) handle(event string, fn func(context.Context) error) bool {
	d.mu.Lock()
	ctx := d.ctx
	d.mu.Unlock()
	if err := protect(fn, ctx); err != nil {
		d.fail(&HandlerError{Event: event, Err: err})
		return false
	}
	return true
}

func (d *SchedulerDriver) fail(err error) {
	d.mu.Lock()
	if d.handlerErr == nil {
		d.handlerErr = err
	}
	d.mu.Unlock()
}

// protect runs a handler, turning a panic into a *PanicError.
func protect(fn func(context.Context) error, ctx context.Context) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: r, Stack: debug.Stack()}
		}
	}()
	return fn(ctx)
}
