package corral_test

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/corral/corral/bindings/go/corral"
	"github.com/corral/corral/bindings/go/corralpb"
	"github.com/corral/corral/bindings/go/corraltest"
)

// certs makes a CA, a server and a client certificate for the test
// (tests/tls/make_certs.sh).
func certs(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("bash", filepath.Join("..", "..", "..", "tests", "tls", "make_certs.sh"), dir).CombinedOutput()
	if err != nil {
		t.Fatalf("make_certs.sh: %v: %s", err, out)
	}
	return dir
}

// A cluster that requires client certificates of its CA: a driver with
// WithTLS runs a task over mutual TLS.
func TestLaunchOverMutualTLS(t *testing.T) {
	dir := certs(t)
	file := func(name string) string { return filepath.Join(dir, name) }
	c := corraltest.Start(t, corraltest.Agents(1),
		corraltest.TLS(file("server.crt"), file("server.key"), file("ca.crt"), true))
	r := newRecorder()
	d, err := corral.NewSchedulerDriver(r, corral.FrameworkInfo("go-tls"), c.Master(),
		corral.WithTLS(file("ca.crt"), file("client.crt"), file("client.key")))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	stop, _ := runDriver(d)
	offer := r.takeOffer(t)
	task := corral.CommandTask(offer, "over-tls", "echo over tls", res(0.1, 32)...)
	if err := d.Launch(context.Background(), offer.GetId(), []*corralpb.TaskInfo{task}, nil); err != nil {
		t.Fatal(err)
	}
	r.awaitState(t, task.GetTaskId().GetValue(), corralpb.TaskState_TASK_FINISHED)
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run after cancel = %v, want context.Canceled", err)
	}
}

// Without WithTLS the driver follows LIBPROCESS_SSL_*, as Mesos's
// libraries do; a malformed value is an error naming the variable.
func TestTLSFromTheEnvironment(t *testing.T) {
	dir := certs(t)
	file := func(name string) string { return filepath.Join(dir, name) }
	c := corraltest.Start(t, corraltest.Agents(1),
		corraltest.TLS(file("server.crt"), file("server.key"), file("ca.crt"), true))
	t.Setenv("LIBPROCESS_SSL_ENABLED", "true")
	t.Setenv("LIBPROCESS_SSL_CA_FILE", file("ca.crt"))
	t.Setenv("LIBPROCESS_SSL_CERT_FILE", file("client.crt"))
	t.Setenv("LIBPROCESS_SSL_KEY_FILE", file("client.key"))
	r := newRecorder()
	d, err := corral.NewSchedulerDriver(r, corral.FrameworkInfo("go-tls-env"), c.Master())
	if err != nil {
		t.Fatal(err)
	}
	stop, _ := runDriver(d)
	r.takeOffer(t)
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run after cancel = %v, want context.Canceled", err)
	}
	d.Close()

	t.Setenv("LIBPROCESS_SSL_ENABLED", "maybe")
	bad, err := corral.NewSchedulerDriver(newRecorder(), corral.FrameworkInfo("go-tls-bad"), c.Master())
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	var e *corral.Error
	if err := bad.Start(); !errors.As(err, &e) || e.Code != corral.InvalidArgument ||
		!strings.Contains(e.Message, "LIBPROCESS_SSL_ENABLED='maybe' is not a boolean") {
		t.Fatalf("Start = %v, want InvalidArgument naming LIBPROCESS_SSL_ENABLED", err)
	}
}
