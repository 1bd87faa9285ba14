// sdkbench: the Python and Java SDKs' three workloads in Go, each against
// an in-process cluster (corraltest), then (with -cpp) the C++ benchmark
// binary in the same run; prints medians and Go/C++:
//
//	updates/s  one RECONCILE of 10,000 unknown tasks -> 10,000 UPDATE events
//	offers/s   10 agents, 1 ms allocation interval, every offer declined at once
//	call (us)  SUPPRESS calls one after another
//
//	bash bench/go_sdk_bench.sh     (see docs/benchmarks.md)
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/corral/corral/bindings/go/corral"
	"github.com/corral/corral/bindings/go/corralpb"
	"github.com/corral/corral/bindings/go/corraltest"
	"google.golang.org/protobuf/proto"
)

const (
	updates = 10_000
	offers  = 2_000
	calls   = 2_000
)

// counting counts events and wakes the waiter only when a target is reached.
type counting struct {
	corral.BaseScheduler
	refuse     time.Duration
	mu         sync.Mutex
	cond       *sync.Cond
	subscribed bool
	updates    int64
	offers     int64
	target     int64
}

func newCounting(refuse time.Duration) *counting {
	c := &counting{refuse: refuse}
	c.cond = sync.NewCond(&c.mu)
	return c
}

func (c *counting) Subscribed(context.Context, *corral.SchedulerDriver, *corralpb.FrameworkID, *corralpb.MasterInfo) error {
	c.mu.Lock()
	c.subscribed = true
	c.cond.Broadcast()
	c.mu.Unlock()
	return nil
}

func (c *counting) Offers(ctx context.Context, d *corral.SchedulerDriver, o []*corralpb.Offer) error {
	ids := make([]*corralpb.OfferID, len(o))
	for i, x := range o {
		ids[i] = x.GetId()
	}
	if err := d.Decline(ctx, ids, corral.RefuseFor(c.refuse)); err != nil {
		return err
	}
	c.mu.Lock()
	c.offers += int64(len(o))
	if c.offers >= c.target {
		c.cond.Broadcast()
	}
	c.mu.Unlock()
	return nil
}

func (c *counting) Update(context.Context, *corral.SchedulerDriver, *corralpb.TaskStatus) error {
	c.mu.Lock()
	c.updates++
	if c.updates >= c.target {
		c.cond.Broadcast()
	}
	c.mu.Unlock()
	return nil
}

func (c *counting) await(done func() bool) {
	deadline := time.Now().Add(60 * time.Second)
	t := time.AfterFunc(60*time.Second, func() { c.mu.Lock(); c.cond.Broadcast(); c.mu.Unlock() })
	defer t.Stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	for !done() {
		if time.Now().After(deadline) {
			log.Fatal("benchmark events did not arrive")
		}
		c.cond.Wait()
	}
}

func subscribe(c *corraltest.Cluster, name string, s *counting) *corral.SchedulerDriver {
	d, err := corral.NewSchedulerDriver(s, corral.FrameworkInfo(name), c.Master())
	if err != nil {
		log.Fatal(err)
	}
	if err := d.Start(); err != nil {
		log.Fatal(err)
	}
	s.await(func() bool { return s.subscribed })
	return d
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func cluster(opts ...corraltest.Option) *corraltest.Cluster {
	c, err := corraltest.New(opts...)
	if err != nil {
		log.Fatal(err)
	}
	return c
}

func benchUpdates(reps int) float64 {
	c := cluster(corraltest.Agents(1))
	defer c.Stop()
	s := newCounting(time.Hour)
	d := subscribe(c, "bench-updates", s)
	defer d.Close()
	tasks := make([]*corralpb.TaskStatus, updates)
	for i := range tasks {
		tasks[i] = &corralpb.TaskStatus{TaskId: &corralpb.TaskID{Value: proto.String(fmt.Sprintf("unknown-%d", i))},
			State: corralpb.TaskState_TASK_STAGING.Enum()}
	}
	var out []float64
	for r := 0; r < reps+1; r++ { // the first round warms up
		s.mu.Lock()
		target := s.updates + updates
		s.target = target
		s.mu.Unlock()
		start := time.Now()
		if err := d.Reconcile(context.Background(), tasks); err != nil {
			log.Fatal(err)
		}
		s.await(func() bool { return s.updates >= target })
		if r > 0 {
			out = append(out, updates/time.Since(start).Seconds())
		}
	}
	return median(out)
}

func benchOffers(reps int) float64 {
	c := cluster(corraltest.Agents(10), corraltest.AllocationInterval(time.Millisecond))
	defer c.Stop()
	s := newCounting(0)
	d := subscribe(c, "bench-offers", s)
	defer d.Close()
	var out []float64
	for r := 0; r < reps+1; r++ {
		s.mu.Lock()
		target := s.offers + offers
		s.target = target
		s.mu.Unlock()
		start := time.Now()
		s.await(func() bool { return s.offers >= target })
		if r > 0 {
			out = append(out, offers/time.Since(start).Seconds())
		}
	}
	return median(out)
}

func benchCalls(reps int) float64 {
	c := cluster(corraltest.Agents(1))
	defer c.Stop()
	s := newCounting(time.Hour)
	d := subscribe(c, "bench-calls", s)
	defer d.Close()
	ctx := context.Background()
	var out []float64
	for r := 0; r < reps+1; r++ {
		start := time.Now()
		for i := 0; i < calls; i++ {
			if err := d.Suppress(ctx); err != nil {
				log.Fatal(err)
			}
		}
		if r > 0 {
			out = append(out, float64(time.Since(start).Microseconds())/calls)
		}
	}
	return median(out)
}

// cpp runs the C++ benchmark and answers the medians of its counters.
func cpp(binary string, reps int) map[string]float64 {
	cmd := exec.Command(binary, fmt.Sprintf("--benchmark_repetitions=%d", reps), "--benchmark_format=json")
	raw, err := cmd.Output()
	if err != nil {
		log.Fatalf("%s: %v", binary, err)
	}
	var res struct {
		Benchmarks []map[string]any `json:"benchmarks"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		log.Fatal(err)
	}
	vals := map[string][]float64{}
	for _, b := range res.Benchmarks {
		if b["run_type"] != "iteration" {
			continue
		}
		name, _ := b["name"].(string)
		for key, counter := range map[string]string{"updates": "events_per_s", "offers": "offers_per_s", "calls": "us_per_call"} {
			if v, ok := b[counter].(float64); ok && strings.HasPrefix(name, map[string]string{
				"updates": "BM_UpdateEvents", "offers": "BM_OfferEvents", "calls": "BM_Call"}[key]) {
				vals[key] = append(vals[key], v)
			}
		}
	}
	out := map[string]float64{}
	for k, v := range vals {
		out[k] = median(v)
	}
	return out
}

func main() {
	reps := flag.Int("reps", 5, "repetitions of each workload")
	cppBinary := flag.String("cpp", "", "the C++ benchmark (sdk_events_bench) to run after")
	only := flag.String("only", "", "run one workload only: updates, offers or calls")
	cpuProfile := flag.String("cpuprofile", "", "write a Go CPU profile of the Go workloads to this file")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
	}
	golang := map[string]float64{}
	for _, w := range []struct {
		key string
		run func(int) float64
	}{{"updates", benchUpdates}, {"offers", benchOffers}, {"calls", benchCalls}} {
		if *only == "" || *only == w.key {
			golang[w.key] = w.run(*reps)
		}
	}
	if *cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	var c map[string]float64
	if *cppBinary != "" {
		c = cpp(*cppBinary, *reps)
	}
	fmt.Printf("%-12s%12s%12s%12s\n", "workload", "Go", "C++", "Go/C++")
	for _, row := range []struct{ key, label string }{{"updates", "updates/s"}, {"offers", "offers/s"}, {"calls", "call (us)"}} {
		g, ran := golang[row.key]
		if !ran {
			continue
		}
		cv, ok := c[row.key]
		ratio, cs := "", ""
		if ok {
			r := g / cv
			if row.key == "calls" {
				r = cv / g
			}
			ratio, cs = fmt.Sprintf("%.0f%%", r*100), fmt.Sprintf("%.0f", cv)
		}
		fmt.Printf("%-12s%12.0f%12s%12s\n", row.label, g, cs, ratio)
	}
	fmt.Println("(Go/C++ is throughput relative to C++: for calls, C++ time / Go time)")
	os.Exit(0)
}
