package sim

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseScript(t *testing.T) {
	cases := []struct {
		name        string
		annotations map[string]string
		want        *Script
	}{
		{
			name:        "no annotations",
			annotations: nil,
			want:        &Script{FailureExitCode: 1},
		},
		{
			name:        "other annotations are ignored",
			annotations: map[string]string{"example.com/owner": "team-a", "sim.kjob.dev": "not a key"},
			want:        &Script{FailureExitCode: 1},
		},
		{
			name: "every annotation",
			annotations: map[string]string{
				"sim.kjob.dev/runtime":                   "scripted",
				"sim.kjob.dev/start-delay":               "250ms",
				"sim.kjob.dev/duration":                  "5s, 1m",
				"sim.kjob.dev/exit-codes":                "1,1,0",
				"sim.kjob.dev/exit-codes-index-3":        "42",
				"sim.kjob.dev/duration-index-3":          "1h",
				"sim.kjob.dev/exit-codes-container-side": "3",
				"sim.kjob.dev/duration-container-side":   "2s",
				"sim.kjob.dev/failure-probability":       "0.25",
				"sim.kjob.dev/failure-exit-code":         "7",
				"sim.kjob.dev/sigterm-delay":             "45s",
			},
			want: &Script{
				Annotated:          true,
				Runtime:            RuntimeScripted,
				StartDelay:         250 * time.Millisecond,
				HasStartDelay:      true,
				Durations:          []time.Duration{5 * time.Second, time.Minute},
				ExitCodes:          []int32{1, 1, 0},
				IndexExitCodes:     map[int][]int32{3: {42}},
				IndexDurations:     map[int][]time.Duration{3: {time.Hour}},
				ContainerExitCodes: map[string][]int32{"side": {3}},
				ContainerDurations: map[string][]time.Duration{"side": {2 * time.Second}},
				FailureProbability: 0.25,
				FailureExitCode:    7,
				SigtermDelay:       45 * time.Second,
			},
		},
		{
			name:        "explicit zero start delay",
			annotations: map[string]string{"sim.kjob.dev/start-delay": "0s"},
			want:        &Script{Annotated: true, HasStartDelay: true, FailureExitCode: 1},
		},
		{
			name:        "exec runtime with a start delay",
			annotations: map[string]string{"sim.kjob.dev/runtime": "exec", "sim.kjob.dev/start-delay": "2s"},
			want:        &Script{Annotated: true, Runtime: RuntimeExec, StartDelay: 2 * time.Second, HasStartDelay: true, FailureExitCode: 1},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseScript(tc.annotations)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestParseScriptErrors(t *testing.T) {
	cases := []struct {
		name        string
		annotations map[string]string
		// wantErrs must each appear in the error text.
		wantErrs []string
	}{
		{
			name:        "unknown annotation",
			annotations: map[string]string{"sim.kjob.dev/exitcodes": "1"},
			wantErrs:    []string{`annotation sim.kjob.dev/exitcodes="1": unknown annotation`},
		},
		{
			name:        "unknown runtime",
			annotations: map[string]string{"sim.kjob.dev/runtime": "docker"},
			wantErrs:    []string{`annotation sim.kjob.dev/runtime="docker": want scripted or exec`},
		},
		{
			name:        "duration without unit",
			annotations: map[string]string{"sim.kjob.dev/duration": "5"},
			wantErrs:    []string{`annotation sim.kjob.dev/duration="5": "5" is not a duration`},
		},
		{
			name:        "negative start delay",
			annotations: map[string]string{"sim.kjob.dev/start-delay": "-1s"},
			wantErrs:    []string{`sim.kjob.dev/start-delay="-1s": "-1s" is negative`},
		},
		{
			name:        "bad element in a list names its position",
			annotations: map[string]string{"sim.kjob.dev/exit-codes": "0,x,1"},
			wantErrs:    []string{`sim.kjob.dev/exit-codes="0,x,1": element 2: "x" is not an exit code`},
		},
		{
			name:        "exit code out of range",
			annotations: map[string]string{"sim.kjob.dev/exit-codes": "256"},
			wantErrs:    []string{`"256" is not an exit code (want an integer from 0 to 255)`},
		},
		{
			name:        "empty list",
			annotations: map[string]string{"sim.kjob.dev/exit-codes": " "},
			wantErrs:    []string{`sim.kjob.dev/exit-codes=" ": empty value`},
		},
		{
			name:        "empty list element",
			annotations: map[string]string{"sim.kjob.dev/duration": "1s,,2s"},
			wantErrs:    []string{`element 2: "" is not a duration`},
		},
		{
			name:        "index annotation without an index",
			annotations: map[string]string{"sim.kjob.dev/exit-codes-index-": "1"},
			wantErrs:    []string{`sim.kjob.dev/exit-codes-index-="1": the name must end in a completion index`},
		},
		{
			name:        "index annotation with a signed index",
			annotations: map[string]string{"sim.kjob.dev/exit-codes-index-+1": "1"},
			wantErrs:    []string{`"+1" is not a non-negative integer`},
		},
		{
			name:        "container annotation with an invalid container name",
			annotations: map[string]string{"sim.kjob.dev/exit-codes-container-Main": "1"},
			wantErrs:    []string{`sim.kjob.dev/exit-codes-container-Main="1": the name must end in a container name: "Main"`},
		},
		{
			name:        "container duration annotation without a name",
			annotations: map[string]string{"sim.kjob.dev/duration-container-": "1s"},
			wantErrs:    []string{`sim.kjob.dev/duration-container-="1s": the name must end in a container name`},
		},
		{
			name:        "probability above one",
			annotations: map[string]string{"sim.kjob.dev/failure-probability": "1.5"},
			wantErrs:    []string{`"1.5" is not a probability (want a number from 0 to 1)`},
		},
		{
			name:        "probability not a number",
			annotations: map[string]string{"sim.kjob.dev/failure-probability": "NaN"},
			wantErrs:    []string{`"NaN" is not a probability`},
		},
		{
			name:        "zero failure exit code",
			annotations: map[string]string{"sim.kjob.dev/failure-exit-code": "0"},
			wantErrs:    []string{`sim.kjob.dev/failure-exit-code="0": a failure needs a non-zero exit code`},
		},
		{
			name:        "scripted outcome under the exec runtime",
			annotations: map[string]string{"sim.kjob.dev/runtime": "exec", "sim.kjob.dev/exit-codes": "1"},
			wantErrs:    []string{`annotation sim.kjob.dev/exit-codes: only the scripted runtime reads it, but sim.kjob.dev/runtime is "exec"`},
		},
		{
			name: "every problem is reported",
			annotations: map[string]string{
				"sim.kjob.dev/duration":   "soon",
				"sim.kjob.dev/exit-codes": "-1",
				"sim.kjob.dev/colour":     "blue",
			},
			wantErrs: []string{"sim.kjob.dev/duration=", "sim.kjob.dev/exit-codes=", "sim.kjob.dev/colour="},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseScript(tc.annotations)
			require.Error(t, err)
			assert.Nil(t, got)
			for _, want := range tc.wantErrs {
				assert.Contains(t, err.Error(), want)
			}
		})
	}
}

func TestScriptPicksPerAttempt(t *testing.T) {
	s, err := ParseScript(map[string]string{
		"sim.kjob.dev/duration":                  "1s,2s",
		"sim.kjob.dev/exit-codes":                "3,0",
		"sim.kjob.dev/exit-codes-index-1":        "9,8",
		"sim.kjob.dev/duration-index-2":          "1m",
		"sim.kjob.dev/exit-codes-container-side": "6",
		"sim.kjob.dev/duration-container-side":   "30s",
	})
	require.NoError(t, err)
	cases := []struct {
		name         string
		container    string
		index        int
		attempt      int
		wantCode     int32
		wantDuration time.Duration
	}{
		{name: "first attempt", index: -1, attempt: 0, wantCode: 3, wantDuration: time.Second},
		{name: "second attempt", index: -1, attempt: 1, wantCode: 0, wantDuration: 2 * time.Second},
		{name: "last value repeats", index: -1, attempt: 5, wantCode: 0, wantDuration: 2 * time.Second},
		{name: "index without its own codes uses the common list", index: 0, attempt: 0, wantCode: 3, wantDuration: time.Second},
		{name: "index with its own codes", index: 1, attempt: 0, wantCode: 9, wantDuration: time.Second},
		{name: "index codes repeat their last value", index: 1, attempt: 4, wantCode: 8, wantDuration: 2 * time.Second},
		{name: "container with its own codes and durations", container: "side", index: -1, attempt: 0, wantCode: 6, wantDuration: 30 * time.Second},
		{name: "container codes win over index codes", container: "side", index: 1, attempt: 1, wantCode: 6, wantDuration: 30 * time.Second},
		{name: "index with its own duration", index: 2, attempt: 0, wantCode: 3, wantDuration: time.Minute},
		{name: "container durations win over index durations", container: "side", index: 2, attempt: 0, wantCode: 6, wantDuration: 30 * time.Second},
	}
	for i := range cases {
		if cases[i].container == "" {
			cases[i].container = "main"
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.wantCode, s.exitCode(tc.container, tc.index, tc.attempt))
			assert.Equal(t, tc.wantDuration, s.duration(tc.container, tc.index, tc.attempt))
		})
	}

	empty, err := ParseScript(nil)
	require.NoError(t, err)
	assert.Equal(t, int32(0), empty.exitCode("main", -1, 0), "no exit-codes means success")
	assert.Equal(t, defaultScriptedDuration, empty.duration("main", -1, 0), "no duration means the default")
}
