# gitfleet: GitOps for fleets of edge nodes running ML models.
# `make help` lists the targets. Tests and the demo run as root on Debian:
# they install what is missing (containerd, runc, docker-registry, sshd).

SHELL := /bin/bash
export PATH := $(PATH):/usr/local/go/bin
GO ?= go
BIN := bin
CMDS := fleetd fleetctl
PKGS_APT := containerd runc docker-registry openssh-server git gnupg time chromium fonts-dejavu-core fonts-liberation e2fsprogs dosfstools fusefat
GOTEST_FLAGS ?= -count=1 -timeout 18m

.DEFAULT_GOAL := help

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: deps
deps: ## Install the Debian packages tests and the demo need (only what is missing)
	@missing=""; for p in $(PKGS_APT); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq && apt-get install -y -qq $$missing >/dev/null; \
	fi

.PHONY: build
build: ## Build fleetd and fleetctl into bin/
	@mkdir -p $(BIN)
	@for c in $(CMDS); do [ -d cmd/$$c ] && $(GO) build -trimpath -o $(BIN)/$$c ./cmd/$$c || true; done
	@ls $(BIN)

.PHONY: cross
cross: ## Cross-build the binaries for linux/arm64 and linux/arm
	@for arch in arm64 arm; do for c in $(CMDS); do [ -d cmd/$$c ] || continue; \
		CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build -trimpath -ldflags='-s -w' -o $(BIN)/linux-$$arch/$$c ./cmd/$$c || exit 1; \
	done; done; ls -l $(BIN)/linux-*

.PHONY: test
test: deps ## Run every test, real containerd, git servers and registry included (as root)
	$(GO) vet ./...
	$(GO) test $(GOTEST_FLAGS) ./...

.PHONY: demo
demo: deps build ## Run the demo: private containerd, registry, fleet repo, fleetd, a model answering
	$(GO) run ./examples/demo --fleetd $(BIN)/fleetd

.PHONY: bench
bench: deps ## Run the benchmarks and write bench/RESULTS.md
	$(GO) run ./bench

.PHONY: fuzz
fuzz: ## Fuzz the fleet-repo parser for 60 s
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 60s ./spec

.PHONY: lint
lint: ## gofmt, go vet and staticcheck
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

.PHONY: clean
clean: ## Remove build output
	rm -rf $(BIN)
