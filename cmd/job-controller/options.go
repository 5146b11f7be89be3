package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/klog/v2"

	"github.com/kjob-dev/kjob/controller"
	"github.com/kjob-dev/kjob/controller/cronjob"
	"github.com/kjob-dev/kjob/controller/ttl"
)

// Defaults. The client and leader-election numbers are those of
// kube-controller-manager, so the controller behaves like the built-in one
// under load and in a fail-over.
const (
	defaultManagedBy = "kjob.dev/job-controller"
	// defaultCronJobManagedBy is the kjob.dev/managed-by annotation value
	// of the CronJobs the CronJob controller runs.
	defaultCronJobManagedBy = "kjob.dev/cronjob-controller"
	defaultBindAddress      = ":8080"
	defaultQPS              = 20
	defaultBurst            = 30
	defaultLeaseName        = "kjob-job-controller"
	defaultLeaseNamespace   = "kjob-system"
	defaultLeaseDuration    = 15 * time.Second
	defaultRenewDeadline    = 10 * time.Second
	defaultRetryPeriod      = 2 * time.Second
)

// options is the parsed command line.
type options struct {
	kubeconfig string
	workers    int
	qps        float64
	burst      int

	managedBy         string
	manageBuiltInJobs bool

	// The CronJob and TTL-after-finished controllers run only when
	// enabled: kube-controller-manager runs both by default, and its
	// CronJob controller honours no annotation, so kjob's must not run
	// beside it (controller/cronjob/managedby.go).
	enableCronJob             bool
	cronJobManagedBy          string
	manageUnannotatedCronJobs bool
	cronJobWorkers            int
	enableTTLAfterFinished    bool
	ttlWorkers                int

	bindAddress string

	leaderElect    bool
	leaseName      string
	leaseNamespace string
	leaseDuration  time.Duration
	renewDeadline  time.Duration
	retryPeriod    time.Duration
}

// errHelp is returned for -h and --help: usage was printed, exit 0.
var errHelp = flag.ErrHelp

// flagError is a bad command line: the message names the flag. printed
// means the flag package has already shown it, with the usage.
type flagError struct {
	msg     string
	printed bool
}

func (e *flagError) Error() string { return e.msg }

func badFlag(name string, value any, format string, args ...any) error {
	return &flagError{msg: fmt.Sprintf("invalid value %q for flag --%s: %s", fmt.Sprint(value), name, fmt.Sprintf(format, args...))}
}

// parseOptions reads args into options and checks them. Parse errors and
// invalid values are *flagError; -h gives errHelp. Usage and parse errors
// are printed to out. klog's own flags (-v, -vmodule, …) are accepted too
// and take effect at once.
func parseOptions(args []string, out io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("job-controller", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "path to a kubeconfig file; empty means the in-cluster configuration of the pod's service account")
	fs.IntVar(&o.workers, "workers", controller.DefaultWorkers, "Jobs synced at once (kube-controller-manager's --concurrent-job-syncs)")
	fs.Float64Var(&o.qps, "kube-api-qps", defaultQPS, "steady rate of requests to the API server, per second")
	fs.IntVar(&o.burst, "kube-api-burst", defaultBurst, "requests allowed in a burst above --kube-api-qps")
	fs.StringVar(&o.managedBy, "managed-by", defaultManagedBy, "the spec.managedBy value of the Jobs this controller owns")
	fs.BoolVar(&o.manageBuiltInJobs, "manage-builtin-jobs", false,
		"also reconcile Jobs that belong to the built-in controller (spec.managedBy unset or "+controller.BuiltInControllerName+"); "+
			"only for clusters whose kube-controller-manager runs without its job-controller")
	fs.BoolVar(&o.enableCronJob, "enable-cronjob-controller", false,
		"also run the CronJob controller; only where kube-controller-manager runs without its cronjob-controller, which honours no annotation")
	fs.StringVar(&o.cronJobManagedBy, "cronjob-managed-by", defaultCronJobManagedBy,
		"the "+cronjob.ManagedByAnnotation+" annotation value of the CronJobs the CronJob controller runs")
	fs.BoolVar(&o.manageUnannotatedCronJobs, "manage-unannotated-cronjobs", false,
		"the CronJob controller also runs CronJobs without the "+cronjob.ManagedByAnnotation+" annotation, standing in for the built-in one; needs --enable-cronjob-controller")
	fs.IntVar(&o.cronJobWorkers, "cronjob-workers", cronjob.DefaultWorkers, "CronJobs synced at once (kube-controller-manager's --concurrent-cron-job-syncs)")
	fs.BoolVar(&o.enableTTLAfterFinished, "enable-ttl-after-finished-controller", false,
		"also run the TTL-after-finished controller, which deletes every finished Job whose spec.ttlSecondsAfterFinished has passed")
	fs.IntVar(&o.ttlWorkers, "ttl-after-finished-workers", ttl.DefaultWorkers,
		"Jobs checked for an expired TTL at once (kube-controller-manager's --concurrent-ttl-after-finished-syncs)")
	fs.StringVar(&o.bindAddress, "bind-address", defaultBindAddress, "host:port serving /metrics, /healthz and /readyz; empty turns the server off")
	fs.BoolVar(&o.leaderElect, "leader-elect", true, "run the workers only while holding the Lease, so that replicas take turns")
	fs.StringVar(&o.leaseName, "leader-elect-lease-name", defaultLeaseName, "name of the coordination.k8s.io Lease")
	fs.StringVar(&o.leaseNamespace, "leader-elect-namespace", defaultLeaseNamespace, "namespace of the Lease")
	fs.DurationVar(&o.leaseDuration, "leader-elect-lease-duration", defaultLeaseDuration, "how long a standby waits after the last renewal before taking the Lease over")
	fs.DurationVar(&o.renewDeadline, "leader-elect-renew-deadline", defaultRenewDeadline, "how long the leader keeps trying to renew before it gives up leading")
	fs.DurationVar(&o.retryPeriod, "leader-elect-retry-period", defaultRetryPeriod, "pause between two attempts to acquire or renew the Lease")
	klog.InitFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(out, "usage: job-controller [flags]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, errHelp
		}
		return nil, &flagError{msg: err.Error(), printed: true}
	}
	if fs.NArg() > 0 {
		return nil, &flagError{msg: fmt.Sprintf("unexpected argument %q: job-controller takes flags only", fs.Arg(0))}
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	return o, nil
}

// validate checks the values one by one, naming the first bad flag.
func (o *options) validate() error {
	if o.workers < 1 {
		return badFlag("workers", o.workers, "must be at least 1")
	}
	if o.qps <= 0 {
		return badFlag("kube-api-qps", o.qps, "must be greater than 0")
	}
	if o.burst < 1 {
		return badFlag("kube-api-burst", o.burst, "must be at least 1")
	}
	if err := controller.ValidateControllerName(o.managedBy); err != nil {
		if o.managedBy == controller.BuiltInControllerName {
			return badFlag("managed-by", o.managedBy, "%v; use --manage-builtin-jobs to reconcile the built-in controller's Jobs", err)
		}
		return badFlag("managed-by", o.managedBy, "%v", err)
	}
	if err := o.validateCronJobAndTTL(); err != nil {
		return err
	}
	if err := validateBindAddress(o.bindAddress); err != nil {
		return badFlag("bind-address", o.bindAddress, "%v", err)
	}
	if !o.leaderElect {
		return nil
	}
	if msgs := validation.IsDNS1123Subdomain(o.leaseName); len(msgs) > 0 {
		return badFlag("leader-elect-lease-name", o.leaseName, "%s", strings.Join(msgs, "; "))
	}
	if msgs := validation.IsDNS1123Label(o.leaseNamespace); len(msgs) > 0 {
		return badFlag("leader-elect-namespace", o.leaseNamespace, "%s", strings.Join(msgs, "; "))
	}
	for _, d := range []struct {
		name  string
		value time.Duration
	}{{"leader-elect-lease-duration", o.leaseDuration}, {"leader-elect-renew-deadline", o.renewDeadline}, {"leader-elect-retry-period", o.retryPeriod}} {
		if d.value <= 0 {
			return badFlag(d.name, d.value, "must be greater than 0")
		}
	}
	if o.leaseDuration <= o.renewDeadline {
		return badFlag("leader-elect-lease-duration", o.leaseDuration, "must be greater than --leader-elect-renew-deadline (%v)", o.renewDeadline)
	}
	if o.renewDeadline <= time.Duration(leaderelection.JitterFactor*float64(o.retryPeriod)) {
		return badFlag("leader-elect-renew-deadline", o.renewDeadline, "must be greater than %v times --leader-elect-retry-period (%v)",
			leaderelection.JitterFactor, o.retryPeriod)
	}
	return nil
}

// validateCronJobAndTTL checks the flags of the optional controllers. They
// are checked even when their controller is off, so that turning it on
// later cannot reveal a bad value.
func (o *options) validateCronJobAndTTL() error {
	if err := controller.ValidateControllerName(o.cronJobManagedBy); err != nil {
		return badFlag("cronjob-managed-by", o.cronJobManagedBy, "%v", err)
	}
	if o.manageUnannotatedCronJobs && !o.enableCronJob {
		return badFlag("manage-unannotated-cronjobs", o.manageUnannotatedCronJobs, "has no effect without --enable-cronjob-controller")
	}
	if o.cronJobWorkers < 1 {
		return badFlag("cronjob-workers", o.cronJobWorkers, "must be at least 1")
	}
	if o.ttlWorkers < 1 {
		return badFlag("ttl-after-finished-workers", o.ttlWorkers, "must be at least 1")
	}
	return nil
}

// validateBindAddress accepts "" (no server) and host:port with a numeric
// port; the host may be empty (every interface).
func validateBindAddress(addr string) error {
	if addr == "" {
		return nil
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("want host:port, such as :8080 or 127.0.0.1:8080")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	return nil
}
