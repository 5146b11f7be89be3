package sim

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
)

// AnnotationPrefix starts every annotation the simulated kubelet reads. Put
// them on a Job's pod template; the Job controller copies them to each pod.
const AnnotationPrefix = "sim.kjob.dev/"

// The annotation names, without AnnotationPrefix. docs/simulator.md
// is the reference for their values.
const (
	annotationRuntime            = "runtime"
	annotationStartDelay         = "start-delay"
	annotationDuration           = "duration"
	annotationExitCodes          = "exit-codes"
	annotationExitCodesIndex     = "exit-codes-index-"     // followed by the completion index
	annotationDurationIndex      = "duration-index-"       // followed by the completion index
	annotationExitCodesContainer = "exit-codes-container-" // followed by the container name
	annotationDurationContainer  = "duration-container-"   // followed by the container name
	annotationFailureProbability = "failure-probability"
	annotationFailureExitCode    = "failure-exit-code"
	annotationSigtermDelay       = "sigterm-delay"
	annotationEvictAfter         = "evict-after" // see scripted_eviction.go
)

// defaultScriptedDuration is how long a scripted attempt runs when the pod
// says nothing about it.
const defaultScriptedDuration = time.Second

// Script is a pod's sim.kjob.dev/ annotations, parsed. The zero value (no
// annotations) is a valid script: every attempt runs for a second and exits 0.
type Script struct {
	// Annotated is true when the pod has at least one sim.kjob.dev/
	// annotation; RuntimeAuto then picks the scripted runtime.
	Annotated bool
	// Runtime is the runtime the pod asks for; empty when it does not ask.
	Runtime RuntimeName
	// StartDelay replaces the kubelet's start delay when HasStartDelay is set.
	StartDelay    time.Duration
	HasStartDelay bool
	// Durations are the run times of successive attempts; the last one
	// repeats. Empty means defaultScriptedDuration.
	Durations []time.Duration
	// ExitCodes are the exit codes of successive attempts; the last one
	// repeats. Empty means 0.
	ExitCodes []int32
	// IndexExitCodes and IndexDurations replace ExitCodes and Durations for
	// the pods of one completion index.
	IndexExitCodes map[int][]int32
	IndexDurations map[int][]time.Duration
	// ContainerExitCodes and ContainerDurations replace ExitCodes (also
	// IndexExitCodes) and Durations for the container of that name.
	ContainerExitCodes map[string][]int32
	ContainerDurations map[string][]time.Duration
	// FailureProbability is the chance, in [0, 1], that an attempt fails
	// with FailureExitCode regardless of ExitCodes.
	FailureProbability float64
	// FailureExitCode is the exit code of attempts failed by
	// FailureProbability; never 0.
	FailureExitCode int32
	// SigtermDelay is how long a container takes to exit after SIGTERM.
	SigtermDelay time.Duration
	// EvictAfter are the run times after which successive pods of the Job
	// are evicted; the last one repeats, and a negative one means never.
	EvictAfter []time.Duration
}

// scriptedOnly lists the annotations that mean nothing to the exec runtime.
func scriptedOnly(key string) bool {
	switch key {
	case annotationDuration, annotationExitCodes, annotationFailureProbability,
		annotationFailureExitCode, annotationSigtermDelay:
		return true
	}
	return strings.HasPrefix(key, annotationExitCodesIndex) ||
		strings.HasPrefix(key, annotationDurationIndex) ||
		strings.HasPrefix(key, annotationExitCodesContainer) ||
		strings.HasPrefix(key, annotationDurationContainer)
}

// ParseScript reads the sim.kjob.dev/ annotations of a pod. Other
// annotations are ignored. Every problem is reported, one per annotation,
// each naming the annotation, its value and the reason.
func ParseScript(annotations map[string]string) (*Script, error) {
	s := &Script{FailureExitCode: 1}
	keys := make([]string, 0, len(annotations))
	for full := range annotations {
		if key, ok := strings.CutPrefix(full, AnnotationPrefix); ok {
			keys = append(keys, key)
		}
	}
	slices.Sort(keys) // errors in a stable order
	var errs []error
	for _, key := range keys {
		value := annotations[AnnotationPrefix+key]
		if err := s.set(key, strings.TrimSpace(value)); err != nil {
			errs = append(errs, fmt.Errorf("annotation %s%s=%q: %w", AnnotationPrefix, key, value, err))
		}
	}
	s.Annotated = len(keys) > 0
	if s.Runtime == RuntimeExec {
		for _, key := range keys {
			if scriptedOnly(key) {
				errs = append(errs, fmt.Errorf("annotation %s%s: only the scripted runtime reads it, but %s%s is %q",
					AnnotationPrefix, key, AnnotationPrefix, annotationRuntime, RuntimeExec))
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// set applies one annotation. A new annotation is a new case here, plus a
// line in scriptedOnly when the exec runtime ignores it.
func (s *Script) set(key, value string) error {
	var err error
	switch {
	case key == annotationRuntime:
		switch RuntimeName(value) {
		case RuntimeScripted, RuntimeExec:
			s.Runtime = RuntimeName(value)
		default:
			err = fmt.Errorf("want %s or %s", RuntimeScripted, RuntimeExec)
		}
	case key == annotationStartDelay:
		s.StartDelay, err = parseScriptDuration(value)
		s.HasStartDelay = err == nil
	case key == annotationDuration:
		s.Durations, err = parseList(value, parseScriptDuration)
	case key == annotationExitCodes:
		s.ExitCodes, err = parseList(value, parseExitCode)
	case strings.HasPrefix(key, annotationExitCodesIndex):
		index, indexErr := parseCompletionIndex(strings.TrimPrefix(key, annotationExitCodesIndex))
		if indexErr != nil {
			return fmt.Errorf("the name must end in a completion index: %w", indexErr)
		}
		err = setList(&s.IndexExitCodes, index, value, parseExitCode)
	case strings.HasPrefix(key, annotationDurationIndex):
		index, indexErr := parseCompletionIndex(strings.TrimPrefix(key, annotationDurationIndex))
		if indexErr != nil {
			return fmt.Errorf("the name must end in a completion index: %w", indexErr)
		}
		err = setList(&s.IndexDurations, index, value, parseScriptDuration)
	case strings.HasPrefix(key, annotationExitCodesContainer):
		name, nameErr := parseContainerName(strings.TrimPrefix(key, annotationExitCodesContainer))
		if nameErr != nil {
			return nameErr
		}
		err = setList(&s.ContainerExitCodes, name, value, parseExitCode)
	case strings.HasPrefix(key, annotationDurationContainer):
		name, nameErr := parseContainerName(strings.TrimPrefix(key, annotationDurationContainer))
		if nameErr != nil {
			return nameErr
		}
		err = setList(&s.ContainerDurations, name, value, parseScriptDuration)
	case key == annotationFailureProbability:
		s.FailureProbability, err = parseProbability(value)
	case key == annotationFailureExitCode:
		s.FailureExitCode, err = parseExitCode(value)
		if err == nil && s.FailureExitCode == 0 {
			err = errors.New("a failure needs a non-zero exit code")
		}
	case key == annotationSigtermDelay:
		s.SigtermDelay, err = parseScriptDuration(value)
	case key == annotationEvictAfter:
		s.EvictAfter, err = parseList(value, parseEvictAfter)
	default:
		err = errors.New("unknown annotation (see docs/simulator.md for the known ones)")
	}
	return err
}

// setList parses value as a list into (*m)[key], making the map if needed.
func setList[K comparable, T any](m *map[K][]T, key K, value string, parse func(string) (T, error)) error {
	list, err := parseList(value, parse)
	if err != nil {
		return err
	}
	if *m == nil {
		*m = map[K][]T{}
	}
	(*m)[key] = list
	return nil
}

// parseList parses a comma-separated list with one element parser.
func parseList[T any](value string, parse func(string) (T, error)) ([]T, error) {
	if value == "" {
		return nil, errors.New("empty value")
	}
	parts := strings.Split(value, ",")
	out := make([]T, 0, len(parts))
	for i, part := range parts {
		v, err := parse(strings.TrimSpace(part))
		if err != nil {
			if len(parts) == 1 {
				return nil, err
			}
			return nil, fmt.Errorf("element %d: %w", i+1, err)
		}
		out = append(out, v)
	}
	return out, nil
}

func parseScriptDuration(value string) (time.Duration, error) {
	d, err := time.ParseDuration(value)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (want e.g. 500ms, 5s or 1m30s)", value)
	}
	if d < 0 {
		return 0, fmt.Errorf("%q is negative", value)
	}
	return d, nil
}

func parseExitCode(value string) (int32, error) {
	code, err := strconv.ParseInt(value, 10, 32)
	if err != nil || code < 0 || code > 255 {
		return 0, fmt.Errorf("%q is not an exit code (want an integer from 0 to 255)", value)
	}
	return int32(code), nil
}

func parseProbability(value string) (float64, error) {
	p, err := strconv.ParseFloat(value, 64)
	if err != nil || math.IsNaN(p) || p < 0 || p > 1 {
		return 0, fmt.Errorf("%q is not a probability (want a number from 0 to 1)", value)
	}
	return p, nil
}

// parseCompletionIndex accepts a plain non-negative decimal integer, the
// form of the batch.kubernetes.io/job-completion-index label.
func parseCompletionIndex(value string) (int, error) {
	if value == "" || strings.Trim(value, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not a non-negative integer", value)
	}
	index, err := strconv.Atoi(value)
	if err != nil {
		return 0, fmt.Errorf("%q is out of range", value)
	}
	return index, nil
}

// parseContainerName accepts what a container name may be: a DNS label.
func parseContainerName(value string) (string, error) {
	if msgs := validation.IsDNS1123Label(value); len(msgs) > 0 {
		return "", fmt.Errorf("the name must end in a container name: %q: %s", value, strings.Join(msgs, "; "))
	}
	return value, nil
}

// pickAttempt returns the value for the attempt-th attempt (from 0): the
// list's last value repeats for every later attempt.
func pickAttempt[T any](values []T, attempt int, fallback T) T {
	if len(values) == 0 {
		return fallback
	}
	return values[min(attempt, len(values)-1)]
}

// exitCode is the scripted exit code of an attempt of a container. index
// is the pod's completion index, or -1 when it has none.
func (s *Script) exitCode(container string, index, attempt int) int32 {
	if codes, ok := s.ContainerExitCodes[container]; ok {
		return pickAttempt(codes, attempt, 0)
	}
	if codes, ok := s.IndexExitCodes[index]; ok && index >= 0 {
		return pickAttempt(codes, attempt, 0)
	}
	return pickAttempt(s.ExitCodes, attempt, 0)
}

// duration is the scripted run time of an attempt of a container. index is
// the pod's completion index, or -1 when it has none.
func (s *Script) duration(container string, index, attempt int) time.Duration {
	if durations, ok := s.ContainerDurations[container]; ok {
		return pickAttempt(durations, attempt, defaultScriptedDuration)
	}
	if durations, ok := s.IndexDurations[index]; ok && index >= 0 {
		return pickAttempt(durations, attempt, defaultScriptedDuration)
	}
	return pickAttempt(s.Durations, attempt, defaultScriptedDuration)
}
