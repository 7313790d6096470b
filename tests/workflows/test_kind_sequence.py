"""The kind quick start (mk/argo.mk), read command by command as `make -n` prints it, short of a cluster:
nothing is created in a namespace before the namespace exists, and nothing reads stdin without an end."""

from __future__ import annotations

import re
import shlex
import subprocess

import yaml
from chart_support import ROOT

ARGO_VALUES = ROOT / "charts" / "argo-workflows-values.yaml"
TOOLS = ["KUBECTL=kubectl", "KIND=kind", "ARGO=argo", "DOCKER=docker", "STAMP=Makefile"]


def dry_run(target: str) -> str:
    """What `make TARGET` would run, recursive makes included (make -n runs them with -n too)."""
    return subprocess.run(["make", "-n", "-C", str(ROOT), "--no-print-directory", target, *TOOLS],
                          check=True, capture_output=True, text=True, timeout=120).stdout


def _commands(text: str) -> list[list[list[str]]]:
    """Logical command lines, each split into pipelines of simple commands (word lists)."""
    lines = text.replace("\\\n", " ").splitlines()
    found = []
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = re.split(r"\s(?:&&|\|\||;)\s|\s&\s", line)
        for part in parts:
            found.append([shlex.split(p, posix=True) for p in part.split(" | ")])
    return found


def _option(words: list[str], *names: str) -> str | None:
    for i, word in enumerate(words):
        for name in names:
            if word == name and i + 1 < len(words):
                return words[i + 1]
            if word.startswith(name + "="):
                return word.split("=", 1)[1]
    return None


def _watched_namespaces(words: list[str]) -> set[str]:
    """Namespaces an argo-helm install creates RBAC in (controller.workflowNamespaces, from --set or -f)."""
    found = set()
    for i, word in enumerate(words):
        match = re.match(r"controller\.workflowNamespaces=\{(.*)\}$", word)
        if match:
            found |= {n.strip() for n in match.group(1).split(",") if n.strip()}
        if word in ("-f", "--values") and i + 1 < len(words) and words[i + 1].endswith(ARGO_VALUES.name):
            values = yaml.safe_load(ARGO_VALUES.read_text())
            found |= set(values.get("controller", {}).get("workflowNamespaces") or [])
    return found


def sequence_errors(text: str) -> list[str]:
    errors: list[str] = []
    created: set[str] = set()
    for pipeline in _commands(text):
        for position, words in enumerate(pipeline):
            if not words:
                continue
            tool = words[0].rsplit("/", 1)[-1]
            shown = " ".join(words)[:120]
            if tool == "kubectl" and {"run", "exec"} & set(words) and (
                {"-i", "--stdin", "-it", "-ti"} & set(words) or "<" in words
            ):
                errors.append(f"reads stdin: {shown}")
            if "-" in words and words[words.index("-") - 1] == "-f" and position == 0:
                errors.append(f"reads stdin with nothing piped in: {shown}")
            if tool == "kubectl" and words[1:3] == ["create", "namespace"]:
                created.add(words[3])
                continue
            if tool not in ("kubectl", "helm", "argo"):
                continue
            namespace = _option(words, "-n", "--namespace")
            if tool == "helm" and "--create-namespace" in words and namespace:
                created.add(namespace)
            used = ({namespace} if namespace else set()) | (_watched_namespaces(words) if tool == "helm" else set())
            for name in sorted(used - created):
                errors.append(f"namespace {name} used before it is created: {shown}")
    return errors


def test_kind_up_creates_each_namespace_before_using_it_and_never_waits_on_stdin():
    text = dry_run("kind-up")
    assert "argo/argo-workflows" in text and "kind_upload.py" in text  # the whole sequence, kind-ess included
    assert sequence_errors(text) == []


def test_the_checks_catch_the_old_sequence():
    """mk/argo.mk before issue 8: Argo installed watching `multilevel` before it existed; the upload read stdin."""
    old = """kind get clusters | grep -qx multilevel || kind create cluster --name multilevel --wait 120s
helm upgrade --install argo-workflows argo/argo-workflows --version 2.0.1 \\
	--namespace argo --create-namespace --set images.tag=v4.1.2 \\
	--set 'controller.workflowNamespaces={multilevel}' --set 'server.authModes={server}' --wait
kubectl create namespace multilevel --dry-run=client -o yaml | kubectl apply -f -
kubectl -n multilevel run multilevel-ess-upload --rm -i --restart=Never --quiet --image=quay.io/minio/mc < data/x.dta
"""
    errors = sequence_errors(old)
    assert any("namespace multilevel used before it is created" in e and "argo-workflows" in e for e in errors)
    assert any(e.startswith("reads stdin:") and "run multilevel-ess-upload" in e for e in errors)


def test_make_tools_and_kind_up_depend_on_the_virtualenv_they_use():
    for target in ("tools/bin/helm", "kind-up", "kind-ess"):
        rule = subprocess.run(["make", "-p", "-n", "-C", str(ROOT), target], capture_output=True,
                              text=True, timeout=120).stdout
        line = next(line for line in rule.splitlines() if line.startswith(f"{target}:") and ":=" not in line)
        assert ".venv/.installed" in line, f"{target} uses .venv but does not depend on it: {line}"
