"""Run a generated WorkflowTemplate on this machine the way Argo v4.1.2 would, one subprocess per pod.

This is the proof, without a cluster, that what a cluster would run is right. Argo's rules come from
``workflows/argo_rules.py``, each with the Argo source file and function it follows. What this runner does:

- walks the DAG in dependency order; substitutes ``{{...}}`` as the controller does (unknown names fail);
  ``withParam`` fan-out, ``when`` (govaluate), the exit handler with ``workflow.status``;
- gives every pod its OWN filesystem: a fresh root directory per pod, volume mounts (the ``/tmp`` emptyDir) inside
  it, and every absolute path the pod spec hands the container (args, ConfigMap/Secret/env values, ``duckdb:///``
  and ``file://`` URLs) re-rooted into it. Only what the image provides (``image_paths``), the stage URL, the
  warehouse URL and Argo parameters connect pods, exactly as in a cluster: a DuckDB file or a local stage folder
  is private to the pod that wrote it;
- runs ``command + args`` with the environment the kubelet builds (``envFrom``, ``env``, ``$(VAR)`` expansion);
- keeps stdout as ``outputs.result`` only when Argo would capture it; reads output parameters from files;
- decides retries as ``processNodeRetries`` does (limit, expression, policy, backoff ``duration``/``factor``/
  ``cap``, ``maxDuration`` as a window that is also the retried pod's deadline); waits are recorded on a clock,
  not slept; a pod killed without an exit code ends in ``Error``;
- evaluates every custom metric (template and workflow level) and records what Prometheus would show, or the
  ``MetricsError`` Argo would add.

Cluster-only features that do not change what a step does (semaphores, mutexes, podGC, security contexts) are not
simulated. Anything else this runner does not understand raises ``Unsupported`` instead of being skipped.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from workflows import argo_rules
from workflows.argo_rules import ArgoRuleError, Attempt, Metric, substitute

log = logging.getLogger(__name__)

KUBELET_VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")
LOCAL_URL_PREFIXES = ("duckdb:///", "file://")
DEADLINE_MESSAGE = "Pod was active on the node longer than the specified deadline"


class Unsupported(Exception):
    """The manifest uses an Argo feature this local runner does not implement."""


@dataclass
class Fault:
    """Replace one attempt of a template by an outcome, for testing retries: an exit code, or ``None`` for a pod
    that died without one (eviction, spot interruption, node loss: Argo's ``Error``); ``seconds`` it took."""

    exit_code: int | None
    seconds: float = 0.0


@dataclass
class Node:
    """One executed (or skipped) pod or DAG task; for a retried step, the retry node with its attempts."""

    path: str
    template: str
    phase: str  # Succeeded | Failed | Error | Skipped
    argv: list[str] = field(default_factory=list)
    exit_code: int | None = None
    attempts: list[Attempt] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)  # backoff waits before each retry, in seconds
    message: str = ""
    stdout: str = ""
    stderr: str = ""
    outputs: dict[str, str] = field(default_factory=dict)


@dataclass
class Run:
    """The result of one workflow run: its phase, every node in execution order, metrics and metric errors."""

    name: str
    phase: str = "Running"
    nodes: list[Node] = field(default_factory=list)
    metrics: list[Metric] = field(default_factory=list)
    metric_errors: list[str] = field(default_factory=list)

    def pods(self, template: str | None = None) -> list[Node]:
        """Nodes that ran a container (optionally only those of one template)."""
        return [n for n in self.nodes if n.argv and (template is None or n.template == template)]


class LocalArgo:
    """Executes WorkflowTemplates with subprocesses.

    ``configmaps`` and ``secrets`` map object names to their data, as the cluster would hold them (e.g. the
    settings ConfigMap rendered by ``helm template``); ``base_env`` is the process environment steps inherit
    (PATH and such: what the image provides), ``image_paths`` files or folders the image contains (visible to
    every pod, never re-rooted). ``faults`` replaces attempts of a template by outcomes, in order.
    """

    def __init__(
        self,
        configmaps: dict[str, dict[str, str]],
        secrets: dict[str, dict[str, str]] | None = None,
        base_env: dict[str, str] | None = None,
        workdir: Path | None = None,
        parallelism: int = 4,
        image_paths: list[str | Path] = (),
        faults: dict[str, list[Fault]] | None = None,
        workflow_templates: dict[str, dict] | None = None,
    ):
        self.configmaps = configmaps
        self.secrets = secrets or {}
        self.base_env = dict(base_env if base_env is not None else os.environ)
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="local-argo-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.parallelism = parallelism
        self.image_paths = [str(Path(p)) for p in image_paths]
        self.faults = {k: list(v) for k, v in (faults or {}).items()}
        # WorkflowTemplates a task's templateRef may name (by metadata.name), as the cluster holds them
        self.workflow_templates = workflow_templates or {}

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
        self.globals = dict(scope)
        started = time.monotonic()
        # operator.go operate(): the entrypoint runs with the workflow's arguments as its arguments, so an
        # entrypoint input named like a workflow parameter receives its value.
        phase, _ = self._execute(run, spec["entrypoint"], dict(values), scope, name)
        run.phase = phase
        if spec.get("onExit"):
            exit_scope = {**scope, "workflow.status": phase, "workflow.failures": "[]"}
            self._execute(run, spec["onExit"], {}, exit_scope, f"{name}.onExit")
        if spec.get("metrics"):  # operator.go: workflow-level metrics once the workflow is fulfilled
            duration = time.monotonic() - started
            metric_scope = argo_rules.node_metric_scope(
                {**scope, "workflow.status": phase, "workflow.duration": f"{duration:f}"},
                status=phase, duration=duration, inputs={}, outputs={}, exit_code=None, retries=None,
            )
            self._metrics(run, spec["metrics"], metric_scope)
        return run

    # -- templates ----------------------------------------------------------------------------------------
    def _execute(self, run: Run, name: str, inputs: dict[str, str], scope: dict, path: str,
                 task: str | None = None, parent: dict | None = None, base: dict[str, dict] | None = None):
        """Run template ``name`` of ``base`` (the templates names resolve in: this workflow's, or after a
        ``templateRef`` the referenced WorkflowTemplate's, as workflow/templateresolution/context.go
        GetTemplateBase switches it); ``workflow.*`` in ``scope`` stays the calling workflow's."""
        base = base if base is not None else self.templates
        template = base.get(name)
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
            return self._container(run, template, local, path, task, parent)
        if "dag" in template:
            return self._dag(run, template, local, path, base)
        raise Unsupported(f"{path}: template {name} is neither a container nor a DAG")

    def _dag(self, run: Run, template: dict, scope: dict, path: str, base: dict[str, dict]):
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
                if "when" in task and not argo_rules.should_execute(substitute(task["when"], local, task_path)):
                    phases[task_name] = "Skipped"
                    run.nodes.append(Node(task_path, _template_name(task), "Skipped"))
                    continue
                phase, outputs = self._task(run, task, local, task_path, template, base)
                phases[task_name] = phase
                for key, value in outputs.items():
                    local[f"tasks.{task_name}.outputs.{key}"] = value
        failed = [t for t, p in phases.items() if p in ("Failed", "Error", "Omitted")]
        return ("Failed" if failed else "Succeeded"), {}

    def _task(self, run: Run, task: dict, scope: dict, path: str, parent: dict, base: dict[str, dict]):
        if "withItems" in task or "withSequence" in task:
            raise Unsupported(f"{path}: withItems/withSequence")
        name = _template_name(task)
        if task.get("templateRef"):
            ref = task["templateRef"]
            holder = self.workflow_templates.get(ref.get("name"))
            if holder is None:
                raise Unsupported(f"{path}: templateRef names WorkflowTemplate {ref.get('name')!r}, unknown here")
            base = {t["name"]: t for t in holder["spec"]["templates"]}
        if "withParam" not in task:
            args = self._arguments(task, scope, path)
            return self._execute(run, name, args, scope, path, task["name"], parent, base)
        items = json.loads(substitute(task["withParam"], scope, path))
        if not isinstance(items, list):
            raise ValueError(f"{path}: withParam must be a JSON list, got {items!r}")

        def child(index_item):
            index, item = index_item
            item_scope = {**scope, "item": item if isinstance(item, str) else json.dumps(item)}
            args = self._arguments(task, item_scope, path)
            return self._execute(run, name, args, scope, f"{path}({index}:{item})", task["name"], parent, base)

        # Argo runs the fan-out in parallel; so do we (bounded, also by the DAG template's own parallelism: Argo's
        # examples/parallelism-nested-dag.yaml), which also keeps the proof quick.
        workers = min(self.parallelism, int(parent.get("parallelism") or self.parallelism))
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            results = list(pool.map(child, enumerate(items)))
        phase = "Failed" if any(p != "Succeeded" for p, _ in results) else "Succeeded"
        return phase, {}

    def _arguments(self, task: dict, scope: dict, path: str) -> dict[str, str]:
        params = (task.get("arguments") or {}).get("parameters") or []
        return {p["name"]: substitute(str(p.get("value", "")), scope, path) for p in params}

    # -- pods -----------------------------------------------------------------------------------------------
    def _container(self, run: Run, template: dict, scope: dict, path: str, task: str | None, parent: dict | None):
        container = template["container"]
        argv = [substitute(a, scope, path) for a in container.get("command", []) + container.get("args", [])]
        node = Node(path, template["name"], "Running", argv=argv)
        strategy = template.get("retryStrategy")
        keep_result = bool(task and parent and argo_rules.captures_result(task, parent))
        inputs = {k.split(".", 2)[2]: v for k, v in scope.items() if k.startswith("inputs.parameters.")}
        clock, execution_deadline = 0.0, None
        while True:
            timeout = argo_rules.pod_timeout(template.get("activeDeadlineSeconds"), execution_deadline, clock)
            attempt, outputs = self._pod(node, template, argv, timeout, clock, keep_result)
            node.attempts.append(attempt)
            node.outputs, node.phase, node.exit_code, node.message = (
                outputs, attempt.phase, attempt.exit_code, attempt.message)
            clock = attempt.finished
            decision = argo_rules.next_retry(strategy, node.attempts)
            if not decision.retry:
                clock += decision.waited_before_giving_up
                if decision.waited_before_giving_up:
                    node.waits.append(decision.waited_before_giving_up)
                if attempt.phase != "Succeeded" and decision.message:
                    node.message = decision.message
                break
            if template.get("metrics"):  # operator.go: a finished attempt of a node still retrying emits too
                self._metrics(run, template["metrics"], self._metric_scope(attempt, inputs, outputs, None))
            node.waits.append(decision.wait)
            clock += decision.wait
            execution_deadline = decision.deadline
        run.nodes.append(node)
        if template.get("metrics"):
            final = Attempt(node.phase, node.exit_code, node.attempts[0].started, clock, node.message)
            retries = len(node.attempts) - 1 if strategy else None
            self._metrics(run, template["metrics"], self._metric_scope(final, inputs, node.outputs, retries))
        return node.phase, (node.outputs if node.phase == "Succeeded" else {})

    def _pod(self, node: Node, template: dict, argv: list[str], timeout: float | None, clock: float,
             keep_result: bool) -> tuple[Attempt, dict[str, str]]:
        """One attempt: a fresh pod (own root), its process, its outputs."""
        fault = self.faults.get(template["name"], [None]).pop(0) if self.faults.get(template["name"]) else None
        if fault is not None:
            phase = "Succeeded" if fault.exit_code == 0 else "Error" if fault.exit_code is None else "Failed"
            return Attempt(phase, fault.exit_code, clock, clock + fault.seconds), {}
        pod_dir = Path(tempfile.mkdtemp(prefix=f"{template['name']}-", dir=self.workdir))
        root = pod_dir / "root"
        root.mkdir()
        mounts = {}
        for m in template["container"].get("volumeMounts") or []:
            mounts[m["mountPath"].rstrip("/") or "/"] = pod_dir / "volumes" / m["name"]
            mounts[m["mountPath"].rstrip("/") or "/"].mkdir(parents=True, exist_ok=True)
        env = self._pod_env(template["container"], node.path, root, mounts)
        # Paths written in the spec are re-rooted first; $(VAR) then brings in the (already re-rooted) env values.
        command = [kubelet_expand(self._in_pod(a, root, mounts), env) for a in argv]
        executable = shutil.which(command[0], path=env.get("PATH"))
        if executable is None:
            raise FileNotFoundError(f"{node.path}: command {command[0]!r} not found on PATH")
        log.info("%s: %s", node.path, " ".join(command))
        started = time.monotonic()
        try:
            result = subprocess.run([executable, *command[1:]], env=env, cwd=root, capture_output=True, text=True,
                                    timeout=timeout)
            code, node.stdout, node.stderr = result.returncode, result.stdout, result.stderr
        except subprocess.TimeoutExpired as e:
            code, node.stdout, node.stderr = "deadline", _text(e.stdout), _text(e.stderr)
        finished = clock + (time.monotonic() - started)
        if code == "deadline":
            return Attempt("Failed", None, clock, finished, DEADLINE_MESSAGE), {}
        if code < 0:  # killed by a signal: the pod is gone without an exit code, Argo's Error
            return Attempt("Error", None, clock, finished, f"pod killed by signal {-code}"), {}
        phase = "Succeeded" if code == 0 else "Failed"
        outputs = {}
        if keep_result:
            outputs["result"] = argo_rules.result_of(node.stdout)
        for p in (template.get("outputs") or {}).get("parameters") or []:
            source = p.get("valueFrom") or {}
            if not set(source) <= {"path", "default"} or "path" not in source:
                raise Unsupported(f"{node.path}: output parameter {p['name']} valueFrom {sorted(source)}")
            file = Path(self._in_pod(source["path"], root, mounts))
            try:
                outputs[f"parameters.{p['name']}"] = argo_rules.parameter_value(
                    file.read_text() if file.is_file() else None, source.get("default"), p["name"])
            except ArgoRuleError as e:
                return Attempt("Error", code, clock, finished, str(e)), outputs
        return Attempt(phase, code, clock, finished), outputs

    def _metric_scope(self, attempt: Attempt, inputs, outputs, retries) -> dict[str, str]:
        return argo_rules.node_metric_scope(
            self.globals, status=attempt.phase, duration=attempt.finished - attempt.started, inputs=inputs,
            outputs=outputs, exit_code=attempt.exit_code, retries=retries)

    def _metrics(self, run: Run, metrics: dict, scope: dict[str, str]) -> None:
        emitted, errors = argo_rules.compute_metrics(metrics.get("prometheus") or [], scope,
                                                     realtime={"duration", "workflow.duration"})
        run.metrics += emitted
        run.metric_errors += errors

    def _pod_env(self, container: dict, path: str, root: Path, mounts: dict[str, Path]) -> dict[str, str]:
        """The environment the kubelet builds: envFrom sources, then env entries (which win); paths re-rooted."""
        env = dict(self.base_env)
        spec_env: dict[str, str] = {}
        for source in container.get("envFrom") or []:
            kind, ref = (
                ("configMapRef", self.configmaps) if "configMapRef" in source else ("secretRef", self.secrets)
            )
            name = source[kind]["name"]
            if name in ref:
                spec_env.update(ref[name])
            elif not source[kind].get("optional"):
                raise ValueError(f"{path}: {kind} {name!r} does not exist (and is not optional)")
        for var in container.get("env") or []:
            if "value" in var:
                spec_env[var["name"]] = kubelet_expand(var["value"], {**env, **spec_env})
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
                spec_env[var["name"]] = ref[sel["name"]][sel["key"]]
            elif not sel.get("optional"):
                raise ValueError(f"{path}: {kind} {sel['name']}/{sel['key']} does not exist")
        env.update({k: self._in_pod(v, root, mounts) for k, v in spec_env.items()})
        return env

    def _in_pod(self, value: str, root: Path, mounts: dict[str, Path]) -> str:
        """A path as the pod sees it: under a volume mount, in the image, or in the pod's own root."""
        for prefix in LOCAL_URL_PREFIXES:
            if value.startswith(prefix) and value[len(prefix):].startswith("/"):
                return prefix + self._in_pod(value[len(prefix):], root, mounts)
        if not value.startswith("/") or value.startswith("/dev/"):
            return value
        if any(value == p or value.startswith(p.rstrip("/") + "/") for p in self.image_paths):
            return value
        for mount in sorted(mounts, key=len, reverse=True):
            if value == mount or value.startswith(mount.rstrip("/") + "/"):
                return str(mounts[mount]) + value[len(mount.rstrip("/")):]
        return str(root) + value


def _text(data) -> str:
    return data.decode(errors="replace") if isinstance(data, bytes) else (data or "")


def kubelet_expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes ``$(VAR)`` expansion in args: defined variables expand, ``$$`` escapes, others stay."""
    parts = text.split("$$")
    return "$".join(KUBELET_VAR.sub(lambda m: env.get(m.group(1), m.group(0)), part) for part in parts)


def _depends(task: dict, tasks: dict) -> list[str]:
    if "depends" in task:
        words = re.findall(r"[A-Za-z0-9_\-.]+", task["depends"])
        if any("." in w for w in words) or re.search(r"\|\||!", task["depends"]):
            raise Unsupported(f"depends {task['depends']!r}: only `a && b` of plain task names")
        return [w for w in words if w in tasks]
    return list(task.get("dependencies") or [])


def _template_name(task: dict) -> str:
    """The template a DAG task runs: ``template``, or the ``template`` of its ``templateRef``."""
    return task["templateRef"]["template"] if task.get("templateRef") else task["template"]
