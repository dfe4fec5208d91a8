# promptfolio — build, test and run a development cluster.
# The two commands of the README: `make demo` and `make test`. `make help` lists the rest.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

KUBE_VERSION ?= v1.37.2
LOCALBIN ?= $(CURDIR)/bin
ENVTEST_ASSETS ?= $(LOCALBIN)/k8s/$(KUBE_VERSION)
export KUBEBUILDER_ASSETS ?= $(ENVTEST_ASSETS)
KUBECTL ?= $(ENVTEST_ASSETS)/kubectl
DEV_KUBECONFIG ?= $(LOCALBIN)/dev-cluster/kubeconfig

CONTROLLER_GEN_VERSION ?= v0.23.0
KUSTOMIZE_VERSION ?= v5.7.1
HELM_VERSION ?= v3.22.0
GOLANGCI_LINT_VERSION ?= v2.15.0

CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen-$(CONTROLLER_GEN_VERSION)
KUSTOMIZE ?= $(LOCALBIN)/kustomize-$(KUSTOMIZE_VERSION)
HELM ?= $(LOCALBIN)/helm-$(HELM_VERSION)
GOLANGCI_LINT ?= $(LOCALBIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)

GO_TEST_FLAGS ?= -count=1 -timeout 30m

# Images: by default tagged with the chart's appVersion, the tag the chart deploys.
VERSION ?= $(shell awk -F'"' '/^appVersion:/ {print $$2}' charts/promptfolio/Chart.yaml)
IMG ?= ghcr.io/promptfolio/promptfolio:$(VERSION)
SELECTOR_IMG ?= ghcr.io/promptfolio/promptfolio-selector:$(VERSION)
CONTAINER_TOOL ?= docker

.DEFAULT_GOAL := help

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-22s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Quick start

.PHONY: demo
demo: build envtest-assets $(HELM) ## Run the whole loop: dev cluster (with a node where root), chart, selectors and a simulated workload (DEMO_DURATION=3m).
	@if [ "$$(id -u)" = 0 ] && command -v containerd >/dev/null && [ "$${DEMO_LOCAL:-0}" != 1 ]; then $(MAKE) --no-print-directory node-assets images; fi
	HELM=$(HELM) hack/demo.sh

.PHONY: test-e2e
test-e2e: build node-assets images $(HELM) ## Through pods on the dev node: the chart, injection, faults, upgrade, exact reward counts, learning (docs/e2e.md).
	HELM=$(HELM) hack/e2e.sh

.PHONY: test-e2e-node-mode
test-e2e-node-mode: build node-assets images $(HELM) ## Node-local selectors (selector.mode node) on the dev node: report writes in sidecar vs node mode, SIGKILL, exact counts (docs/e2e.md).
	HELM=$(HELM) hack/e2e-node-mode.sh

.PHONY: test
test: verify envtest-assets helm-lint ## Run unit and envtest tests against a real API server (builds the control plane when missing).
	HELM=$(HELM) go test $(GO_TEST_FLAGS) ./...
	cd hack/image && go test $(GO_TEST_FLAGS) ./...

##@ Development

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate the CRDs (config/crd/bases) and RBAC (config/rbac) from the Go types and markers.
	$(CONTROLLER_GEN) crd:allowDangerousTypes=true paths=./api/... output:crd:artifacts:config=config/crd/bases
	@if ls controllers/*.go >/dev/null 2>&1; then \
		$(CONTROLLER_GEN) rbac:roleName=promptfolio-manager paths=./controllers/... output:rbac:artifacts:config=config/rbac; fi
	hack/sync-chart-crds.sh

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate DeepCopy methods.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...

.PHONY: fmt
fmt: ## Run gofmt on the code.
	gofmt -s -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: lint
lint: $(GOLANGCI_LINT) ## Run golangci-lint (configuration in .golangci.yml).
	$(GOLANGCI_LINT) run --allow-parallel-runners ./...

.PHONY: verify
verify: manifests generate ## Fail when generated files are stale or code is not gofmt'ed; run go vet.
	@stale=$$(git status --porcelain -- api config charts | grep -v '^??' || true); \
	untracked=$$(git status --porcelain -- api config charts | grep '^??' || true); \
	if [ -n "$$stale$$untracked" ]; then echo "generated files are stale; run 'make manifests generate' and commit:"; echo "$$stale$$untracked"; git diff --stat -- api config; exit 1; fi
	@unformatted=$$(gofmt -s -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "not gofmt'ed: $$unformatted"; exit 1; fi
	go vet ./...

.PHONY: helm-lint
helm-lint: $(HELM) ## Lint the Helm chart.
	$(HELM) lint charts/promptfolio

.PHONY: test-unit
test-unit: ## Run only the tests that need no control plane (pure packages).
	go test $(GO_TEST_FLAGS) ./internal/bandit/... ./internal/evolution/... ./internal/mutation/... ./internal/simulate/...

.PHONY: simulate-suite
simulate-suite: ## Run the learning suite (docs/simulate.md): evolution against none over the traffic × σ × bias matrix, 500 runs a cell.
	nice go run . simulate --suite --plots=false $(SUITE_FLAGS)

.PHONY: bench
bench: ## Run the Go benchmarks of the statistics core.
	go test -run '^$$' -bench . -benchmem ./internal/bandit/...

FLEET_WRITERS ?= 1,10,100,1000
FLEET_FLAGS ?=
.PHONY: fleet
fleet: envtest-assets ## Measure the counter data path with FLEET_WRITERS simulated selectors against a real API server (docs/benchmarks.md).
	go run ./hack/fleet -writers $(FLEET_WRITERS) $(FLEET_FLAGS)

##@ Build

.PHONY: build
build: ## Build bin/promptfolio (every subcommand) and bin/promptfolio-selector (the sidecar: cmd/promptfolio-selector, selector only, static).
	go build -o $(LOCALBIN)/promptfolio .
	CGO_ENABLED=0 go build -trimpath -o $(LOCALBIN)/promptfolio-selector ./cmd/promptfolio-selector

##@ Images without a container engine

IMAGES_DIR ?= $(LOCALBIN)/images
PAUSE_IMG ?= localhost/promptfolio/pause:$(VERSION)
CA_BUNDLE ?= /etc/ssl/certs/ca-certificates.crt
IMAGE_SOURCE ?= https://github.com/promptfolio/promptfolio
IMAGE_TOOL ?= $(LOCALBIN)/image-tool
IMAGE_LABELS = -label org.opencontainers.image.source=$(IMAGE_SOURCE) -label org.opencontainers.image.version=$(VERSION) -label org.opencontainers.image.licenses=Apache-2.0

.PHONY: images
images: ## Build the manager, selector and pause images as tarballs in bin/images (static binaries, no Docker needed).
	CGO_ENABLED=0 go build -trimpath -o $(LOCALBIN)/static/promptfolio .
	CGO_ENABLED=0 go build -trimpath -o $(LOCALBIN)/static/promptfolio-selector ./cmd/promptfolio-selector
	cd hack/image && CGO_ENABLED=0 go build -trimpath -o $(IMAGE_TOOL) . && CGO_ENABLED=0 go build -trimpath -o $(LOCALBIN)/static/pause ./pause
	$(IMAGE_TOOL) -tag $(IMG) -o $(IMAGES_DIR)/manager.tar -binary $(LOCALBIN)/static/promptfolio:/promptfolio -ca $(CA_BUNDLE) $(IMAGE_LABELS) -label org.opencontainers.image.title=promptfolio
	$(IMAGE_TOOL) -tag $(SELECTOR_IMG) -o $(IMAGES_DIR)/selector.tar -binary $(LOCALBIN)/static/promptfolio-selector:/promptfolio-selector -ca $(CA_BUNDLE) $(IMAGE_LABELS) -label org.opencontainers.image.title=promptfolio-selector
	$(IMAGE_TOOL) -tag $(PAUSE_IMG) -o $(IMAGES_DIR)/pause.tar -binary $(LOCALBIN)/static/pause:/pause $(IMAGE_LABELS) -label org.opencontainers.image.title=pause

##@ Images (Dockerfile; needs a container engine)

.PHONY: docker-build
docker-build: docker-build-manager docker-build-selector ## Build both images (IMG and SELECTOR_IMG) from the Dockerfile.

.PHONY: docker-build-manager
docker-build-manager: ## Build the manager image IMG (Dockerfile target manager: every subcommand).
	$(CONTAINER_TOOL) build --target manager -t $(IMG) .

.PHONY: docker-build-selector
docker-build-selector: ## Build the injected sidecar's image SELECTOR_IMG (Dockerfile target selector: selector only).
	$(CONTAINER_TOOL) build --target selector -t $(SELECTOR_IMG) .

##@ Control plane from source

.PHONY: envtest-assets
envtest-assets: ## Build etcd, kube-apiserver, kube-controller-manager and kubectl into bin/k8s/$(KUBE_VERSION).
	KUBE_VERSION=$(KUBE_VERSION) ENVTEST_ASSETS_DIR=$(ENVTEST_ASSETS) hack/envtest-assets.sh

.PHONY: dev-cluster-up
dev-cluster-up: envtest-assets ## Start the dev cluster on loopback and install the CRDs.
	hack/dev-cluster.sh up

.PHONY: dev-cluster-down
dev-cluster-down: ## Stop the dev cluster (with or without its node), remove its data and put back the host settings it changed.
	hack/dev-cluster.sh down

.PHONY: node-assets
node-assets: envtest-assets ## Also build kube-scheduler, kube-proxy and the kubelet into bin/k8s/$(KUBE_VERSION).
	KUBE_VERSION=$(KUBE_VERSION) ENVTEST_ASSETS_DIR=$(ENVTEST_ASSETS) hack/envtest-assets.sh --node

.PHONY: dev-node-up
dev-node-up: node-assets images ## Start the dev cluster with a node that runs pods (root; containerd, runc, CNI plugins); see docs/e2e.md.
	hack/dev-cluster.sh up --node

.PHONY: test-dev-node
test-dev-node: node-assets images ## Start the node, run a pod, stop it, and fail unless the host is exactly as before.
	hack/test-dev-node.sh

##@ Tools (pinned, installed into ./bin with go install)

$(CONTROLLER_GEN):
	$(call go-install-tool,$(CONTROLLER_GEN),sigs.k8s.io/controller-tools/cmd/controller-gen,$(CONTROLLER_GEN_VERSION))

$(KUSTOMIZE):
	$(call go-install-tool,$(KUSTOMIZE),sigs.k8s.io/kustomize/kustomize/v5,$(KUSTOMIZE_VERSION))

$(HELM):
	$(call go-install-tool,$(HELM),helm.sh/helm/v3/cmd/helm,$(HELM_VERSION))

$(GOLANGCI_LINT):
	$(call go-install-tool,$(GOLANGCI_LINT),github.com/golangci/golangci-lint/v2/cmd/golangci-lint,$(GOLANGCI_LINT_VERSION))

.PHONY: tools
tools: $(CONTROLLER_GEN) $(KUSTOMIZE) $(HELM) $(GOLANGCI_LINT) ## Install every pinned tool.

# go-install-tool installs $(2)@$(3) as $(1), a versioned file, so a version bump reinstalls.
define go-install-tool
@set -e; tmp=$$(mktemp -d); \
echo "installing $(2)@$(3)"; \
GOBIN=$$tmp go install $(2)@$(3); \
mkdir -p $(LOCALBIN); mv $$tmp/$$(basename $(2)) $(1); rm -rf $$tmp; \
ln -sf $$(basename $(1)) $(LOCALBIN)/$$(basename $(2))
endef

.PHONY: golangci-lint
golangci-lint: $(GOLANGCI_LINT) ## Install golangci-lint into ./bin.
