package sim

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// This file resolves a container's environment and command line the way the
// kubelet does before it hands them to the container runtime:
//
//   - env entries are processed in order; a plain value may refer to entries
//     defined before it with $(NAME);
//   - downward-API fieldRefs are read from the pod;
//   - command and args may refer to any entry of the finished environment.

// expandVars replaces the $(NAME) references in s. The rules are the ones
// Kubernetes applies to env values, command and args:
//
//   - $(NAME) becomes the value of NAME when lookup knows it;
//   - an unknown $(NAME) is left exactly as written;
//   - $$ is an escaped dollar: $$(NAME) yields the literal text $(NAME);
//   - a $ followed by anything else, or at the very end, is kept;
//   - $( with no closing parenthesis is kept, and scanning goes on after it.
//
// The replacement text is not scanned again, so values cannot expand twice.
func expandVars(s string, lookup func(name string) (string, bool)) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var out strings.Builder
	for i := 0; i < len(s); {
		if s[i] != '$' || i+1 == len(s) {
			out.WriteByte(s[i])
			i++
			continue
		}
		switch s[i+1] {
		case '$':
			out.WriteByte('$')
			i += 2
		case '(':
			closing := strings.IndexByte(s[i+2:], ')')
			if closing < 0 {
				out.WriteString("$(")
				i += 2
				continue
			}
			name := s[i+2 : i+2+closing]
			reference := s[i : i+3+closing]
			if value, ok := lookup(name); ok {
				out.WriteString(value)
			} else {
				out.WriteString(reference)
			}
			i += len(reference)
		default:
			out.WriteByte('$')
			i++
		}
	}
	return out.String()
}

// envVar is one resolved environment entry.
type envVar struct {
	Name  string
	Value string
}

// containerEnv resolves c's environment for pod. The result keeps the order
// of first definition; a name defined twice keeps its last value, as a
// process environment can hold each name once.
func containerEnv(pod *corev1.Pod, c *corev1.Container) ([]envVar, error) {
	if len(c.EnvFrom) > 0 {
		return nil, fmt.Errorf("container %q: envFrom is not supported by the simulated kubelet", c.Name)
	}
	var env []envVar
	position := map[string]int{}
	lookup := func(name string) (string, bool) {
		if i, ok := position[name]; ok {
			return env[i].Value, true
		}
		return "", false
	}
	for _, e := range c.Env {
		var value string
		if e.ValueFrom == nil {
			value = expandVars(e.Value, lookup)
		} else {
			resolved, err := envSourceValue(pod, e.ValueFrom)
			if err != nil {
				return nil, fmt.Errorf("container %q: env %s: %w", c.Name, e.Name, err)
			}
			value = resolved
		}
		if i, ok := position[e.Name]; ok {
			env[i].Value = value
			continue
		}
		position[e.Name] = len(env)
		env = append(env, envVar{Name: e.Name, Value: value})
	}
	return env, nil
}

// envSourceValue reads a valueFrom source. Only the downward API is
// supported: the simulated kubelet has no ConfigMaps, Secrets or resource
// accounting to read from.
func envSourceValue(pod *corev1.Pod, from *corev1.EnvVarSource) (string, error) {
	if from.FieldRef == nil {
		return "", fmt.Errorf("only valueFrom.fieldRef is supported by the simulated kubelet")
	}
	if v := from.FieldRef.APIVersion; v != "" && v != "v1" {
		return "", fmt.Errorf("fieldRef apiVersion %q is not supported (want v1)", v)
	}
	return podFieldValue(pod, from.FieldRef.FieldPath)
}

// podFieldValue returns the value of a downward-API field path: the paths an
// env fieldRef may name.
func podFieldValue(pod *corev1.Pod, path string) (string, error) {
	if key, ok := subscriptKey(path, "metadata.labels"); ok {
		return pod.Labels[key], nil
	}
	if key, ok := subscriptKey(path, "metadata.annotations"); ok {
		return pod.Annotations[key], nil
	}
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.podIP":
		return pod.Status.PodIP, nil
	case "status.hostIP":
		return pod.Status.HostIP, nil
	case "status.podIPs":
		ips := make([]string, 0, len(pod.Status.PodIPs))
		for _, ip := range pod.Status.PodIPs {
			ips = append(ips, ip.IP)
		}
		return strings.Join(ips, ","), nil
	case "status.hostIPs":
		ips := make([]string, 0, len(pod.Status.HostIPs))
		for _, ip := range pod.Status.HostIPs {
			ips = append(ips, ip.IP)
		}
		return strings.Join(ips, ","), nil
	}
	return "", fmt.Errorf("fieldRef fieldPath %q is not supported", path)
}

// subscriptKey parses "<field>['<key>']" and returns key.
func subscriptKey(path, field string) (string, bool) {
	rest, ok := strings.CutPrefix(path, field+"['")
	if !ok {
		return "", false
	}
	key, ok := strings.CutSuffix(rest, "']")
	return key, ok && key != ""
}

// commandLine builds the argv of c: command followed by args, each with
// $(NAME) references expanded from env. The image's entrypoint is unknown
// here, so with args alone the args are the whole command line.
func commandLine(c *corev1.Container, env []envVar) ([]string, error) {
	values := make(map[string]string, len(env))
	for _, e := range env {
		values[e.Name] = e.Value
	}
	lookup := func(name string) (string, bool) {
		v, ok := values[name]
		return v, ok
	}
	argv := make([]string, 0, len(c.Command)+len(c.Args))
	for _, word := range c.Command {
		argv = append(argv, expandVars(word, lookup))
	}
	for _, word := range c.Args {
		argv = append(argv, expandVars(word, lookup))
	}
	if len(argv) == 0 {
		return nil, fmt.Errorf("container %q has neither command nor args; the exec runtime cannot know the image's entrypoint", c.Name)
	}
	return argv, nil
}
