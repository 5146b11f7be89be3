package sim

import (
	"io"
	"sync"
)

// maxLogLinesPerPod bounds the output kept per pod; older lines are
// dropped first, as a node rotates container logs.
const maxLogLinesPerPod = 10000

// podLogs keeps container output per pod and copies it to a writer.
type podLogs struct {
	mu  sync.Mutex
	out io.Writer
	// byPod maps "namespace/name" to the pod's lines, oldest first.
	byPod map[string][]string
}

func newPodLogs(out io.Writer) *podLogs {
	return &podLogs{out: out, byPod: map[string][]string{}}
}

func podLogKey(namespace, name string) string { return namespace + "/" + name }

// reset starts a new, empty log for a pod name.
func (l *podLogs) reset(namespace, name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.byPod, podLogKey(namespace, name))
}

func (l *podLogs) lines(namespace, name string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.byPod[podLogKey(namespace, name)]...)
}

// podLogSink writes the lines of one container.
type podLogSink struct {
	logs *podLogs
	key  string
	// prefix starts each printed line: the pod name, plus "/container"
	// when the pod has more than one container.
	prefix string
}

func (l *podLogs) sink(namespace, name, container string, containers int) podLogSink {
	prefix := name
	if containers > 1 {
		prefix += "/" + container
	}
	return podLogSink{logs: l, key: podLogKey(namespace, name), prefix: prefix}
}

func (s podLogSink) add(line string) {
	l := s.logs
	l.mu.Lock()
	defer l.mu.Unlock()
	kept := append(l.byPod[s.key], line)
	if len(kept) > maxLogLinesPerPod {
		kept = kept[len(kept)-maxLogLinesPerPod:]
	}
	l.byPod[s.key] = kept
	// One write per line under the lock, so lines of concurrent
	// containers never interleave. A failing writer loses only the copy.
	_, _ = io.WriteString(l.out, s.prefix+" | "+line+"\n")
}
