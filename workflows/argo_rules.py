"""Argo Workflows v4.1.2's rules, as its source defines them, for the local executor (workflows/local.py).

Each rule names the file and function of github.com/argoproj/argo-workflows at tag v4.1.2 it follows, so the next
reader can check it line by line. Where Argo is harsher than one would guess, so is this module: a kinder model
is how a broken manifest passed the tests before (issue 8).

- ``when`` (govaluate; bare words are strings): ``workflow/controller/steps.go`` ``shouldExecute``.
- ``{{=...}}`` and ``retryStrategy.expression`` (expr-lang, the subset our manifests use: ``== != && || !``,
  parentheses, string and number literals, ``asInt``/``asFloat``/``string``): ``util/expr/argoexpr`` ``EvalBool``
  with ``util/expr/env.GetFuncMap``.
- retries: ``workflow/controller/operator.go`` ``processNodeRetries`` and ``buildRetryStrategyLocalScope``; the
  retried pod's deadline: ``workflow/controller/workflowpod.go`` ``getDeadline``.
- ``outputs.result``: ``operator.go`` ``executeContainer`` -> ``includeScriptOutput`` -> ``hasOutputResultRef`` /
  ``generateOutputResultRegex``; the executor: ``workflow/executor/executor.go`` ``CaptureScriptResult``.
- output parameters from files: ``executor.go`` ``SaveParameters``.
- custom metrics: ``operator.go`` ``computeMetrics``; scope: ``workflow/controller/steps.go`` ``prepareMetricScope``
  / ``prepareDefaultMetricScope``; names: ``workflow/metrics/util.go`` ``IsValidMetricName``; values:
  ``workflow/metrics/metrics_custom.go`` ``UpsertCustomMetric`` (``strconv.ParseFloat``); the ``argo_workflows``
  prefix: ``workflow/controller/controller.go`` (``metrics.New(..., `argo_workflows`, ...)``) with
  ``util/telemetry/exporter_prometheus.go`` (``WithNamespace``, ``UnderscoreEscapingWithoutSuffixes``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

METRIC_PREFIX = "argo_workflows_"
# workflow/metrics/util.go IsValidMetricName: Prometheus legacy names, and no ':'.
METRIC_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


class ArgoRuleError(Exception):
    """Something Argo itself would reject or fail on (a bad expression, an unresolved variable)."""


# ---------------------------------------------------------------------------------------------------------------
# Expressions: one small parser serves govaluate `when` and expr-lang `{{=...}}` / retryStrategy.expression.
_TOKEN = re.compile(
    r"\s*(?:(?P<num>-?\d+(?:\.\d+)?)|(?P<str>'[^']*'|\"[^\"]*\")|(?P<op>==|!=|&&|\|\||!|\(|\)|,)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_.\-]*))"
)
_FUNCTIONS = {
    "asInt": lambda v: int(str(v)),
    "asFloat": lambda v: float(str(v)),
    "string": lambda v: str(v),
}


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise ArgoRuleError(f"cannot parse expression {text!r} at {text[pos:]!r}")
        kind = match.lastgroup
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


class _Parser:
    """or := and ('||' and)* ; and := not ('&&' not)* ; not := '!' not | cmp ; cmp := atom (('=='|'!=') atom)?"""

    def __init__(self, text: str, resolve):
        self.tokens, self.i, self.resolve, self.text = _tokens(text), 0, resolve, text

    def parse(self):
        value = self._or()
        if self.i != len(self.tokens):
            raise ArgoRuleError(f"unexpected {self.tokens[self.i][1]!r} in {self.text!r}")
        return value

    def _peek(self, value: str) -> bool:
        return self.i < len(self.tokens) and self.tokens[self.i] == ("op", value)

    def _or(self):
        value = self._and()
        while self._peek("||"):
            self.i += 1
            right = self._and()
            value = _truth(value) or _truth(right)
        return value

    def _and(self):
        value = self._not()
        while self._peek("&&"):
            self.i += 1
            right = self._not()
            value = _truth(value) and _truth(right)
        return value

    def _not(self):
        if self._peek("!"):
            self.i += 1
            return not _truth(self._not())
        return self._cmp()

    def _cmp(self):
        left = self._atom()
        for op in ("==", "!="):
            if self._peek(op):
                self.i += 1
                right = self._atom()
                equal = _same(left, right)
                return equal if op == "==" else not equal
        return left

    def _atom(self):
        if self.i >= len(self.tokens):
            raise ArgoRuleError(f"expression {self.text!r} ends too early")
        kind, text = self.tokens[self.i]
        self.i += 1
        if kind == "num":
            return float(text) if "." in text else int(text)
        if kind == "str":
            return text[1:-1]
        if (kind, text) == ("op", "("):
            value = self._or()
            self._expect(")")
            return value
        if kind == "name":
            if self._peek("("):
                self.i += 1
                args = [] if self._peek(")") else [self._or()]
                while self._peek(","):
                    self.i += 1
                    args.append(self._or())
                self._expect(")")
                if text not in _FUNCTIONS:
                    raise ArgoRuleError(f"function {text}() is not one this runner knows")
                try:
                    return _FUNCTIONS[text](*args)
                except ValueError as e:
                    raise ArgoRuleError(f"{text}({args}) fails: {e}") from None
            if text in ("true", "false"):
                return text == "true"
            return self.resolve(text)
        raise ArgoRuleError(f"unexpected {text!r} in {self.text!r}")

    def _expect(self, op: str) -> None:
        if not self._peek(op):
            raise ArgoRuleError(f"expected {op!r} in {self.text!r}")
        self.i += 1


def _truth(value) -> bool:
    if isinstance(value, bool):
        return value
    raise ArgoRuleError(f"{value!r} is not a boolean")


def _same(left, right) -> bool:
    if isinstance(left, (int, float)) and isinstance(right, (int, float)) and not isinstance(left, bool):
        return float(left) == float(right)
    return left == right


def evaluate_expression(text: str, scope: dict[str, str]):
    """An expr-lang expression: names are variables and must resolve (Argo fails the template otherwise)."""

    def resolve(name: str):
        if name not in scope:
            raise ArgoRuleError(f"{name} does not resolve in expression {text!r}")
        return scope[name]

    return _Parser(text, resolve).parse()


def should_execute(when: str) -> bool:
    """steps.go shouldExecute: govaluate on the substituted text; bare words become strings."""
    if not when.strip():
        return True
    value = _Parser(when, lambda name: name).parse()
    if not isinstance(value, bool):
        raise ArgoRuleError(f"'when' {when!r} is not a boolean expression")
    return value


SIMPLE_TAG = re.compile(r"\{\{\s*([^=\s][^}]*?)\s*\}\}")
EXPRESSION_TAG = re.compile(r"\{\{=\s*(.*?)\s*\}\}")


def substitute(text: str, scope: dict[str, str], where: str = "") -> str:
    """``{{name}}`` and ``{{=expression}}`` as util/template Replace with allowUnresolved=false: unknown names fail."""

    def expression(match: re.Match) -> str:
        try:
            value = evaluate_expression(match.group(1), scope)
        except ArgoRuleError as e:
            raise ArgoRuleError(f"{where}: {e}") from None
        return "true" if value is True else "false" if value is False else str(value)

    def simple(match: re.Match) -> str:
        name = match.group(1)
        if name not in scope:
            raise ArgoRuleError(f"{where}: {{{{{name}}}}} does not resolve")
        return scope[name]

    return SIMPLE_TAG.sub(simple, EXPRESSION_TAG.sub(expression, text))


# ---------------------------------------------------------------------------------------------------------------
# outputs.result
def captures_result(task_name: str, parent_template: dict) -> bool:
    """operator.go hasOutputResultRef: stdout is kept only when the parent DAG mentions tasks.NAME.outputs.result."""
    text = json.dumps(parent_template)
    scope = "tasks" if "dag" in parent_template else "steps" if "steps" in parent_template else ""
    reference = rf"{scope}\.{re.escape(task_name)}\.outputs\.result"
    expression = rf"{scope}\[['\"]{re.escape(task_name)}['\"]\]\.outputs.result"
    return bool(re.search(reference, text) or re.search(expression, text))


def result_of(stdout: str) -> str:
    """executor.go CaptureScriptResult: the whole stdout, one trailing newline trimmed."""
    return stdout[:-1] if stdout.endswith("\n") else stdout


def parameter_value(text: str | None, default: str | None, name: str) -> str:
    """executor.go SaveParameters: the file's text minus one trailing newline, else the default, else an error."""
    if text is None:
        if default is None:
            raise ArgoRuleError(f"output parameter {name}: file missing and no default (the node ends in Error)")
        text = default
    return text[:-1] if text.endswith("\n") else text


# ---------------------------------------------------------------------------------------------------------------
# Retries
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|m|s|ms)")


def seconds(text: str | int) -> float:
    """wfv1.ParseStringToDuration: a bare number is seconds, else Go durations like 30s, 5m, 1h30m."""
    if isinstance(text, (int, float)) or re.fullmatch(r"\d+", str(text)):
        return float(text)
    parts = _DURATION.findall(str(text))
    if not parts or "".join(n + u for n, u in parts) != str(text):
        raise ArgoRuleError(f"duration {text!r} is not like 30s, 5m or 1h")
    unit = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    return sum(float(n) * unit[u] for n, u in parts)


@dataclass
class Attempt:
    """One pod of a retried node: phase Succeeded | Failed | Error, the main container's exit code (None when
    the pod died without one: eviction, node loss), and when it started/finished on the run's clock (seconds)."""

    phase: str
    exit_code: int | None
    started: float
    finished: float
    message: str = ""


@dataclass
class RetryDecision:
    retry: bool
    wait: float = 0.0  # seconds to wait before the next attempt
    deadline: float | None = None  # the next pod's deadline on the run's clock (backoff.maxDuration)
    message: str = ""
    waited_before_giving_up: float = 0.0  # Argo waits out the backoff even when it then decides not to retry


def next_retry(strategy: dict | None, attempts: list[Attempt], workflow_deadline: float | None = None) -> RetryDecision:
    """operator.go processNodeRetries, for a node whose last attempt ended.

    Order as in Argo: success ends it; the workflow deadline ends it; backoff (maxDuration is one window from the
    FIRST attempt's start; the wait is duration*factor^(n-1), at most cap; a wait past the window ends it); then the
    retry policy (Always: Failed and Error; OnFailure: Failed; OnError: Error); then limit (n attempts > limit ends
    it); then the expression (scope from buildRetryStrategyLocalScope; exitCode is "-1" without one).
    """
    last = attempts[-1]
    if last.phase == "Succeeded":
        return RetryDecision(False, message="succeeded")
    if not strategy:
        return RetryDecision(False, message=last.message)
    if workflow_deadline is not None and last.finished > workflow_deadline:
        return RetryDecision(False, message="retry exceeded workflow deadline")
    n = len(attempts)
    limit = strategy.get("limit")
    limit = int(limit) if limit is not None else None
    wait, window_end = 0.0, None
    backoff = strategy.get("backoff")
    if backoff:
        if backoff.get("maxDuration"):
            window_end = attempts[0].started + seconds(backoff["maxDuration"])
            if last.finished > window_end:
                return RetryDecision(False, message="Max duration limit exceeded")
        if not backoff.get("duration"):
            raise ArgoRuleError("no base duration specified for retryStrategy")
        wait = seconds(backoff["duration"])
        factor = int(backoff.get("factor") or 0)
        if factor > 0:
            wait = wait * factor ** (n - 1)
        if backoff.get("cap"):
            wait = min(wait, seconds(backoff["cap"]))
        if window_end is not None and last.finished + wait > window_end:
            return RetryDecision(False, message="Backoff would exceed max duration limit")
        if limit is None or n > limit:
            wait = 0.0  # Argo only waits while attempts <= limit
    policy = strategy.get("retryPolicy") or "OnFailure"
    on_failed, on_error = {"Always": (True, True), "OnFailure": (True, False), "OnError": (False, True)}.get(
        policy, (None, None)
    )
    if on_failed is None:
        raise ArgoRuleError(f"retryPolicy {policy} is not modelled here")
    if (last.phase == "Failed" and not on_failed) or (last.phase == "Error" and not on_error):
        return RetryDecision(False, message=last.message, waited_before_giving_up=wait)
    if limit is not None and n > limit:
        return RetryDecision(False, message="No more retries left")
    if strategy.get("expression"):
        scope = {
            "retries": str(n - 1),
            "lastRetry.exitCode": str(last.exit_code) if last.exit_code is not None else "-1",
            "lastRetry.status": last.phase,
            "lastRetry.duration": str(last.finished - last.started),
            "lastRetry.message": last.message,
        }
        if not _truth(evaluate_expression(strategy["expression"], scope)):
            return RetryDecision(False, message="retryStrategy.expression evaluated to false",
                                 waited_before_giving_up=wait)
    return RetryDecision(True, wait=wait, deadline=window_end)


def pod_timeout(template_deadline: int | None, execution_deadline: float | None, now: float) -> float | None:
    """workflowpod.go getDeadline: a retried pod also stops at the maxDuration window's end."""
    limits = [float(template_deadline)] if template_deadline else []
    if execution_deadline is not None:
        limits.append(max(execution_deadline - now, 0.0))
    return min(limits) if limits else None


# ---------------------------------------------------------------------------------------------------------------
# Custom metrics
@dataclass
class Metric:
    name: str  # as Prometheus shows it, with the argo_workflows_ prefix
    kind: str  # counter | gauge | histogram
    value: float
    labels: dict[str, str] = field(default_factory=dict)


def node_metric_scope(globals_: dict[str, str], *, status: str, duration: float, inputs: dict[str, str],
                      outputs: dict[str, str], exit_code: int | None, retries: int | None) -> dict[str, str]:
    """steps.go prepareMetricScope: globals, duration, status, retries, inputs, outputs.result only when it was
    captured, exitCode, outputs.parameters.*."""
    scope = dict(globals_)
    scope.update({"duration": f"{duration:f}", "status": status,
                  "resourcesDuration.cpu": "0", "resourcesDuration.memory": "0"})
    if retries is not None:
        scope["retries"] = str(retries)
    scope.update({f"inputs.parameters.{k}": v for k, v in inputs.items()})
    if "result" in outputs:
        scope["outputs.result"] = outputs["result"]
    if exit_code is not None:
        scope["exitCode"] = str(exit_code)
    scope.update({f"outputs.{k}": v for k, v in outputs.items() if k.startswith("parameters.")})
    return scope


def compute_metrics(
    prometheus: list[dict], scope: dict[str, str], realtime: set[str]
) -> tuple[list[Metric], list[str]]:
    """operator.go computeMetrics: (emitted metrics, MetricsError messages). Nothing is skipped silently."""
    emitted, errors = [], []
    for spec in prometheus or []:
        name = spec.get("name", "")
        if not spec.get("help"):
            errors.append(f"metric '{name}' must contain a help string under 'help: ' field")
            continue
        try:
            head = json.loads(substitute(json.dumps({k: spec.get(k) for k in ("name", "help", "labels", "when")}),
                                         scope, f"metric {name}"))
            if head.get("when") and not should_execute(head["when"]):
                continue
        except ArgoRuleError as e:
            errors.append(f"unable to substitute parameters for metric '{name}': {e}")
            continue
        kind = next((k for k in ("counter", "gauge", "histogram") if k in spec), None)
        if kind is None:
            errors.append(f"metric '{name}' has no counter, gauge or histogram")
            continue
        raw = str(spec[kind].get("value", ""))
        if kind == "gauge" and spec[kind].get("realtime"):
            variable = raw.strip()
            if not (variable.startswith("{{") and variable.endswith("}}")) or variable[2:-2].strip() not in realtime:
                errors.append(f"'{raw}' is not available as a real time metric")
                continue
        try:
            value = float(substitute(raw, scope, f"metric {name}"))
        except ArgoRuleError as e:
            errors.append(f"unable to substitute parameters for metric '{name}': {e}")
            continue
        except ValueError:
            errors.append(f"could not construct metric '{name}': value {raw!r} is not a number")
            continue
        if not METRIC_NAME.match(head["name"]):
            errors.append(f"metric name is invalid: {head['name']!r}")
            continue
        labels = {label["key"]: label["value"] for label in head.get("labels") or []}
        emitted.append(Metric(METRIC_PREFIX + head["name"], kind, value, labels))
    return emitted, errors
