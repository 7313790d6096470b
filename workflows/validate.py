"""Offline checks of Argo manifests: Argo v4.1.2's JSON Schema and CRD schemas (strict), and wiring.

Used by the tests and by ``make helm-lint``. The schemas are vendored in ``vendor/argo-schema/v4.1.2`` (gzip,
byte-for-byte from the v4.1.2 tag; see its MANIFEST.md).

Strict means unknown keys are rejected: the upstream files leave ``additionalProperties`` open, so a typo
(``activeDeadlineSecond``) would pass; we close every object that lists its properties. Known quirk: upstream
``schema.json`` declares ``IntOrString`` as a plain string, so integer ``activeDeadlineSeconds`` on a template
fails although Kubernetes accepts it; we widen it to integer-or-string when loading.
"""

from __future__ import annotations

import copy
import functools
import gzip
import json
import re
from pathlib import Path

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_DIR = ROOT / "vendor" / "argo-schema" / "v4.1.2"
ARGO_KINDS = {"Workflow", "WorkflowTemplate", "CronWorkflow"}
CRD_FILES = {
    "Workflow": "argoproj.io_workflows.yaml",
    "WorkflowTemplate": "argoproj.io_workflowtemplates.yaml",
    "CronWorkflow": "argoproj.io_cronworkflows.yaml",
}
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"


def _close(node):
    """Recursively set ``additionalProperties: false`` on objects that list properties and allow no extras."""
    if isinstance(node, dict):
        if (
            "properties" in node
            and "additionalProperties" not in node
            and not node.get("x-kubernetes-preserve-unknown-fields")
        ):
            node["additionalProperties"] = False
        for value in node.values():
            _close(value)
    elif isinstance(node, list):
        for value in node:
            _close(value)
    return node


def _schema_text(name: str) -> str:
    return gzip.decompress((SCHEMA_DIR / f"{name}.gz").read_bytes()).decode()


@functools.cache
def json_schema_validator(kind: str) -> jsonschema.protocols.Validator:
    """A strict validator for ``kind`` from Argo's ``schema.json`` (IntOrString widened, objects closed)."""
    schema = json.loads(_schema_text("schema.json"))
    schema["definitions"][INT_OR_STRING] = {"anyOf": [{"type": "integer"}, {"type": "string"}]}
    _close(schema["definitions"])
    root = {
        "$schema": schema["$schema"],
        "definitions": schema["definitions"],
        "$ref": f"#/definitions/io.argoproj.workflow.v1alpha1.{kind}",
    }
    cls = jsonschema.validators.validator_for(root)
    return cls(root)


@functools.cache
def crd_validator(kind: str) -> jsonschema.protocols.Validator:
    """A strict validator for ``kind`` from the openAPIV3Schema of Argo's full CRD."""
    crd = yaml.load(_schema_text(f"crds-full/{CRD_FILES[kind]}"), Loader=_LOADER)
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1")
    schema = _close(copy.deepcopy(version["schema"]["openAPIV3Schema"]))
    return jsonschema.Draft7Validator(schema)


def schema_errors(manifest: dict) -> list[str]:
    """Every schema violation of one Argo manifest, against both schemas, as readable lines."""
    kind = manifest.get("kind")
    if kind not in ARGO_KINDS:
        return [f"not an Argo workflow manifest: kind {kind!r}"]
    errors = []
    for label, validator in (("schema.json", json_schema_validator(kind)), ("CRD", crd_validator(kind))):
        for error in validator.iter_errors(manifest):
            where = "/".join(str(p) for p in error.absolute_path) or "(root)"
            errors.append(f"{kind} {manifest['metadata'].get('name')}: {label}: {where}: {error.message}")
    return errors


# ---------------------------------------------------------------------------------------------- wiring

REFERENCE = re.compile(r"\{\{(=?)\s*(.*?)\s*\}\}")
# Identifiers inside an expression ({{= ...}}) that name Argo variables.
EXPRESSION_VARIABLE = re.compile(r"\b((?:workflow|inputs|outputs|tasks|steps)\.[A-Za-z0-9_.\-]+|item)\b")
WORKFLOW_VARIABLES = {
    "workflow.name",
    "workflow.namespace",
    "workflow.uid",
    "workflow.serviceAccountName",
    "workflow.creationTimestamp",
    "workflow.duration",
    "workflow.priority",
}
EXIT_HANDLER_VARIABLES = {"workflow.status", "workflow.failures"}
METRIC_VARIABLES = {"duration", "status", "exitCode", "retries", "outputs.result"}


def references(value) -> list[tuple[bool, str]]:
    """Every ``{{...}}`` in a nested structure as (is_expression, text)."""
    found = []
    if isinstance(value, dict):
        for v in value.values():
            found += references(v)
    elif isinstance(value, list):
        for v in value:
            found += references(v)
    elif isinstance(value, str):
        found += [(bool(eq), text) for eq, text in REFERENCE.findall(value)]
    return found


def _variables(is_expression: bool, text: str) -> list[str]:
    if not is_expression:
        return [text]
    # Drop string literals first so that '[]' or "abc.def" in an expression is not read as a variable.
    stripped = re.sub(r"'[^']*'|\"[^\"]*\"", "''", text)
    return EXPRESSION_VARIABLE.findall(stripped)


def _template_outputs(template: dict) -> set[str]:
    return {p["name"] for p in (template.get("outputs") or {}).get("parameters") or []}


def _template_inputs(template: dict) -> dict[str, dict]:
    return {p["name"]: p for p in (template.get("inputs") or {}).get("parameters") or []}


def _ancestors(tasks: dict[str, dict], name: str) -> set[str]:
    """Tasks ``name`` depends on, directly or not (Argo lets a task read only its ancestors' outputs)."""
    seen: set[str] = set()
    stack = [name]
    while stack:
        for dep in dependencies(tasks[stack.pop()]):
            if dep not in seen:
                seen.add(dep)
                stack.append(dep)
    return seen


def dependencies(task: dict) -> list[str]:
    """Task names in a DAG task's ``depends`` (``a && (b || c.Succeeded)``) or ``dependencies``."""
    if "depends" in task:
        return sorted({word.split(".")[0] for word in re.findall(r"[A-Za-z0-9_\-.]+", task["depends"])})
    return list(task.get("dependencies") or [])


def wiring_errors(spec: dict, where: str, workflow_templates: dict[str, dict] | None = None) -> list[str]:
    """Unresolved references and missing templates in one workflow spec (a template's or a Workflow's).

    Checks: entrypoint and onExit exist; every DAG task names an existing template, passes exactly the
    inputs it declares without a default, and reads only ``inputs`` of its own template, outputs its
    ancestors declare, declared workflow parameters, and ``item`` inside a loop; container templates read
    only their own inputs and workflow variables; ``workflow.status`` only in the exit handler. A task's
    ``templateRef`` must name a template of one of ``workflow_templates``, and that template (and every template it
    reaches there) may read only workflow parameters the calling workflow declares: the referenced templates run with
    the caller's ``workflow.*`` (workflow/templateresolution/context.go resolves only template names in the
    referenced WorkflowTemplate).
    """
    errors: list[str] = []
    templates = {t["name"]: t for t in spec.get("templates") or []}
    workflow_params = {p["name"] for p in (spec.get("arguments") or {}).get("parameters") or []}
    exit_templates = _reachable(templates, spec.get("onExit")) if spec.get("onExit") else set()
    for field in ("entrypoint", "onExit"):
        if spec.get(field) and spec[field] not in templates:
            errors.append(f"{where}: {field} names template {spec[field]!r}, which does not exist")

    def check(value, scope: set[str], context: str, exit_handler: bool) -> None:
        for is_expression, text in references(value):
            for var in _variables(is_expression, text):
                if var in scope or var in WORKFLOW_VARIABLES:
                    continue
                if var.startswith("workflow.parameters.") and var.split(".", 2)[2] in workflow_params:
                    continue
                if exit_handler and var in EXIT_HANDLER_VARIABLES:
                    continue
                shown = "{{" + ("=" if is_expression else "") + text + "}}"
                errors.append(f"{where}: {context}: {shown} does not resolve ({var!r})")

    for name, template in templates.items():
        inputs = {f"inputs.parameters.{p}" for p in _template_inputs(template)}
        in_exit = name in exit_templates
        own = {k: v for k, v in template.items() if k not in ("dag", "metrics")}
        check(own, inputs, f"template {name}", in_exit)
        outputs = {f"outputs.parameters.{p}" for p in _template_outputs(template)}
        check(template.get("metrics"), inputs | outputs | METRIC_VARIABLES, f"template {name} metrics", True)
        tasks = {t["name"]: t for t in (template.get("dag") or {}).get("tasks") or []}
        for task in tasks.values():
            context = f"template {name} task {task['name']}"
            for dep in dependencies(task):
                if dep not in tasks:
                    errors.append(f"{where}: {context}: depends on unknown task {dep!r}")
            if task.get("templateRef"):
                target, problems = _referenced(task["templateRef"], workflow_templates or {}, workflow_params)
                errors += [f"{where}: {context}: {p}" for p in problems]
                if target is None:
                    continue
            else:
                target = templates.get(task.get("template"))
            if target is None:
                errors.append(f"{where}: {context}: template {task.get('template')!r} does not exist")
                continue
            passed = {p["name"] for p in (task.get("arguments") or {}).get("parameters") or []}
            declared = _template_inputs(target)
            needed = {n for n, p in declared.items() if "value" not in p and "default" not in p}
            if needed - passed or passed - set(declared):
                errors.append(
                    f"{where}: {context}: passes {sorted(passed)} but template {target['name']} "
                    f"needs {sorted(needed)} of {sorted(declared)}"
                )
            scope = set(inputs)
            for ancestor in _ancestors(tasks, task["name"]) & set(tasks):
                outputs = _template_outputs(templates.get(tasks[ancestor].get("template"), {}))
                scope |= {f"tasks.{ancestor}.outputs.parameters.{p}" for p in outputs}
            if "withParam" in task or "withItems" in task:
                scope.add("item")
            check({k: v for k, v in task.items()}, scope, context, in_exit)
    return errors


def _referenced(ref: dict, workflow_templates: dict[str, dict], caller_params: set[str]) -> tuple[dict | None, list]:
    """The template a ``templateRef`` names, and what is wrong with calling it from a workflow declaring
    ``caller_params``."""
    holder = workflow_templates.get(ref.get("name"))
    if holder is None:
        return None, [f"templateRef names WorkflowTemplate {ref.get('name')!r}, which is not generated"]
    templates = {t["name"]: t for t in holder["spec"].get("templates") or []}
    target = templates.get(ref.get("template"))
    if target is None:
        return None, [f"templateRef names template {ref.get('template')!r}, which {ref.get('name')} does not have"]
    problems = []
    for name in sorted(_reachable(templates, target["name"])):
        for is_expression, text in references(templates[name]):
            for var in _variables(is_expression, text):
                if var.startswith("workflow.parameters.") and var.split(".", 2)[2] not in caller_params:
                    problems.append(
                        f"referenced template {ref['name']}/{name} reads {{{{{var}}}}}, which the calling workflow "
                        "does not declare: pass it as an input"
                    )
    return target, problems


def _reachable(templates: dict[str, dict], start: str) -> set[str]:
    seen, stack = set(), [start]
    while stack:
        name = stack.pop()
        if name in seen or name not in templates:
            continue
        seen.add(name)
        stack += [t.get("template") for t in (templates[name].get("dag") or {}).get("tasks") or []]
    return seen


def cron_errors(cron: dict, workflow_templates: dict[str, dict]) -> list[str]:
    """A CronWorkflow must reference an existing WorkflowTemplate and pass exactly its required parameters."""
    name = cron["metadata"]["name"]
    spec = cron["spec"]["workflowSpec"]
    ref = (spec.get("workflowTemplateRef") or {}).get("name")
    if ref not in workflow_templates:
        return [f"CronWorkflow {name}: workflowTemplateRef {ref!r} is not a generated WorkflowTemplate"]
    template_spec = workflow_templates[ref]["spec"]
    declared = {p["name"]: p for p in (template_spec.get("arguments") or {}).get("parameters") or []}
    passed = {p["name"] for p in (spec.get("arguments") or {}).get("parameters") or []}
    needed = {n for n, p in declared.items() if "value" not in p}
    if needed - passed or passed - set(declared):
        return [f"CronWorkflow {name}: passes {sorted(passed)}, template {ref} needs {sorted(needed)}"]
    return []


def manifest_errors(manifests: list[dict]) -> list[str]:
    """Schema and wiring errors of a set of manifests that must work together."""
    errors: list[str] = []
    templates = {m["metadata"]["name"]: m for m in manifests if m.get("kind") == "WorkflowTemplate"}
    for m in manifests:
        errors += schema_errors(m)
        if m.get("kind") in ("WorkflowTemplate", "Workflow"):
            errors += wiring_errors(m["spec"], f"{m['kind']} {m['metadata']['name']}", templates)
        elif m.get("kind") == "CronWorkflow":
            errors += cron_errors(m, templates)
    return errors
