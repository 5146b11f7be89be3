package cronjob

import "time"

// Names this controller shares with the API, with kubectl and with anyone
// reading its Events.
const (
	// ControllerName is the component that signs this controller's Events.
	// It is the name of the built-in controller, so `kubectl describe`
	// reads the same on a cluster that runs either one.
	ControllerName = "cronjob-controller"

	// FieldManager names this controller in managedFields of the objects
	// it writes.
	FieldManager = "kjob-cronjob-controller"

	// ManagedByAnnotation, on a CronJob, names the controller that should
	// run it. batch/v1 CronJobs have no spec.managedBy field, so the
	// project uses this annotation instead; see ManagedByPredicate and
	// docs/cronjob.md for the rule.
	ManagedByAnnotation = "kjob.dev/managed-by"
)

// Numbers that shape the controller's timing, those of the upstream
// controller in Kubernetes 1.37.
const (
	// NextScheduleDelta is added to every "wake me at the next start time"
	// requeue, so that a clock a little behind the one that armed the timer
	// still finds the start time due when the timer fires.
	NextScheduleDelta = 100 * time.Millisecond

	// MaxMissedSchedules is how many missed start times a CronJob may have
	// before the controller warns with TooManyMissedTimes. It still starts
	// one Job, for the most recent start time.
	MaxMissedSchedules = 100

	// DefaultWorkers is the number of sync workers
	// (--concurrent-cron-job-syncs).
	DefaultWorkers = 5
)

// Event reasons, as the upstream controller writes them; the messages are
// built where the events are recorded.
const (
	ReasonSuccessfulCreate           = "SuccessfulCreate"
	ReasonFailedCreate               = "FailedCreate"
	ReasonSuccessfulDelete           = "SuccessfulDelete"
	ReasonFailedDelete               = "FailedDelete"
	ReasonFailedGet                  = "FailedGet"
	ReasonSawCompletedJob            = "SawCompletedJob"
	ReasonMissingJob                 = "MissingJob"
	ReasonUnexpectedJob              = "UnexpectedJob"
	ReasonJobAlreadyActive           = "JobAlreadyActive"
	ReasonMissSchedule               = "MissSchedule"
	ReasonTooManyMissedTimes         = "TooManyMissedTimes"
	ReasonUnknownTimeZone            = "UnknownTimeZone"
	ReasonUnsupportedSchedule        = "UnsupportedSchedule"
	ReasonUnparseableSchedule        = "UnparseableSchedule"
	ReasonInvalidSchedule            = "InvalidSchedule"
	ReasonUnParseableCronJobSchedule = "UnParseableCronJobSchedule"
)

// Messages that carry no variable part.
const (
	MessageJobAlreadyActive   = "Not starting job because prior execution is running and concurrency policy is Forbid"
	MessageTooManyMissedTimes = "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew"
)
