package controller

import "time"

// Well-known names shared with the API and with every other Job controller.
const (
	// JobTrackingFinalizer keeps a finished pod in the API until the
	// controller has counted it, so that deleting pods never loses a success.
	JobTrackingFinalizer = "batch.kubernetes.io/job-tracking"

	// BuiltInControllerName is the reserved spec.managedBy value of the
	// kube-controller-manager's Job controller; unset means the same.
	BuiltInControllerName = "kubernetes.io/job-controller"

	// FieldManager names this controller in managedFields of the objects it writes.
	FieldManager = "kjob-job-controller"
)

// Numbers that shape the controller's pace. They match the upstream
// controller of Kubernetes 1.37 (docs/decisions.md lists where they come from).
const (
	// PodFailureBackoffBase is the delay before the first replacement of a
	// failed pod; each further failure since the last success doubles it.
	PodFailureBackoffBase = 10 * time.Second
	// PodFailureBackoffMax caps that delay (10 minutes in Kubernetes 1.37).
	PodFailureBackoffMax = 10 * time.Minute

	// APIBackoffBase and APIBackoffMax bound the per-key retry delay after a
	// sync returns an error.
	APIBackoffBase = time.Second
	APIBackoffMax  = time.Minute

	// SyncBatchPeriod is how long pod events and status-only Job updates wait
	// before their sync, so a burst of events costs one sync. It is also the
	// shortest requeue for a backoff wait.
	SyncBatchPeriod = time.Second

	// MaxUncountedPods bounds how many finished pods one sync moves through
	// status.uncountedTerminatedPods, keeping each status write small.
	MaxUncountedPods = 500
	// MaxPodCreateDeletePerSync bounds the pod writes of one sync.
	MaxPodCreateDeletePerSync = 500
	// SlowStartInitialBatchSize is the first creation batch; batches double.
	SlowStartInitialBatchSize = 1

	// ExpectationsTimeout is when unobserved creates or deletes stop blocking a Job.
	ExpectationsTimeout = 5 * time.Minute

	// DefaultWorkers is the number of Job sync workers (--concurrent-job-syncs).
	DefaultWorkers = 5
)

// Condition reasons and messages, exactly as the upstream controller writes them.
const (
	ReasonBackoffLimitExceeded = "BackoffLimitExceeded"
	MessageBackoffLimit        = "Job has reached the specified backoff limit"
	ReasonDeadlineExceeded     = "DeadlineExceeded"
	MessageDeadlineExceeded    = "Job was active longer than specified deadline"
	ReasonCompletionsReached   = "CompletionsReached"
	MessageCompletionsReached  = "Reached expected number of succeeded pods"
	ReasonJobSuspended         = "JobSuspended"
	MessageJobSuspended        = "Job suspended"
	ReasonJobResumed           = "JobResumed"
	MessageJobResumed          = "Job resumed"
)

// Event reasons and messages.
const (
	EventSuccessfulCreate      = "SuccessfulCreate"
	EventFailedCreate          = "FailedCreate"
	EventSuccessfulDelete      = "SuccessfulDelete"
	EventFailedDelete          = "FailedDelete"
	EventCompleted             = "Completed"
	MessageCompleted           = "Job completed"
	EventSuspended             = "Suspended"
	EventResumed               = "Resumed"
	EventTooManySucceededPods  = "TooManySucceededPods"
	MessageTooManySucceeded    = "Too many succeeded pods running after completion count reached"
	EventUnknownCompletionMode = "UnknownCompletionMode"
	MessageUnknownMode         = "Skipped Job sync because completion mode is unknown"
)
