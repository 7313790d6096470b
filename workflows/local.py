"""Run a generated WorkflowTemplate on this machine the way Argo would, one subprocess per container.

This is the proof, without a cluster, that the wiring a cluster would run is right: the DAG is walked in
dependency order, ``{{...}}`` parameters are substituted as the workflow controller does (workflow and input
parameters, task output parameters, ``item`` in a ``withParam`` fan-out, ``when``), and each container's
``command + args`` runs as a subprocess with the environment the kubelet would give the pod (ConfigMap and
Secret ``envFrom``/``env``, then ``$(VAR)`` expansion in args). Every pod gets a fresh directory standing in
for its ``/tmp`` emptyDir. ``retryStrategy`` is honoured (exit codes matching its expression are retried,
without the backoff wait). Cluster-only features (semaphores, mutexes, metrics, podGC, security contexts)
do not change what a step does and are not simulated. Anything else this runner does not understand raises
``Unsupported`` instead of being skipped silently.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

SIMPLE_TAG = re.compile(r"\{\{\s*([^=][^}]*?)\s*\}\}")
EXPRESSION_TAG = re.compile(r"\{\{=\s*(.*?)\s*\}\}")
KUBELET_VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")
COMPARISON = re.compile(r"^\s*(.+?)\s*(==|!=)\s*(.+?)\s*$")
RETRY_EXPRESSION = re.compile(r"^asInt\(lastRetry\.exitCode\)\s*==\s*(\d+)$")


class Unsupported(Exception):
    """The manifest uses an Argo feature this local runner does not implement."""


@dataclass
class Node:
    """One executed (or skipped) pod or DAG task."""

    path: str
    template: str
    phase: str  # Succeeded | Failed | Skipped
    argv: list[str] = field(default_factory=list)
    exit_code: int | None = None
    attempts: int = 0
    stdout: str = ""
    stderr: str = ""


@dataclass
class Run:
    """The result of one workflow run: its phase and every node, in execution order."""

    name: str
    phase: str = "Running"
    nodes: list[Node] = field(default_factory=list)

    def pods(self, template: str | None = None) -> list[Node]:
        """Nodes that ran a container (optionally only those of one template)."""
        return [n for n in self.nodes if n.argv and (template is None or n.template == template)]


class LocalArgo:
    """Executes WorkflowTemplates with subprocesses.

    ``configmaps`` and ``secrets`` map object names to their data, as the cluster would hold them (e.g. the
    settings ConfigMap rendered by ``helm template``); ``base_env`` is the process environment steps inherit
    (PATH and such: what the image provides).
    """

    def __init__(
        self,
        configmaps: dict[str, dict[str, str]],
        secrets: dict[str, dict[str, str]] | None = None,
        base_env: dict[str, str] | None = None,
        workdir: Path | None = None,
        parallelism: int = 4,
    ):
        self.configmaps = configmaps
        self.secrets = secrets or {}
        self.base_env = dict(base_env if base_env is not None else os.environ)
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="local-argo-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.parallelism = parallelism

    # -- public -------------------------------------------------------------------------------------------
    def submit(self, template: dict, parameters: dict[str, str], name: str) -> Run:
        """Run the WorkflowTemplate ``template`` with ``parameters`` as workflow ``name``; return the Run."""
        if template.get("kind") not in ("WorkflowTemplate", "Workflow"):
            raise Unsupported(f"cannot run a {template.get('kind')}")
        spec = template["spec"]
        declared = {p["name"]: p.get("value") for p in (spec.get("arguments") or {}).get("parameters") or []}
        unknown = set(parameters) - set(declared)
        if unknown:
            raise ValueError(f"{name}: parameters {sorted(unknown)} are not declared by the template")
        values = {**declared, **parameters}
        missing = [k for k, v in values.items() if v is None]
        if missing:
            raise ValueError(f"{name}: parameters {missing} have no value")
        self.templates = {t["name"]: t for t in spec["templates"]}
        self.spec = spec
        run = Run(name=name)
        scope = {"workflow.name": name, "workflow.namespace": "local", "workflow.uid": name}
        scope.update({f"workflow.parameters.{k}": v for k, v in values.items()})
        phase, _ = self._execute(run, spec["entrypoint"], {}, scope, name)
        run.phase = phase
        if spec.get("onExit"):
            exit_scope = {**scope, "workflow.status": phase, "workflow.failures": "[]"}
            self._execute(run, spec["onExit"], {}, exit_scope, f"{name}.onExit")
        return run

    # -- templates ----------------------------------------------------------------------------------------
    def _execute(self, run: Run, name: str, inputs: dict[str, str], scope: dict, path: str):
        template = self.templates.get(name)
        if template is None:
            raise Unsupported(f"{path}: template {name!r} does not exist")
        declared = (template.get("inputs") or {}).get("parameters") or []
        local = dict(scope)
        for p in declared:
            value = inputs.get(p["name"], p.get("value", p.get("default")))
            if value is None:
                raise ValueError(f"{path}: input {p['name']!r} of template {name} not supplied")
            local[f"inputs.parameters.{p['name']}"] = value
        if "container" in template:
            return self._container(run, template, local, path)
        if "dag" in template:
            return self._dag(run, template, local, path)
        raise Unsupported(f"{path}: template {name} is neither a container nor a DAG")

    def _dag(self, run: Run, template: dict, scope: dict, path: str):
        tasks = {t["name"]: t for t in template["dag"]["tasks"]}
        phases: dict[str, str] = {}
        local = dict(scope)
        pending = list(tasks)
        while pending:
            ready = [t for t in pending if all(d in phases for d in _depends(tasks[t], tasks))]
            if not ready:
                raise Unsupported(f"{path}: dependency cycle among {pending}")
            for task_name in ready:
                pending.remove(task_name)
                task = tasks[task_name]
                task_path = f"{path}.{task_name}"
                if any(phases[d] not in ("Succeeded", "Skipped") for d in _depends(task, tasks)):
                    # Argo: `depends: A` needs A Succeeded (or Skipped); otherwise the task never runs.
                    phases[task_name] = "Omitted"
                    continue
                if "when" in task and not evaluate_when(task["when"], local, task_path):
                    phases[task_name] = "Skipped"
                    run.nodes.append(Node(task_path, task["template"], "Skipped"))
                    continue
                phase, outputs = self._task(run, task, local, task_path)
                phases[task_name] = phase
                for key, value in outputs.items():
                    local[f"tasks.{task_name}.outputs.{key}"] = value
        failed = [t for t, p in phases.items() if p in ("Failed", "Omitted")]
        return ("Failed" if failed else "Succeeded"), {}

    def _task(self, run: Run, task: dict, scope: dict, path: str):
        if "withItems" in task or "withSequence" in task:
            raise Unsupported(f"{path}: withItems/withSequence")
        if "withParam" not in task:
            return self._execute(run, task["template"], self._arguments(task, scope, path), scope, path)
        items = json.loads(substitute(task["withParam"], scope, path))
        if not isinstance(items, list):
            raise ValueError(f"{path}: withParam must be a JSON list, got {items!r}")

        def child(index_item):
            index, item = index_item
            item_scope = {**scope, "item": item if isinstance(item, str) else json.dumps(item)}
            args = self._arguments(task, item_scope, path)
            return self._execute(run, task["template"], args, scope, f"{path}({index}:{item})")

        # Argo runs the fan-out in parallel; so do we (bounded), which also keeps the proof quick.
        with ThreadPoolExecutor(max_workers=self.parallelism) as pool:
            results = list(pool.map(child, enumerate(items)))
        phase = "Failed" if any(p != "Succeeded" for p, _ in results) else "Succeeded"
        return phase, {}

    def _arguments(self, task: dict, scope: dict, path: str) -> dict[str, str]:
        params = (task.get("arguments") or {}).get("parameters") or []
        return {p["name"]: substitute(str(p.get("value", "")), scope, path) for p in params}

    # -- pods -----------------------------------------------------------------------------------------------
    def _container(self, run: Run, template: dict, scope: dict, path: str):
        container = template["container"]
        pod_dir = Path(tempfile.mkdtemp(prefix=f"{template['name']}-", dir=self.workdir))
        mounts = {m["mountPath"]: pod_dir / m["name"] for m in container.get("volumeMounts") or []}
        for local_path in mounts.values():
            local_path.mkdir(parents=True, exist_ok=True)
        env = self._pod_env(container, path)
        argv = [substitute(a, scope, path) for a in container.get("command", []) + container.get("args", [])]
        argv = [_map_mounts(kubelet_expand(a, env), mounts) for a in argv]
        executable = shutil.which(argv[0], path=env.get("PATH"))
        if executable is None:
            raise FileNotFoundError(f"{path}: command {argv[0]!r} not found on PATH")
        limit, retry_codes = _retry(template.get("retryStrategy"), path)
        timeout = template.get("activeDeadlineSeconds")
        node = Node(path, template["name"], "Running", argv=argv)
        for attempt in range(1 + limit):
            node.attempts = attempt + 1
            log.info("%s: %s", path, " ".join(argv))
            result = subprocess.run(
                [executable, *argv[1:]],
                env=env,
                cwd=pod_dir,
                capture_output=True,
                text=True,
                timeout=int(timeout) if timeout else None,
            )
            node.exit_code, node.stdout, node.stderr = result.returncode, result.stdout, result.stderr
            if result.returncode == 0 or result.returncode not in retry_codes:
                break
        node.phase = "Succeeded" if node.exit_code == 0 else "Failed"
        run.nodes.append(node)
        outputs = {}
        if node.phase == "Succeeded":
            outputs["result"] = node.stdout.strip()
            for p in (template.get("outputs") or {}).get("parameters") or []:
                source = p.get("valueFrom") or {}
                if set(source) != {"path"}:
                    raise Unsupported(f"{path}: output parameter {p['name']} valueFrom {sorted(source)}")
                outputs[f"parameters.{p['name']}"] = (
                    Path(_map_mounts(source["path"], mounts)).read_text().strip()
                )
        return node.phase, outputs

    def _pod_env(self, container: dict, path: str) -> dict[str, str]:
        """The environment the kubelet builds: envFrom sources, then env entries (which win)."""
        env = dict(self.base_env)
        for source in container.get("envFrom") or []:
            kind, ref = (
                ("configMapRef", self.configmaps) if "configMapRef" in source else ("secretRef", self.secrets)
            )
            name = source[kind]["name"]
            if name in ref:
                env.update(ref[name])
            elif not source[kind].get("optional"):
                raise ValueError(f"{path}: {kind} {name!r} does not exist (and is not optional)")
        for var in container.get("env") or []:
            if "value" in var:
                env[var["name"]] = kubelet_expand(var["value"], env)
                continue
            source = var["valueFrom"]
            kind, ref = (
                ("secretKeyRef", self.secrets)
                if "secretKeyRef" in source
                else ("configMapKeyRef", self.configmaps)
            )
            if kind not in source:
                raise Unsupported(f"{path}: env {var['name']} valueFrom {sorted(source)}")
            sel = source[kind]
            if sel["name"] in ref and sel["key"] in ref[sel["name"]]:
                env[var["name"]] = ref[sel["name"]][sel["key"]]
            elif not sel.get("optional"):
                raise ValueError(f"{path}: {kind} {sel['name']}/{sel['key']} does not exist")
        return env


# -- Argo's template language, the parts our manifests use --------------------------------------------
def substitute(text: str, scope: dict[str, str], where: str = "") -> str:
    """Replace ``{{name}}`` and ``{{=expression}}`` as the workflow controller does; unknown names raise."""

    def simple(match: re.Match) -> str:
        name = match.group(1)
        if name not in scope:
            raise ValueError(f"{where}: {{{{{name}}}}} does not resolve")
        return scope[name]

    text = EXPRESSION_TAG.sub(lambda m: _format(evaluate_expression(m.group(1), scope, where)), text)
    return SIMPLE_TAG.sub(simple, text)


def _format(value) -> str:
    return "true" if value is True else "false" if value is False else str(value)


def evaluate_expression(expression: str, scope: dict[str, str], where: str = ""):
    """An expr-lang comparison ``operand (==|!=) operand``; operands are variables or quoted literals."""
    match = COMPARISON.match(expression)
    if not match:
        raise Unsupported(f"{where}: expression {expression!r}")
    left, op, right = match.groups()
    values = [_operand(side, scope, where) for side in (left, right)]
    return (values[0] == values[1]) if op == "==" else (values[0] != values[1])


def _operand(text: str, scope: dict[str, str], where: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if text not in scope:
        raise ValueError(f"{where}: {text} does not resolve")
    return scope[text]


def evaluate_when(when: str, scope: dict[str, str], where: str = "") -> bool:
    """Argo's ``when``: substitute, then evaluate ``true``/``false`` or a govaluate string comparison."""
    text = substitute(when, scope, where).strip()
    if text in ("true", "false"):
        return text == "true"
    match = COMPARISON.match(text)
    if not match:
        raise Unsupported(f"{where}: when {when!r} -> {text!r}")
    left, op, right = (s.strip().strip("'\"") for s in match.groups())
    return (left == right) if op == "==" else (left != right)


def kubelet_expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes ``$(VAR)`` expansion in args: defined variables expand, ``$$`` escapes, others stay."""
    parts = text.split("$$")
    return "$".join(KUBELET_VAR.sub(lambda m: env.get(m.group(1), m.group(0)), part) for part in parts)


def _map_mounts(arg: str, mounts: dict[str, Path]) -> str:
    """Point container paths under a volume mount (e.g. /tmp) at the pod's local directory."""
    for mount_path, local in mounts.items():
        if arg == mount_path or arg.startswith(mount_path.rstrip("/") + "/"):
            return str(local) + arg[len(mount_path.rstrip("/")) :]
    return arg


def _depends(task: dict, tasks: dict) -> list[str]:
    if "depends" in task:
        words = re.findall(r"[A-Za-z0-9_\-.]+", task["depends"])
        if any("." in w for w in words) or re.search(r"\|\||!", task["depends"]):
            raise Unsupported(f"depends {task['depends']!r}: only `a && b` of plain task names")
        return [w for w in words if w in tasks]
    return list(task.get("dependencies") or [])


def _retry(strategy: dict | None, where: str) -> tuple[int, set[int]]:
    if not strategy:
        return 0, set()
    match = RETRY_EXPRESSION.match(strategy.get("expression", ""))
    if not match:
        raise Unsupported(f"{where}: retryStrategy expression {strategy.get('expression')!r}")
    return int(strategy.get("limit", 0)), {int(match.group(1))}
