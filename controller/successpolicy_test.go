package controller

import (
	"testing"

	"github.com/stretchr/testify/assert"
	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

func successRules(rules ...batchv1.SuccessPolicyRule) *batchv1.SuccessPolicy {
	return &batchv1.SuccessPolicy{Rules: rules}
}

// TestSyncJobWithSuccessPolicy pins successPolicy (§5.11), one named case
// per behaviour.
func TestSyncJobWithSuccessPolicy(t *testing.T) {
	cases := []syncIndexedCase{
		{name: "succeededIndexes rule met while other indexes still run", parallelism: 5, completions: 5, backoffLimit: 6,
			successPolicy: successRules(batchv1.SuccessPolicyRule{SucceededIndexes: ptr.To("0")}),
			pods: []indexedPod{
				{index: "0", phase: v1.PodSucceeded}, {index: "1", phase: v1.PodRunning},
				{index: "2", phase: v1.PodRunning}, {index: "3", phase: v1.PodPending}},
			// The remaining pods are stopped; Complete waits for them (rule S5).
			wantDeleted: []string{"pending-3-3", "running-1-1", "running-2-2"}, wantPatches: 1, wantTerminating: 3,
			wantSucceeded: 1, wantCompletedIndexes: "0",
			wantConditions: []string{"SuccessCriteriaMet=True:SuccessPolicy"},
			wantMessage:    "Matched rules at index 0"},
		{name: "succeededCount rule met while other indexes still run", parallelism: 3, completions: 5, backoffLimit: 6,
			successPolicy: successRules(batchv1.SuccessPolicyRule{SucceededCount: ptr.To[int32](2)}),
			pods: []indexedPod{
				{index: "1", phase: v1.PodSucceeded}, {index: "3", phase: v1.PodSucceeded},
				{index: "0", phase: v1.PodRunning}},
			wantDeleted: []string{"running-0-2"}, wantPatches: 2, wantTerminating: 1,
			wantSucceeded: 2, wantCompletedIndexes: "1,3",
			wantConditions: []string{"SuccessCriteriaMet=True:SuccessPolicy"}},
		{name: "the message names the first rule met", parallelism: 3, completions: 3, backoffLimit: 6,
			successPolicy: successRules(
				batchv1.SuccessPolicyRule{SucceededIndexes: ptr.To("0,1")},
				batchv1.SuccessPolicyRule{SucceededCount: ptr.To[int32](1)}),
			pods: []indexedPod{
				{index: "2", phase: v1.PodSucceeded}, {index: "0", phase: v1.PodRunning}, {index: "1", phase: v1.PodRunning}},
			wantDeleted: []string{"running-0-1", "running-1-2"}, wantPatches: 1, wantTerminating: 2,
			wantSucceeded: 1, wantCompletedIndexes: "2",
			wantConditions: []string{"SuccessCriteriaMet=True:SuccessPolicy"},
			wantMessage:    "Matched rules at index 1"},
		{name: "succeededIndexes with succeededCount not met yet", parallelism: 3, completions: 5, backoffLimit: 6,
			successPolicy: successRules(batchv1.SuccessPolicyRule{SucceededIndexes: ptr.To("0-3"), SucceededCount: ptr.To[int32](2)}),
			// Index 4 is outside the rule: one of the listed indexes is not enough.
			pods: []indexedPod{
				{index: "0", phase: v1.PodSucceeded}, {index: "4", phase: v1.PodSucceeded}, {index: "1", phase: v1.PodRunning}},
			wantCreatedIndexes: []int{2, 3}, wantPatches: 2, wantActive: 3,
			wantSucceeded: 2, wantCompletedIndexes: "0,4"},
		{name: "rule met with no pod left: Complete with reason SuccessPolicy", parallelism: 1, completions: 3, backoffLimit: 6,
			successPolicy: successRules(batchv1.SuccessPolicyRule{SucceededCount: ptr.To[int32](1)}),
			pods:          []indexedPod{{index: "0", phase: v1.PodSucceeded}},
			wantPatches:   1, wantSucceeded: 1, wantCompletedIndexes: "0",
			wantConditions: []string{"SuccessCriteriaMet=True:SuccessPolicy", "Complete=True:SuccessPolicy"},
			wantMessage:    "Matched rules at index 0",
			wantEvents:     []string{"Normal Completed Job completed"}},
		{name: "SuccessCriteriaMet already recorded: the pods that stopped end as failures, then Complete", parallelism: 2, completions: 3, backoffLimit: 0,
			successPolicy: successRules(batchv1.SuccessPolicyRule{SucceededIndexes: ptr.To("0")}),
			status: batchv1.JobStatus{CompletedIndexes: "0", Succeeded: 1, Conditions: []batchv1.JobCondition{
				newCondition(batchv1.JobSuccessCriteriaMet, v1.ConditionTrue, ReasonSuccessPolicy, "Matched rules at index 0", testNow)}},
			// Under TerminatingOrFailed a stopped pod counts as failed, yet the
			// decided success stands, whatever backoffLimit says.
			pods:        []indexedPod{{index: "1", phase: v1.PodFailed}},
			wantPatches: 1, wantSucceeded: 1, wantFailed: 1, wantCompletedIndexes: "0",
			wantConditions: []string{"SuccessCriteriaMet=True:SuccessPolicy", "Complete=True:SuccessPolicy"}},
		{name: "failed indexes are decided before the success policy", parallelism: 2, completions: 2, backoffLimit: 6,
			backoffLimitPerIndex: ptr.To[int32](0),
			successPolicy:        successRules(batchv1.SuccessPolicyRule{SucceededCount: ptr.To[int32](1)}),
			pods: []indexedPod{
				{index: "0", phase: v1.PodFailed, failuresBefore: "0", finishedAgo: 1}, {index: "1", phase: v1.PodSucceeded}},
			wantPatches: 2, wantSucceeded: 1, wantFailed: 1, wantCompletedIndexes: "1", wantFailedIndexes: ptr.To("0"),
			wantConditions: []string{"FailureTarget=True:FailedIndexes", "Failed=True:FailedIndexes"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { runSyncIndexedCase(t, tc) })
	}
}

func TestSuccessPolicyOutcome(t *testing.T) {
	cases := []struct {
		name        string
		completions int32
		rules       []batchv1.SuccessPolicyRule
		succeeded   string
		wantMessage string // "" means no rule met
	}{
		{name: "no policy", completions: 3, succeeded: "0-2"},
		{name: "nothing succeeded meets no rule, not even succeededCount 0", completions: 3,
			rules: []batchv1.SuccessPolicyRule{{SucceededCount: ptr.To[int32](0)}}},
		{name: "succeededIndexes needs every listed index", completions: 10,
			rules: []batchv1.SuccessPolicyRule{{SucceededIndexes: ptr.To("1,3-5")}}, succeeded: "1,3,5"},
		{name: "succeededIndexes met", completions: 10,
			rules: []batchv1.SuccessPolicyRule{{SucceededIndexes: ptr.To("1,3-5")}}, succeeded: "0-5", wantMessage: "Matched rules at index 0"},
		{name: "succeededCount counts any index", completions: 10,
			rules: []batchv1.SuccessPolicyRule{{SucceededCount: ptr.To[int32](3)}}, succeeded: "2,7,9", wantMessage: "Matched rules at index 0"},
		{name: "both: that many of the listed indexes", completions: 10,
			rules:     []batchv1.SuccessPolicyRule{{SucceededIndexes: ptr.To("0-4"), SucceededCount: ptr.To[int32](2)}},
			succeeded: "4-9", wantMessage: ""},
		{name: "both met", completions: 10,
			rules:     []batchv1.SuccessPolicyRule{{SucceededIndexes: ptr.To("0-4"), SucceededCount: ptr.To[int32](2)}},
			succeeded: "3-9", wantMessage: "Matched rules at index 0"},
		{name: "listed indexes past an elastic scale-down are dropped", completions: 3,
			rules: []batchv1.SuccessPolicyRule{{SucceededIndexes: ptr.To("1-5")}}, succeeded: "1,2", wantMessage: "Matched rules at index 0"},
		{name: "a rule left with no index in range never matches", completions: 3,
			rules: []batchv1.SuccessPolicyRule{{SucceededIndexes: ptr.To("4-5")}, {SucceededCount: ptr.To[int32](2)}}, succeeded: "0,1",
			wantMessage: "Matched rules at index 1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			job := newIndexedJob(1, tc.completions, 6)
			if tc.rules != nil {
				job.Spec.SuccessPolicy = successRules(tc.rules...)
			}
			succeeded, err := parseIntervals(tc.succeeded, int(tc.completions))
			assert.NoError(t, err)
			got := successPolicyOutcome(job, succeeded)
			if tc.wantMessage == "" {
				assert.Nil(t, got)
				return
			}
			if assert.NotNil(t, got) {
				assert.Equal(t, &finishing{success: true, reason: ReasonSuccessPolicy, message: tc.wantMessage}, got)
			}
		})
	}
}
