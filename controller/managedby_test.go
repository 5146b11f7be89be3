package controller

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/utils/ptr"
)

const testControllerName = "kjob.dev/job-controller"

func TestManagedByPredicate(t *testing.T) {
	cases := []struct {
		managedBy   *string
		alone, both bool // want, without and with alsoBuiltIn
	}{
		{managedBy: ptr.To(testControllerName), alone: true, both: true},
		{managedBy: nil, alone: false, both: true},
		{managedBy: ptr.To(BuiltInControllerName), alone: false, both: true},
		{managedBy: ptr.To("example.com/other"), alone: false, both: false},
		{managedBy: ptr.To("kjob.dev/job-controller-2"), alone: false, both: false},
		{managedBy: ptr.To("kjob.dev/JOB-controller"), alone: false, both: false},
		{managedBy: ptr.To(""), alone: false, both: false},
	}
	alone, err := ManagedByPredicate(testControllerName, false)
	require.NoError(t, err)
	both, err := ManagedByPredicate(testControllerName, true)
	require.NoError(t, err)
	for _, tc := range cases {
		name := "<unset>"
		if tc.managedBy != nil {
			name = *tc.managedBy
		}
		t.Run(name, func(t *testing.T) {
			job := &batchv1.Job{Spec: batchv1.JobSpec{ManagedBy: tc.managedBy}}
			assert.Equal(t, tc.alone, alone(job), "beside the built-in controller")
			assert.Equal(t, tc.both, both(job), "standing in for the built-in controller")
		})
	}
}

func TestManagedByPredicateRejectsBadNames(t *testing.T) {
	_, err := ManagedByPredicate(BuiltInControllerName, true)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "reserved")
}

func TestValidateControllerName(t *testing.T) {
	cases := []struct {
		name    string
		wantErr string
	}{
		{name: testControllerName},
		{name: "example.com/jobs"},
		{name: "", wantErr: "must not be empty"},
		{name: BuiltInControllerName, wantErr: "reserved"},
		{name: "job-controller", wantErr: "domain-prefixed path"},
		{name: "kjob.dev/", wantErr: "kjob.dev/"},
		{name: "Bad_Domain/x", wantErr: "Bad_Domain"},
		{name: "kjob.dev/" + strings.Repeat("x", 60), wantErr: "no more than 63 characters"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateControllerName(tc.name)
			if tc.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
}
