# gitfleet: GitOps for fleets of edge nodes running ML models.
# `make help` lists the targets. Tests and the demo run as root on Debian:
# they install what is missing (containerd, runc, docker-registry, sshd).

SHELL := /bin/bash
export PATH := $(PATH):/usr/local/go/bin
GO ?= go
BIN := bin
CMDS := fleetd fleetctl
PKGS_APT := containerd runc containernetworking-plugins docker-registry openssh-server git gnupg time chromium fonts-dejavu-core fonts-liberation e2fsprogs dosfstools fusefat nginx fcgiwrap curl systemd
GOTEST_FLAGS ?= -count=1 -timeout 18m
# Releases: the version stamped into the binaries (fleetd --version) and
# the packages; where they go; the architectures (armv7 is GOARCH=arm
# GOARM=7, Debian's armhf).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
DIST ?= dist
RELEASE_ARCHES ?= amd64 arm64 armv7
NFPM_VERSION := v2.45.2
NFPM := $(abspath $(BIN))/tools/nfpm
# A Debian version must start with a digit: tag v0.2.0 -> 0.2.0,
# v0.2.0-3-gabc -> 0.2.0+3+gabc; an untagged commit abc1234 -> 0.0.0+gitabc1234.
DEB_VERSION = $(subst -,+,$(if $(filter v0% v1% v2% v3% v4% v5% v6% v7% v8% v9%,$(VERSION)),$(VERSION:v%=%),0.0.0+git$(VERSION)))
# Tools built once from the Go module proxy and kept between runs (a new
# version builds anew beside the old one).
CACHE ?= $(HOME)/.cache/gitfleet
COSIGN_VERSION := v2.6.5
COSIGN := $(CACHE)/cosign-$(COSIGN_VERSION)/cosign
# Fuzz targets: every `func Fuzz…` in a test file, each for FUZZTIME.
FUZZTIME ?= 60s
# Fleet sizes `make fleetsim` simulates.
AGENTS ?= 100,1000

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

.PHONY: release
release: ## Static stripped binaries for linux amd64/arm64/armv7, .deb packages and SHA256SUMS in dist/
	@rm -rf $(DIST) && mkdir -p $(DIST) $(BIN)/tools
	@test -x $(NFPM) && $(NFPM) --version 2>&1 | grep -q '$(NFPM_VERSION:v%=%)' || \
		GOBIN=$(abspath $(BIN))/tools $(GO) install github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION)
	@set -e; for arch in $(RELEASE_ARCHES); do \
		case $$arch in armv7) goarch=arm goarm=7 debarch=armhf;; *) goarch=$$arch goarm= debarch=$$arch;; esac; \
		for c in $(CMDS); do \
			echo "build $(DIST)/$$c-linux-$$arch"; \
			CGO_ENABLED=0 GOOS=linux GOARCH=$$goarch GOARM=$$goarm $(GO) build -trimpath -buildvcs=false \
				-ldflags='-s -w -X github.com/gitfleet/gitfleet/internal/version.version=$(VERSION)' \
				-o $(DIST)/$$c-linux-$$arch ./cmd/$$c; \
			stage=$(DIST)/.stage; mkdir -p $$stage && cp $(DIST)/$$c-linux-$$arch $$stage/$$c; \
			sed "s#bin/stage/#$$stage/#" packaging/nfpm-$$c.yaml > $$stage/nfpm.yaml; \
			DEB_ARCH=$$debarch DEB_VERSION='$(DEB_VERSION)' \
				$(NFPM) package --config $$stage/nfpm.yaml --packager deb --target $(DIST)/$${c}_$(DEB_VERSION)_$$debarch.deb >/dev/null; \
			rm -rf $$stage; \
			echo "package $(DIST)/$${c}_$(DEB_VERSION)_$$debarch.deb"; \
		done; \
	done
	@cd $(DIST) && sha256sum -- * > SHA256SUMS && cat SHA256SUMS

.PHONY: test
test: deps $(COSIGN) ## Run every test, real containerd, git servers, registry and cosign included (as root)
	$(GO) vet ./...
	GITFLEET_COSIGN=$(COSIGN) $(GO) test $(GOTEST_FLAGS) ./...

.PHONY: chaos
chaos: deps ## Fault injection on real parts (fleetd and containerd killed, git server and registry down, state dir full, pulls cut) and the figures into bench/RESULTS.md
	$(GO) test -count=1 -timeout 60m -v ./chaos -points 100 -fault-points 20 -layer-mib 16 -results $(CURDIR)/bench/RESULTS.md

.PHONY: cosign
cosign: $(COSIGN) ## Build the cosign binary the interoperability tests check against (once, cached)
	@echo $(COSIGN)

$(COSIGN):
	@echo "building cosign $(COSIGN_VERSION) into $(@D) (once; later runs reuse it)"
	CGO_ENABLED=0 GOBIN=$(@D) $(GO) install -trimpath -ldflags='-s -w' github.com/sigstore/cosign/v2/cmd/cosign@$(COSIGN_VERSION)

.PHONY: demo
demo: deps build ## Run the demo: private containerd, registry, fleet repo, fleetd, a model answering
	$(GO) run ./examples/demo --fleetd $(BIN)/fleetd

.PHONY: bench
bench: deps ## Run the benchmarks and write bench/RESULTS.md
	$(GO) run ./bench

.PHONY: fleetsim
fleetsim: deps ## Run the fleet simulation alone (AGENTS=100,1000) and write its section of bench/RESULTS.md
	$(GO) run ./bench -only fleetsim -agents $(AGENTS)

.PHONY: fuzz
fuzz: ## Run every fuzz target in the repo, FUZZTIME each (default 60s)
	@failed=""; \
	for file in $$(grep -rl --include='*_test.go' --exclude-dir=testdata '^func Fuzz' . | sort); do \
		for target in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$file); do \
			echo "== $$(dirname $$file) $$target ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) ./$$(dirname $$file) || failed="$$failed $$(dirname $$file):$$target"; \
		done; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz failures:$$failed"; exit 1; fi

.PHONY: lint
lint: ## gofmt, go vet and staticcheck
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

.PHONY: clean
clean: ## Remove build output
	rm -rf $(BIN) $(DIST)
