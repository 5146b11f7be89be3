# The two commands a newcomer needs are `make run` and `make test`.
GO ?= go
PKGS := ./...

.PHONY: run test vet fmt-check unit build bench

## run: the seed tutorial's hello job on the embedded simulator.
run:
	$(GO) run ./cmd/jobsim testdata/hello-job.yaml

## test: formatting, vet and every test under the race detector.
test: fmt-check vet unit

fmt-check:
	@out=$$(gofmt -l .); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

unit:
	$(GO) test -race -count=1 $(PKGS)

build:
	$(GO) build -o bin/ ./cmd/...

## bench: the hot-path benchmarks (queue, sync loop).
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./workqueue/ ./controller/
