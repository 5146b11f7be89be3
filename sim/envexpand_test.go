package sim

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestExpandVars(t *testing.T) {
	defined := map[string]string{"NAME": "world", "EMPTY": "", "REF": "$(NAME)"}
	lookup := func(name string) (string, bool) {
		v, ok := defined[name]
		return v, ok
	}
	cases := []struct {
		name  string
		input string
		want  string
	}{
		{name: "no reference", input: "plain text", want: "plain text"},
		{name: "defined variable expands", input: "hello $(NAME)", want: "hello world"},
		{name: "defined empty variable expands to nothing", input: "[$(EMPTY)]", want: "[]"},
		{name: "undefined variable stays as written", input: "hello $(MISSING)", want: "hello $(MISSING)"},
		{name: "double dollar escapes a reference", input: "$$(NAME)", want: "$(NAME)"},
		{name: "double dollar alone is one dollar", input: "cost $$5", want: "cost $5"},
		{name: "triple dollar is an escape then a reference", input: "$$$(NAME)", want: "$world"},
		{name: "dollar before another character is kept", input: "$HOME and $NAME", want: "$HOME and $NAME"},
		{name: "trailing dollar is kept", input: "price$", want: "price$"},
		{name: "unclosed reference is kept", input: "$(NAME", want: "$(NAME"},
		{name: "scanning continues after an unclosed opener", input: "$(a $$", want: "$(a $"},
		{name: "empty name stays as written", input: "$()", want: "$()"},
		{name: "name runs to the first closing parenthesis", input: "$(NAME$(NAME))", want: "$(NAME$(NAME))"},
		{name: "several references", input: "$(NAME)-$(NAME)", want: "world-world"},
		{name: "expanded values are not expanded again", input: "$(REF)", want: "$(NAME)"},
		{name: "adjacent to text", input: "x$(NAME)y", want: "xworldy"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, expandVars(tc.input, lookup))
		})
	}
}

func envTestPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:        "simplejob-abcde",
			Namespace:   "batch",
			UID:         "uid-1234",
			Labels:      map[string]string{"app": "hello"},
			Annotations: map[string]string{"team": "data"},
		},
		Spec: corev1.PodSpec{NodeName: "sim-node-2", ServiceAccountName: "runner"},
		Status: corev1.PodStatus{
			PodIP:   "10.244.2.7",
			PodIPs:  []corev1.PodIP{{IP: "10.244.2.7"}},
			HostIP:  "172.18.0.3",
			HostIPs: []corev1.HostIP{{IP: "172.18.0.3"}},
		},
	}
}

func fieldEnv(name, path string) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}}
}

func TestContainerEnv(t *testing.T) {
	cases := []struct {
		name    string
		env     []corev1.EnvVar
		want    []envVar
		wantErr string
	}{
		{
			name: "plain values in order",
			env:  []corev1.EnvVar{{Name: "A", Value: "1"}, {Name: "B", Value: "2"}},
			want: []envVar{{"A", "1"}, {"B", "2"}},
		},
		{
			name: "later entry refers to an earlier one",
			env:  []corev1.EnvVar{{Name: "A", Value: "1"}, {Name: "B", Value: "$(A)-2"}},
			want: []envVar{{"A", "1"}, {"B", "1-2"}},
		},
		{
			name: "reference to a later entry stays as written",
			env:  []corev1.EnvVar{{Name: "B", Value: "$(A)-2"}, {Name: "A", Value: "1"}},
			want: []envVar{{"B", "$(A)-2"}, {"A", "1"}},
		},
		{
			name: "escaped reference stays literal",
			env:  []corev1.EnvVar{{Name: "A", Value: "1"}, {Name: "B", Value: "$$(A)"}},
			want: []envVar{{"A", "1"}, {"B", "$(A)"}},
		},
		{
			name: "redefinition keeps the first position and the last value",
			env:  []corev1.EnvVar{{Name: "A", Value: "1"}, {Name: "B", Value: "x"}, {Name: "A", Value: "$(A)+1"}},
			want: []envVar{{"A", "1+1"}, {"B", "x"}},
		},
		{
			name: "fieldRef values are not expanded",
			env:  []corev1.EnvVar{{Name: "A", Value: "1"}, fieldEnv("ANN", "metadata.annotations['team']")},
			want: []envVar{{"A", "1"}, {"ANN", "data"}},
		},
		{
			name: "downward API fields",
			env: []corev1.EnvVar{
				fieldEnv("POD_NAME", "metadata.name"),
				fieldEnv("POD_NAMESPACE", "metadata.namespace"),
				fieldEnv("POD_UID", "metadata.uid"),
				fieldEnv("APP", "metadata.labels['app']"),
				fieldEnv("TEAM", "metadata.annotations['team']"),
				fieldEnv("NODE", "spec.nodeName"),
				fieldEnv("SA", "spec.serviceAccountName"),
				fieldEnv("POD_IP", "status.podIP"),
				fieldEnv("POD_IPS", "status.podIPs"),
				fieldEnv("HOST_IP", "status.hostIP"),
				fieldEnv("HOST_IPS", "status.hostIPs"),
			},
			want: []envVar{
				{"POD_NAME", "simplejob-abcde"}, {"POD_NAMESPACE", "batch"}, {"POD_UID", "uid-1234"},
				{"APP", "hello"}, {"TEAM", "data"}, {"NODE", "sim-node-2"}, {"SA", "runner"},
				{"POD_IP", "10.244.2.7"}, {"POD_IPS", "10.244.2.7"},
				{"HOST_IP", "172.18.0.3"}, {"HOST_IPS", "172.18.0.3"},
			},
		},
		{
			name: "missing label is empty",
			env:  []corev1.EnvVar{fieldEnv("X", "metadata.labels['absent']")},
			want: []envVar{{"X", ""}},
		},
		{
			name: "value refers to a fieldRef entry",
			env:  []corev1.EnvVar{fieldEnv("POD_NAME", "metadata.name"), {Name: "GREETING", Value: "hi $(POD_NAME)"}},
			want: []envVar{{"POD_NAME", "simplejob-abcde"}, {"GREETING", "hi simplejob-abcde"}},
		},
		{
			name:    "unsupported field path",
			env:     []corev1.EnvVar{fieldEnv("X", "metadata.generation")},
			wantErr: `env X: fieldRef fieldPath "metadata.generation" is not supported`,
		},
		{
			name:    "whole label map is not an env field",
			env:     []corev1.EnvVar{fieldEnv("X", "metadata.labels")},
			wantErr: `fieldPath "metadata.labels" is not supported`,
		},
		{
			name: "configMap source is not supported",
			env: []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}, Key: "k"}}}},
			wantErr: "env X: only valueFrom.fieldRef is supported",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &corev1.Container{Name: "main", Env: tc.env}
			got, err := containerEnv(envTestPod(), c)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				assert.True(t, strings.HasPrefix(err.Error(), `container "main": `), "error names the container: %v", err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestCommandLine(t *testing.T) {
	env := []envVar{{"POD_NAME", "simplejob-abcde"}, {"GREETING", "hello"}}
	cases := []struct {
		name      string
		container corev1.Container
		want      []string
		wantErr   string
	}{
		{
			name:      "args alone are the command line",
			container: corev1.Container{Args: []string{"/bin/sh", "-c", "echo Hello from $(POD_NAME)"}},
			want:      []string{"/bin/sh", "-c", "echo Hello from simplejob-abcde"},
		},
		{
			name:      "command then args",
			container: corev1.Container{Command: []string{"echo", "$(GREETING)"}, Args: []string{"$(POD_NAME)"}},
			want:      []string{"echo", "hello", "simplejob-abcde"},
		},
		{
			name:      "undefined and escaped references in args",
			container: corev1.Container{Command: []string{"echo"}, Args: []string{"$(NOPE)", "$$(GREETING)"}},
			want:      []string{"echo", "$(NOPE)", "$(GREETING)"},
		},
		{
			name:      "shell variables pass through untouched",
			container: corev1.Container{Args: []string{"/bin/sh", "-c", "echo $POD_NAME ${GREETING}"}},
			want:      []string{"/bin/sh", "-c", "echo $POD_NAME ${GREETING}"},
		},
		{
			name:      "no command and no args",
			container: corev1.Container{Name: "main"},
			wantErr:   `container "main" has neither command nor args`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := commandLine(&tc.container, env)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}
