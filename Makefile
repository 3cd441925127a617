# livedrop developer commands. CI runs `make test` (.ci/run).
SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

GO       ?= go
PKGS     ?= ./...
BIN      ?= bin/livedrop
FUZZTIME ?= 15s
BENCH    ?= .
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X github.com/livedrop/livedrop/internal/app.Version=$(VERSION)

# What the tests start: real Redis, ffmpeg as a camera, headless Chromium,
# Prometheus and promtool. All from Debian packages.
TOOLS        := redis-server ffmpeg chromium prometheus promtool
APT_PACKAGES := redis-server ffmpeg chromium prometheus fonts-dejavu-core

.PHONY: test deps build demo fuzz bench lint

## test: install what the tests need, then vet and run every test with -race
test: deps
	$(GO) vet $(PKGS)
	$(GO) test -race -timeout 30m $(PKGS)
	# Allocation budgets and timings, which -race cannot measure.
	$(GO) test -count=1 -run 'Allocat' ./internal/stream/ ./internal/srtpdirect/ ./internal/whep/ ./internal/proof/
	$(GO) test -count=1 -run 'TestEdgeJournalManyOrders' ./checkout/

## deps: install the test tools from Debian packages when any is missing
deps:
	@missing=""; \
	for t in $(TOOLS); do command -v "$$t" >/dev/null 2>&1 || missing="$$missing $$t"; done; \
	[ -x /usr/bin/chromium ] || missing="$$missing /usr/bin/chromium"; \
	if [ -z "$$missing" ]; then echo "deps: $(TOOLS) installed"; exit 0; fi; \
	echo "deps: missing:$$missing; installing $(APT_PACKAGES)"; \
	sudo=""; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
	$$sudo apt-get update; \
	$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y $(APT_PACKAGES)

## build: build bin/livedrop
build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/livedrop

## demo: origin + edge + built-in camera in one process (CONFIG=file.yaml optional)
demo: build
	./$(BIN) demo $(if $(CONFIG),--config $(CONFIG))

## fuzz: run every fuzz target for FUZZTIME each
fuzz:
	@for pkg in $$($(GO) list $(PKGS)); do \
	  list=$$($(GO) test -list 'Fuzz.*' "$$pkg") || exit 1; \
	  for f in $$(grep '^Fuzz' <<<"$$list" || true); do \
	    echo "fuzz: $$pkg $$f for $(FUZZTIME)"; \
	    $(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) "$$pkg" || exit 1; \
	  done; \
	done

## bench: run the benchmarks with allocation counts
bench:
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem $(PKGS)

## lint: gofmt must have nothing to say, and go vet must pass
lint:
	@unformatted=$$(find . -name '*.go' -not -path './.git/*' -not -path '*/testdata/*' -print0 | xargs -0 gofmt -l); \
	if [ -n "$$unformatted" ]; then echo "gofmt wants to rewrite:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)
