// Package corraltest runs a whole Corral cluster (a master and agents) in
// the test's own process, for testing frameworks and executors written
// with package corral:
//
//	c := corraltest.Start(t, corraltest.Agents(2))
//	d, err := corral.NewSchedulerDriver(sched, corral.FrameworkInfo("test"), c.Master())
//
// The cluster stops when the test ends (t.Cleanup).
package corraltest

import (
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/corral/corral/bindings/go/corralpb/internalpb"
	"github.com/corral/corral/bindings/go/corraltest/internal/clusternative"
	"google.golang.org/protobuf/proto"
)

type options struct {
	agents             int
	resources          string
	workDir            string
	launcherDir        string
	offerTimeout       time.Duration
	allocationInterval time.Duration
	logLevel           string
	tlsCert, tlsKey    string
	tlsCA              string
	tlsRequireCert     bool
}

// Option configures a cluster.
type Option func(*options)

// Agents is how many agents start with the master (default 2).
func Agents(n int) Option { return func(o *options) { o.agents = n } }

// AgentResources are each agent's resources, as corral-agent's --resources
// ("cpus:4;mem:4096;ports:[31000-32000]").
func AgentResources(r string) Option { return func(o *options) { o.resources = r } }

// WorkDir keeps the cluster's state there (default: a new temporary directory).
func WorkDir(dir string) Option { return func(o *options) { o.workDir = dir } }

// AllocationInterval is how often the master makes offers (default 1 s; tests often want less).
func AllocationInterval(d time.Duration) Option { return func(o *options) { o.allocationInterval = d } }

// OfferTimeout rescinds offers held longer (default: never).
func OfferTimeout(d time.Duration) Option { return func(o *options) { o.offerTimeout = d } }

// LogLevel is the cluster's: debug, info, warning (default) or error.
func LogLevel(level string) Option { return func(o *options) { o.logLevel = level } }

// TLS serves the master's and agents' ports over TLS with certFile and
// keyFile, as their --ssl_cert_file and --ssl_key_file; caFile verifies
// client certificates, which requireCert makes every client show.
func TLS(certFile, keyFile, caFile string, requireCert bool) Option {
	return func(o *options) {
		o.tlsCert, o.tlsKey, o.tlsCA, o.tlsRequireCert = certFile, keyFile, caFile, requireCert
	}
}

// Cluster is a running in-process cluster. Its methods may be called from
// any goroutine.
type Cluster struct {
	mu  sync.Mutex
	nat clusternative.Cluster
}

// New starts a cluster and waits for its agents; Stop it when done.
func New(opts ...Option) (*Cluster, error) {
	o := options{agents: 2, allocationInterval: time.Second, logLevel: "warning",
		launcherDir: os.Getenv("CORRAL_LAUNCHER_DIR")}
	for _, opt := range opts {
		opt(&o)
	}
	nat := clusternative.NewCluster()
	nat.SetTls(o.tlsCert, o.tlsKey, o.tlsCA, o.tlsRequireCert)
	var msg string
	if code := nat.Start(o.agents, o.resources, o.workDir, o.launcherDir, o.offerTimeout.Seconds(),
		o.allocationInterval.Seconds(), o.logLevel, &msg); code != 0 {
		clusternative.DeleteCluster(nat)
		return nil, fmt.Errorf("corraltest: starting the cluster: %s", msg)
	}
	c := &Cluster{nat: nat}
	if err := c.WaitForAgents(30 * time.Second); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// Start starts a cluster for the test and stops it when the test ends.
func Start(t testing.TB, opts ...Option) *Cluster {
	t.Helper()
	c, err := New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	return c
}

// Master is the master's address ("127.0.0.1:port"), for NewSchedulerDriver.
func (c *Cluster) Master() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nat == nil {
		return ""
	}
	return c.nat.Master()
}

// WorkDir is where the cluster keeps its state.
func (c *Cluster) WorkDir() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nat == nil {
		return ""
	}
	return c.nat.WorkDir()
}

func (c *Cluster) running() (clusternative.Cluster, error) {
	if c.nat == nil {
		return nil, fmt.Errorf("corraltest: the cluster is stopped")
	}
	return c.nat, nil
}

// WaitForAgents waits until every agent has registered.
func (c *Cluster) WaitForAgents(timeout time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	nat, err := c.running()
	if err != nil {
		return err
	}
	var msg string
	if code := nat.WaitForAgents(timeout.Seconds(), &msg); code != 0 {
		return fmt.Errorf("corraltest: waiting for agents: %s", msg)
	}
	return nil
}

// AddAgent starts one more agent (resources "" = the cluster's default)
// and answers its index.
func (c *Cluster) AddAgent(resources string) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	nat, err := c.running()
	if err != nil {
		return -1, err
	}
	var msg string
	i := nat.AddAgent(resources, &msg)
	if i < 0 {
		return -1, fmt.Errorf("corraltest: adding an agent: %s", msg)
	}
	return i, nil
}

// StopAgent stops agent `index` (its tasks go with it).
func (c *Cluster) StopAgent(index int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	nat, err := c.running()
	if err != nil {
		return err
	}
	var msg string
	if code := nat.StopAgent(index, &msg); code != 0 {
		return fmt.Errorf("corraltest: stopping agent %d: %s", index, msg)
	}
	return nil
}

// State is the master's view of the cluster: frameworks, agents, tasks.
func (c *Cluster) State() (*internalpb.ClusterState, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	nat, err := c.running()
	if err != nil {
		return nil, err
	}
	var b, msg string
	if code := nat.State(&b, &msg); code != 0 {
		return nil, fmt.Errorf("corraltest: reading the state: %s", msg)
	}
	st := &internalpb.ClusterState{}
	if err := proto.Unmarshal([]byte(b), st); err != nil {
		return nil, fmt.Errorf("corraltest: reading the state: %w", err)
	}
	return st, nil
}

// Stop shuts the cluster down; safe to call more than once.
func (c *Cluster) Stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nat == nil {
		return
	}
	c.nat.Shutdown()
	clusternative.DeleteCluster(c.nat)
	c.nat = nil
}
