// client-go-ref: the reference elector for k8sensus's benchmark.
//
// It is what a client-go user gets out of the box: tools/leaderelection with a
// resourcelock.LeaseLock, ReleaseOnCancel, and a context cancelled on SIGTERM or
// SIGINT. The flags that matter have the same names and defaults as k8sensus's,
// so bench/run.py starts both the same way. Log lines are JSON on stderr with a
// "message" field; klog's own lines (client-go's) are routed through the same
// JSON handler.
//
// Its work follows client-go's documented rule for ReleaseOnCancel: the work must
// have stopped before the context that releases the Lease is cancelled. On a
// signal the work is stopped first and awaited; only then is the elector's
// context cancelled, which releases the Lease. Every line of the work carries
// mono_ns (CLOCK_MONOTONIC), like k8sensus's, so that the chaos suite can put
// both on one timeline; and the lines the tests read carry k8sensus's "event"
// names (src/log_event.rs: acquired, work_started, work_run, work_stopped,
// stopped_leading, new_leader), which the tests match on instead of wording.
//
// With --probe-addr (deployment manifests set :8080, as k8sensus's default) it
// serves the same probes as k8sensus: /healthz from client-go's HealthzAdaptor
// with a 10 s timeout (unhealthy when this replica believes it leads but has not
// renewed for the lease duration + 10 s), and /readyz, ready once the elector
// runs and not ready once a signal has started the shutdown.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sys/unix"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"
)

// monoNS is CLOCK_MONOTONIC in nanoseconds, the clock k8sensus logs as mono_ns.
func monoNS() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return ts.Nano()
}

func main() {
	os.Exit(run())
}

func run() int {
	handler := slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.MessageKey {
				a.Key = "message"
			}
			return a
		},
	})
	log := slog.New(handler)
	klog.SetLogger(logr.FromSlogHandler(handler))

	fs := flag.NewFlagSet("client-go-ref", flag.ContinueOnError)
	leaseName := fs.String("lease-name", "k8sensus-lease", "name of the Lease")
	leaseNamespace := fs.String("lease-namespace", "default", "namespace of the Lease")
	identity := fs.String("identity", os.Getenv("POD_NAME"), "this replica's identity (default $POD_NAME)")
	leaseDuration := fs.Duration("lease-duration", 15*time.Second, "how long a standby waits after the last observed change before taking over")
	renewDeadline := fs.Duration("renew-deadline", 10*time.Second, "how long the leader keeps retrying a renewal before it stops leading")
	retryPeriod := fs.Duration("retry-period", 2*time.Second, "time between attempts (jitter factor 1.2)")
	taskPeriod := fs.Duration("task-period", 10*time.Second, "period of the sample task run while leading")
	probeAddr := fs.String("probe-addr", "", "serve /healthz and /readyz on this address (e.g. :8080); empty: none")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *identity == "" {
		log.Error("no identity: set --identity or POD_NAME")
		return 2
	}

	// KUBECONFIG (or ~/.kube/config), like kubectl.
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		clientcmd.NewDefaultClientConfigLoadingRules(), &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		log.Error("cannot load a kubeconfig", "error", err.Error())
		return 1
	}
	cfg.UserAgent = "client-go-ref/" + *identity
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		log.Error("cannot build a client", "error", err.Error())
		return 1
	}

	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Name: *leaseName, Namespace: *leaseNamespace},
		Client:     client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: *identity},
	}
	lease := *leaseNamespace + "/" + *leaseName

	// Two contexts: a signal stops the work (signalled); the elector's context (ctx) is
	// cancelled only after the work has returned, and cancelling it releases the Lease.
	signalled, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var working sync.WaitGroup
	var starting sync.Mutex // orders "start working" against "wait for the work"
	go func() {
		<-signalled.Done()
		starting.Lock()
		starting.Unlock()
		working.Wait()
		cancel()
	}()

	log.Info("client-go-ref starting", "identity", *identity, "lease", lease,
		"lease_duration", leaseDuration.String(), "renew_deadline", renewDeadline.String(),
		"retry_period", retryPeriod.String())

	// The same liveness rule as k8sensus's /healthz: client-go's adaptor, 10 s past the
	// lease duration (k8sensus's HEALTH_MARGIN).
	healthz := leaderelection.NewLeaderHealthzAdaptor(10 * time.Second)
	var electorRunning atomic.Bool
	if *probeAddr != "" {
		ln, err := net.Listen("tcp", *probeAddr)
		if err != nil {
			log.Error("cannot serve the probes", "probe_addr", *probeAddr, "error", err.Error())
			return 1
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
			if err := healthz.Check(r); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			fmt.Fprintln(w, "ok")
		})
		mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
			if !electorRunning.Load() || signalled.Err() != nil {
				http.Error(w, "not ready", http.StatusServiceUnavailable)
				return
			}
			fmt.Fprintln(w, "ok")
		})
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		log.Info("serving /healthz and /readyz", "probe_addr", ln.Addr().String())
	}

	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		WatchDog:        healthz,
		LeaseDuration:   *leaseDuration,
		RenewDeadline:   *renewDeadline,
		RetryPeriod:     *retryPeriod,
		ReleaseOnCancel: true,
		Name:            *leaseName,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(leading context.Context) {
				log.Info(fmt.Sprintf("acquired lease %s", lease), "event", "acquired", "identity", *identity)
				starting.Lock()
				if signalled.Err() != nil {
					starting.Unlock()
					return
				}
				working.Add(1)
				starting.Unlock()
				defer working.Done()
				log.Info("starting the sample task", "event", "work_started", "identity", *identity, "mono_ns", monoNS())
				tick := time.NewTicker(*taskPeriod)
				defer tick.Stop()
				for {
					if leading.Err() != nil || signalled.Err() != nil {
						break
					}
					log.Info("client-go-ref is running sample task.", "event", "work_run", "identity", *identity, "mono_ns", monoNS())
					select {
					case <-leading.Done():
					case <-signalled.Done():
					case <-tick.C:
					}
				}
				log.Info("sample task stopped", "event", "work_stopped", "identity", *identity, "mono_ns", monoNS())
			},
			OnStoppedLeading: func() {
				log.Info("stopped leading", "event", "stopped_leading", "identity", *identity)
			},
			OnNewLeader: func(holder string) {
				log.Info("new leader observed", "event", "new_leader", "holder", holder, "identity", *identity)
			},
		},
	})
	if err != nil {
		log.Error("invalid leader election configuration", "error", err.Error())
		return 2
	}

	// Run campaigns once and returns when leadership is lost or ctx is cancelled
	// (after releasing the Lease, since ReleaseOnCancel is set).
	electorRunning.Store(true)
	elector.Run(ctx)
	if signalled.Err() != nil {
		log.Info("shut down", "event", "exit", "identity", *identity)
		return 0
	}
	log.Error("lost leadership; exiting so that a supervisor restarts us", "event", "exit", "identity", *identity)
	return 1
}
