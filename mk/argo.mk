# Argo Workflows on Kubernetes: manifests, step images, the Helm chart and a kind cluster (docs/deploy.md).
#   make manifests   regenerate charts/multilevel/files/argo/*.yaml from the dataset configuration (hera)
#   make helm-lint   helm lint + helm template with default, kind and EKS values, validated against Argo's schemas
#   make images      build the step images with docker, all tagged $(IMAGE_TAG)
#   make kind-load   load those images into the kind cluster $(KIND_CLUSTER)
#   make kind-up     laptop end to end: cluster, Argo, images, chart, UI port-forward, an ESS load

PYTHON ?= .venv/bin/python
HELM ?= tools/bin/helm
KUBECTL ?= $(if $(shell command -v kubectl 2>/dev/null),kubectl,tools/bin/kubectl)
KIND ?= kind
ARGO ?= argo
DOCKER ?= docker

CHART := charts/multilevel
STEP_IMAGES := eurostat validate stage load ess
IMAGE_REPOSITORY ?= multilevel
# One version for every image; kind uses the tag `dev` (values-kind.yaml).
IMAGE_TAG ?= $(shell $(PYTHON) -c 'import multilevel; print(multilevel.__version__)' 2>/dev/null || echo dev)
KIND_CLUSTER ?= multilevel
NAMESPACE ?= multilevel
ARGO_NAMESPACE ?= argo
# argoproj/argo-helm chart argo-workflows 2.0.1 ships Argo Workflows v4.1.1 (argo-helm release notes, PR #4020);
# charts/argo-workflows-values.yaml sets images.tag to v4.1.2, the release our manifests are validated against.
ARGO_CHART_VERSION ?= 2.0.1
ARGO_VERSION ?= v4.1.2
ARGO_VALUES := charts/argo-workflows-values.yaml
ESS_FILE ?= data/ess9_synthetic.dta

.PHONY: manifests
manifests: ## regenerate the Argo manifests in charts/multilevel/files/argo (hera)
	$(PYTHON) -m workflows

.PHONY: manifests-check
manifests-check: ## fail when the committed Argo manifests differ from freshly generated ones
	$(PYTHON) -m workflows --check

.PHONY: helm-lint
helm-lint: $(HELM) manifests-check ## helm lint and template (default, kind, EKS), checked against Argo v4.1.2 schemas
	$(HELM) lint --strict $(CHART)
	$(HELM) lint --strict $(CHART) -f $(CHART)/values-kind.yaml
	$(HELM) lint --strict $(CHART) -f $(CHART)/values-eks.yaml
	$(PYTHON) -m pytest -q tests/workflows

.PHONY: images
images: ## build every step image with docker, tagged $(IMAGE_REPOSITORY)/<step>:$(IMAGE_TAG)
	@for step in $(STEP_IMAGES); do \
		echo "building $(IMAGE_REPOSITORY)/$$step:$(IMAGE_TAG)"; \
		DOCKER_BUILDKIT=1 $(DOCKER) build -f images/Dockerfile --target $$step -t $(IMAGE_REPOSITORY)/$$step:$(IMAGE_TAG) . || exit 1; \
	done

.PHONY: kind-load
kind-load: ## load the step images into the kind cluster $(KIND_CLUSTER)
	@for step in $(STEP_IMAGES); do \
		$(KIND) load docker-image --name $(KIND_CLUSTER) $(IMAGE_REPOSITORY)/$$step:$(IMAGE_TAG) || exit 1; \
	done

# The namespace first: argo-helm creates RBAC in every controller.workflowNamespaces namespace (argo-helm #2126),
# and everything of this chart lives in it. Pod Security "restricted" is enforced: every pod of it complies.
.PHONY: kind-namespace
kind-namespace:
	$(KUBECTL) create namespace $(NAMESPACE) --dry-run=client -o yaml | $(KUBECTL) apply -f -
	$(KUBECTL) label namespace $(NAMESPACE) --overwrite pod-security.kubernetes.io/enforce=restricted

# Random credentials for the in-cluster MinIO and PostgreSQL; created once, never written to a file or values.
.PHONY: kind-secrets
kind-secrets: kind-namespace
	$(KUBECTL) -n $(NAMESPACE) get secret multilevel-warehouse >/dev/null 2>&1 || \
		$(KUBECTL) -n $(NAMESPACE) create secret generic multilevel-warehouse \
			--from-literal=password="$$(openssl rand -hex 24)"
	$(KUBECTL) -n $(NAMESPACE) get secret multilevel-stage-credentials >/dev/null 2>&1 || \
		$(KUBECTL) -n $(NAMESPACE) create secret generic multilevel-stage-credentials \
			--from-literal=AWS_ACCESS_KEY_ID="multilevel-$$(openssl rand -hex 4)" \
			--from-literal=AWS_SECRET_ACCESS_KEY="$$(openssl rand -hex 24)"

.PHONY: kind-up
kind-up: $(STAMP) $(HELM) ## kind cluster + Argo Workflows + images + chart, then port-forward the UI and submit the ESS load
	$(KIND) get clusters | grep -qx $(KIND_CLUSTER) || $(KIND) create cluster --name $(KIND_CLUSTER) --wait 120s
	$(MAKE) --no-print-directory kind-namespace
	$(HELM) repo add argo https://argoproj.github.io/argo-helm --force-update
	$(HELM) upgrade --install argo-workflows argo/argo-workflows --version $(ARGO_CHART_VERSION) \
		--namespace $(ARGO_NAMESPACE) --create-namespace -f $(ARGO_VALUES) \
		--set images.tag=$(ARGO_VERSION) --set 'controller.workflowNamespaces={$(NAMESPACE)}' --wait
	$(MAKE) --no-print-directory images kind-load IMAGE_TAG=dev
	$(MAKE) --no-print-directory kind-secrets
	$(HELM) upgrade --install multilevel $(CHART) --namespace $(NAMESPACE) \
		-f $(CHART)/values-kind.yaml --set image.tag=dev --wait
	$(KUBECTL) -n $(NAMESPACE) wait --for=condition=complete job/multilevel-minio-bucket --timeout=180s
	@echo "Argo UI: http://localhost:2746 (port-forward running in the background; stop it with: kill $$(cat .kind-port-forward.pid))"
	$(KUBECTL) -n $(ARGO_NAMESPACE) port-forward svc/argo-workflows-server 2746:2746 </dev/null >/dev/null 2>&1 & echo $$! > .kind-port-forward.pid
	$(MAKE) --no-print-directory kind-ess

# Copy the ESS file into MinIO through a port-forward with the project's own S3 code (no pod, nothing reading
# stdin), then submit the ess-load template. An old upload pod from an interrupted run is removed first.
ESS_URL = s3://multilevel-stage/ess/$(notdir $(ESS_FILE))

.PHONY: kind-ess
kind-ess: $(STAMP) ## upload data/ess9_synthetic.dta to the kind MinIO and run the ess-load WorkflowTemplate
	$(KUBECTL) -n $(NAMESPACE) delete pod multilevel-ess-upload --ignore-not-found --wait=false
	$(PYTHON) mk/kind_upload.py $(ESS_FILE) $(ESS_URL) --namespace $(NAMESPACE) --kubectl $(KUBECTL)
	$(ARGO) -n $(NAMESPACE) submit --from workflowtemplate/ess-load -p source=$(ESS_URL) -p round=9 --watch

.PHONY: kind-down
kind-down: ## delete the kind cluster
	-kill $$(cat .kind-port-forward.pid 2>/dev/null) 2>/dev/null; rm -f .kind-port-forward.pid
	$(KIND) delete cluster --name $(KIND_CLUSTER)
