package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/kjob-dev/kjob/sim"
)

// inputError is bad input: a file that cannot be read or parsed, or an
// object the simulator does not run. jobsim exits with status 2 for it.
type inputError struct{ msg string }

func (e *inputError) Error() string { return e.msg }

func badInput(format string, args ...any) error {
	return &inputError{msg: fmt.Sprintf(format, args...)}
}

// manifest is one object read from a file, remembered with where it came
// from so every later error can name the file.
type manifest struct {
	file string
	doc  int // 1-based position in a multi-document file
	obj  runtime.Object
}

func (m manifest) describe() string {
	kind := m.obj.GetObjectKind().GroupVersionKind().Kind
	name := ""
	if o, ok := m.obj.(interface{ GetName() string }); ok {
		name = o.GetName()
	}
	return fmt.Sprintf("%s: %s %q", m.file, kind, name)
}

// supportedKinds lists what jobsim can apply.
var supportedKinds = map[schema.GroupVersionKind]bool{
	batchv1.SchemeGroupVersion.WithKind("Job"):     true,
	batchv1.SchemeGroupVersion.WithKind("CronJob"): true,
}

// strictDecoder rejects unknown and duplicate fields, as kubectl's default
// server-side field validation does, so a typo like "completionz" is an
// error instead of a silently ignored field.
var strictDecoder = json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme.Scheme, scheme.Scheme,
	json.SerializerOptions{Yaml: true, Strict: true})

// readManifests parses every YAML (or JSON) document of every file.
func readManifests(files []string) ([]manifest, error) {
	if len(files) == 0 {
		return nil, badInput("no manifest given: usage: jobsim [flags] FILE...")
	}
	var out []manifest
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, badInput("%s: cannot read: %v", file, errors.Unwrap(err))
		}
		objs, err := decodeAll(file, data)
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
	if len(out) == 0 {
		return nil, badInput("%s: no objects found", strings.Join(files, ", "))
	}
	if err := checkSimAnnotations(out); err != nil {
		return nil, err
	}
	return out, nil
}

// checkSimAnnotations refuses a Job or CronJob whose pod template has
// sim.kjob.dev/ annotations the simulated kubelet cannot read. Every pod of
// it would fail to start (CreateContainerConfigError), so it is bad input,
// reported before anything runs with the file, the object and the
// annotation.
func checkSimAnnotations(manifests []manifest) error {
	for _, m := range manifests {
		var annotations map[string]string
		var path string
		switch obj := m.obj.(type) {
		case *batchv1.Job:
			annotations, path = obj.Spec.Template.Annotations, "spec.template.metadata.annotations"
		case *batchv1.CronJob:
			annotations, path = obj.Spec.JobTemplate.Spec.Template.Annotations, "spec.jobTemplate.spec.template.metadata.annotations"
		default:
			continue
		}
		if _, err := sim.ParseScript(annotations); err != nil {
			return badInput("%s: %s: %s", m.describe(), path, strings.ReplaceAll(err.Error(), "\n", "; "))
		}
	}
	return nil
}

func decodeAll(file string, data []byte) ([]manifest, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []manifest
	for doc := 1; ; doc++ {
		raw, err := reader.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, badInput("%s: document %d: invalid YAML: %v", file, doc, err)
		}
		if len(bytes.TrimSpace(stripComments(raw))) == 0 {
			continue
		}
		obj, gvk, err := strictDecoder.Decode(raw, nil, nil)
		if err != nil {
			return nil, badInput("%s: document %d: %v", file, doc, cleanDecodeError(err))
		}
		if !supportedKinds[*gvk] {
			return nil, badInput("%s: document %d: unsupported kind %s (jobsim runs batch/v1 Jobs and CronJobs)", file, doc, gvk.GroupKind().String()+" "+gvk.Version)
		}
		obj.GetObjectKind().SetGroupVersionKind(*gvk)
		out = append(out, manifest{file: file, doc: doc, obj: obj})
	}
}

// stripComments drops comment-only lines and document markers ("---",
// "...") so a document made only of them counts as empty.
func stripComments(raw []byte) []byte {
	var b bytes.Buffer
	for _, line := range bytes.Split(raw, []byte("\n")) {
		t := bytes.TrimSpace(line)
		if marker, _, _ := bytes.Cut(t, []byte("#")); string(bytes.TrimSpace(marker)) == "---" || string(t) == "..." {
			continue
		}
		if len(t) > 0 && t[0] != '#' {
			b.Write(line)
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

// cleanDecodeError turns decoder errors into one readable line.
func cleanDecodeError(err error) string {
	msg := err.Error()
	if runtime.IsMissingKind(err) {
		return "missing field kind"
	}
	if runtime.IsMissingVersion(err) {
		return "missing field apiVersion"
	}
	if runtime.IsNotRegisteredError(err) {
		return "unsupported kind: " + msg
	}
	return strings.ReplaceAll(msg, "\n", " ")
}
