package corral

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/corral/corral/bindings/go/internal/native"
)

// The binding layer's contract this package was written against.
const bindingVersion = 1

// Events reach Go through one SWIG director for the whole process, made
// once and never freed; each event names the driver it is for. The
// registry holds a driver from its construction to the native OnClosed,
// the last call for it, and is the only reference the native side implies:
// after Close the driver, its handler and everything they reach can be
// collected, with nothing left pinned in SWIG's director table.
type eventTarget interface {
	onEvent(data string) bool
	onDisconnected() bool
	onClosed()
}

var (
	registry     sync.Map // int64 -> eventTarget
	nextDriverID atomic.Int64
	setupOnce    sync.Once
	setupErr     error
)

type dispatcher struct{}

func (dispatcher) OnEvent(id int64, event string) bool {
	t, ok := registry.Load(id)
	return ok && t.(eventTarget).onEvent(event)
}

func (dispatcher) OnDisconnected(id int64) bool {
	t, ok := registry.Load(id)
	return ok && t.(eventTarget).onDisconnected()
}

func (dispatcher) OnClosed(id int64) {
	if t, ok := registry.LoadAndDelete(id); ok {
		t.(eventTarget).onClosed()
	}
}

func setup() error {
	setupOnce.Do(func() {
		if v := native.BindingVersion(); v != bindingVersion {
			setupErr = fmt.Errorf("corral: the native library speaks binding version %d, this package %d: "+
				"build the Go SDK against the libcorral_go of its own Corral version", v, bindingVersion)
			return
		}
		native.SetDispatcher(native.NewDirectorDispatcher(dispatcher{}))
	})
	return setupErr
}

func register(t eventTarget) int64 {
	id := nextDriverID.Add(1)
	registry.Store(id, t)
	return id
}

// Version is Corral's version, as the native library reports it.
func Version() string { return native.CorralVersion() }

// handle guards a native driver object: calls hold it, Close marks it
// closed, and the last of them frees it, so no call ever runs on a freed
// object and calls after Close get ErrClosed.
type handle[T any] struct {
	mu     sync.Mutex
	obj    T
	closed bool
	users  int
	free   func(T)
}

func (h *handle[T]) acquire() (T, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		var zero T
		return zero, false
	}
	h.users++
	return h.obj, true
}

func (h *handle[T]) release() {
	h.mu.Lock()
	h.users--
	last := h.closed && h.users == 0
	h.mu.Unlock()
	if last {
		h.free(h.obj)
	}
}

// close runs closing on the object (still held), then frees it once no
// call holds it; false if it was closed already.
func (h *handle[T]) close(closing func(T)) bool {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return false
	}
	h.closed = true
	h.users++
	h.mu.Unlock()
	closing(h.obj)
	h.release()
	return true
}
