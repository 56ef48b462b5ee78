# taskfleet — run `make help` for the targets.
GO      ?= go
BIN     ?= bin
PKGS    ?= ./...
# The whole suite must stay well under 15 minutes on 2 cores.
TESTFLAGS ?= -count=1 -timeout 18m
# Debian's python3 (where apt installs python3-pandas and python3-xgboost),
# over a pyenv or virtualenv python3 earlier in PATH.
PYTHON  ?= $(if $(wildcard /usr/bin/python3),/usr/bin/python3,python3)

.PHONY: help build test test-race lint bench demo demo-python clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

build: ## build bin/dispatcher and bin/worker
	$(GO) build -o $(BIN)/ ./cmd/...

test: ## run every test (starts the Mongo-wire test server for the Mongo backend)
	tools/mongotestserver/with-server.sh $(GO) test $(TESTFLAGS) $(PKGS)
	cd tools/mongotestserver && $(GO) test -count=1 ./...
	@if command -v $(PYTHON) >/dev/null; then \
		set -x; $(PYTHON) -m unittest discover -s python -v && $(PYTHON) -m unittest discover -s examples/qlib -v; \
	else echo "no $(PYTHON): the Python tests are skipped (Debian: apt-get install python3)"; fi

test-race: ## run every test with the race detector
	tools/mongotestserver/with-server.sh $(GO) test -race $(TESTFLAGS) $(PKGS)

# golangci-lint, pinned; `make lint` installs it into $(BIN) on first use (it
# compiles for a few minutes on 2 cores; later runs reuse the binary).
GOLANGCI_LINT_VERSION ?= v2.15.0
GOLANGCI_LINT ?= $(BIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)

lint: $(GOLANGCI_LINT) ## go vet, a gofmt check and golangci-lint (.golangci.yaml)
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GOLANGCI_LINT) run ./...

$(GOLANGCI_LINT):
	@mkdir -p $(BIN)/.golangci-lint
	GOBIN=$(abspath $(BIN))/.golangci-lint $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv $(BIN)/.golangci-lint/golangci-lint $@
	@rmdir $(BIN)/.golangci-lint

bench: ## run the Go benchmarks (see docs/BENCHMARKS.md)
	$(GO) test -run '^$$' -bench . -benchtime 1x $(PKGS)

demo: build ## run the rolling-training demo fully embedded (no servers)
	$(BIN)/dispatcher run -f examples/rolling/demo.yaml --log-level warn

# The panel of the Python example: the synthetic market as a CSV file.
QLIB_PANEL ?= examples/qlib/data/panel.csv

demo-python: build ## the rolling demo with a Python XGBoost program (needs python3-pandas, python3-xgboost)
	test -f $(QLIB_PANEL) || $(BIN)/dispatcher dataset synth --out $(QLIB_PANEL)
	$(if $(findstring /,$(PYTHON)),PATH="$(dir $(PYTHON)):$$PATH") $(BIN)/dispatcher run -f examples/qlib/rolling_xgb.yaml --log-level warn

clean: ## remove build output, the embedded store and the example panel
	rm -rf $(BIN) .taskfleet $(QLIB_PANEL)

# The compose fleet (deploy/compose.yaml; needs Docker with the compose plugin).
COMPOSE ?= docker compose -f deploy/compose.yaml
N       ?= 2

.PHONY: up down logs scale secrets

secrets: ## generate the compose fleet's passwords and keys in deploy/secrets/ (kept if present)
	deploy/secrets.sh

up: secrets ## start the compose fleet (deploy/compose.yaml) with N workers (default 2)
	$(COMPOSE) up -d --build --scale worker=$(N)

down: ## stop the compose fleet and keep its data (V=1 also deletes the volumes)
	$(COMPOSE) down $(if $(V),--volumes)

logs: ## follow the compose fleet's logs
	$(COMPOSE) logs -f --tail=100

scale: ## run N workers in the compose fleet: make scale N=8
	$(COMPOSE) up -d --no-recreate --no-build --scale worker=$(N) worker
