"""Every `argo submit`, `argo cron` and `helm` command in README.md and docs/deploy.md names templates, parameters,
values keys and files that exist in what is generated, and the pinned versions agree with their comments."""

from __future__ import annotations

import re
import shlex

import pytest
import yaml
from chart_support import CHART, ROOT

DOCS = [ROOT / "README.md", ROOT / "docs" / "deploy.md"]
ARGO_VALUES = ROOT / "charts" / "argo-workflows-values.yaml"
ARGO_MK = (ROOT / "mk" / "argo.mk").read_text()
# argo-helm's argo-workflows chart -> the Argo Workflows version it ships (argo-helm release notes:
# argo-workflows-2.0.1 "Update dependency argoproj/argo-workflows to v4.1.1", PR #4020).
ARGO_HELM_SHIPS = {"2.0.1": "v4.1.1"}


def documented_commands() -> list[tuple[str, list[str]]]:
    """(file, words) of every argo/helm command in a code block or an inline code span."""
    found = []
    for doc in DOCS:
        text = doc.read_text()
        candidates = []
        for block in re.findall(r"```(?:sh|bash|console)?\n(.*?)```", text, re.S):
            candidates += block.replace("\\\n", " ").splitlines()
        candidates += re.findall(r"`((?:argo|helm) [^`]+)`", text)
        # option fragments in prose (`--set harvest.suspend=true`) are options of the multilevel chart
        candidates += [f"helm upgrade multilevel charts/multilevel {o}" for o in re.findall(r"`(--set[^`]+)`", text)]
        for line in candidates:
            line = line.split(" # ")[0].strip()
            if re.match(r"^(argo|helm) ", line):
                found.append((doc.name, shlex.split(line.replace("…", "x"))))
    return found


COMMANDS = documented_commands()


def test_the_docs_show_the_commands_a_user_runs():
    kinds = {(w[0], w[1]) for _, w in COMMANDS}
    assert {("argo", "-n"), ("helm", "upgrade")} <= kinds
    assert any("--from" in w for _, w in COMMANDS)


def _values_has(values: dict, dotted: str) -> bool:
    node = values
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _set_keys(words: list[str]) -> list[str]:
    keys = []
    for i, word in enumerate(words):
        if word in ("--set", "--set-json", "--set-string") and i + 1 < len(words):
            keys.append(words[i + 1].split("=", 1)[0])
    return keys


def _parameters(template: dict) -> set[str]:
    """The parameters a WorkflowTemplate declares (none when it has no ``arguments``, like eurostat-catalogue)."""
    return {p["name"] for p in template["spec"].get("arguments", {}).get("parameters", [])}


@pytest.mark.parametrize("doc,words", COMMANDS, ids=[" ".join(w)[:60] for _, w in COMMANDS])
def test_documented_command_matches_what_is_generated(doc, words, rendered):
    docs = rendered["default"]
    templates = {d["metadata"]["name"]: d for d in docs if d["kind"] == "WorkflowTemplate"}
    crons = {d["metadata"]["name"]: d for d in docs if d["kind"] == "CronWorkflow"}
    where = f"{doc}: {' '.join(words)}"
    if words[0] == "argo":
        if "submit" in words and "--from" in words:
            kind, name = words[words.index("--from") + 1].split("/", 1)
            if kind in ("workflowtemplate", "wftmpl"):
                assert name in templates, f"{where}: no WorkflowTemplate {name}"
                declared = _parameters(templates[name])
            else:
                assert kind in ("cronwf", "cronworkflow") and name in crons, f"{where}: no CronWorkflow {name}"
                ref = crons[name]["spec"]["workflowSpec"]["workflowTemplateRef"]["name"]
                declared = _parameters(templates[ref])
            passed = [words[i + 1].split("=", 1)[0] for i, w in enumerate(words) if w in ("-p", "--parameter")]
            assert set(passed) <= declared, f"{where}: parameters {passed}, template declares {sorted(declared)}"
        elif "cron" in words:
            assert words[-1] in crons, f"{where}: no CronWorkflow {words[-1]}"
        return
    if "argo/argo-workflows" in words:
        assert words[words.index("--version") + 1] == re.search(r"ARGO_CHART_VERSION \?= (\S+)", ARGO_MK).group(1)
        known = yaml.safe_load(ARGO_VALUES.read_text())
        for key in _set_keys(words):
            assert _values_has(known, key), f"{where}: {key} is not in {ARGO_VALUES.name} (argo-helm keys we use)"
    elif "charts/multilevel" in words:
        values = yaml.safe_load((CHART / "values.yaml").read_text())
        for key in _set_keys(words):
            assert _values_has(values, key), f"{where}: {key} is not a values key of the chart"
    for i, word in enumerate(words):
        if word in ("-f", "--values"):
            assert (ROOT / words[i + 1]).is_file(), f"{where}: {words[i + 1]} does not exist"


def test_pinned_argo_versions_agree_with_their_comments():
    chart = re.search(r"ARGO_CHART_VERSION \?= (\S+)", ARGO_MK).group(1)
    argo = re.search(r"ARGO_VERSION \?= (\S+)", ARGO_MK).group(1)
    comment = re.search(r"argo-workflows (\S+) ships Argo Workflows (v\S+?)[ ;(]", ARGO_MK)
    assert comment and comment.groups() == (chart, ARGO_HELM_SHIPS[chart])
    assert argo == yaml.safe_load(ARGO_VALUES.read_text())["images"]["tag"] == "v4.1.2"
    assert (ROOT / "vendor" / "argo-schema" / argo).is_dir()  # the schemas the manifests are validated against
