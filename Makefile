# The two commands a newcomer needs are `make run` and `make test`.
GO ?= go
PKGS := ./...

.PHONY: run test vet fmt-check unit build bench tools image cluster-up cluster-down

## run: the seed tutorial's hello job on the embedded simulator.
run:
	$(GO) run ./cmd/jobsim testdata/hello-job.yaml

## test: formatting, vet and every test under the race detector, including
## the integration tests against a real kube-apiserver and etcd (built by
## `tools` on first use; a missing binary is a failure here, not a skip).
test: fmt-check vet tools unit

fmt-check:
	@out=$$(gofmt -l .); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

unit:
	KJOB_REQUIRE_INTEGRATION=1 $(GO) test -race -count=1 $(PKGS)

## tools: etcd, kube-apiserver, kube-controller-manager and kubectl, built
## from the Go module proxy into bin/ (rebuilt only when their pins change).
tools:
	GO=$(GO) ./hack/build-tools.sh

build:
	$(GO) build -o bin/ ./cmd/...

## bench: the hot-path benchmarks (queue, sync loop).
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./workqueue/ ./controller/

## image: the job-controller container image (docs/kind.md loads it into kind).
IMAGE ?= kjob/job-controller:dev
image:
	docker build -f deploy/Dockerfile -t $(IMAGE) .

## cluster-up: a local cluster without Docker: etcd, kube-apiserver,
## kube-controller-manager (Job and CronJob controllers off), podsim and the
## project's job-controller; kubeconfig in out/local-cluster/kubeconfig.
## PODSIM_FLAGS=--runtime=exec runs pods' commands on this host.
## See docs/local-cluster.md.
cluster-up:
	GO=$(GO) ./hack/cluster-up.sh

## cluster-down: stop everything cluster-up started.
cluster-down:
	./hack/cluster-down.sh
