"""Step containers: the production settings every step shares, and one builder per step image.

Settings reach a container only through its environment: ``envFrom`` the settings ConfigMap
(``MULTILEVEL_*``), an optional Secret with object-store credentials, and the warehouse password from a
Secret key (only for steps that talk to the warehouse). The chart rewrites the Secret names to its
``existingSecret`` values and the images to the configured registry and tag; everything else reaches the
cluster exactly as generated here.

Container arguments use two kinds of placeholders:

- ``{{...}}``: Argo parameters, substituted by the workflow controller;
- ``$(MULTILEVEL_STAGE_URL)``: expanded by the kubelet from the container's environment (the settings
  ConfigMap), so the stage URL is configured once and steps still hand each other URLs, never data.
"""

from __future__ import annotations

from hera.workflows import Container, RetryStrategy
from hera.workflows.models import (
    Backoff,
    Capabilities,
    ConfigMapEnvSource,
    ConfigMapKeySelector,
    EnvFromSource,
    EnvVar,
    EnvVarSource,
    Mutex,
    ResourceRequirements,
    SecretEnvSource,
    SecretKeySelector,
    SecurityContext,
    SemaphoreRef,
    Synchronization,
    VolumeMount,
)

from workflows import config

# Names shared with the chart (charts/multilevel/templates): the chart creates these objects or overlays them.
IMAGE_REPOSITORY = "multilevel"
IMAGE_TAG = config.version()
SETTINGS_CONFIGMAP = "multilevel-settings"
SEMAPHORE_CONFIGMAP = "multilevel-semaphores"
DOWNLOAD_SEMAPHORE_KEY = "eurostat-downloads"
WAREHOUSE_SECRET = "multilevel-warehouse"
WAREHOUSE_SECRET_KEY = "password"
STAGE_SECRET = "multilevel-stage-credentials"
SERVICE_ACCOUNT = "multilevel-workflow"
TMP_VOLUME = "tmp"

# The CLI exits 75 (EX_TEMPFAIL) for transient failures: Eurostat 429/5xx, network, a busy warehouse.
TRANSIENT_EXIT_CODE = 75

STAGE = "$(MULTILEVEL_STAGE_URL)"


def image(step: str) -> str:
    """A step's image, e.g. ``multilevel/eurostat:0.1.0``; the chart adds the registry and sets the tag."""
    return f"{IMAGE_REPOSITORY}/{step}:{IMAGE_TAG}"


def retry(limit: int = 4, first: str = "30s", factor: int = 2, cap: str = "5m") -> RetryStrategy:
    """Retry what may succeed later: exit 75, or a pod that ended in Error (eviction, spot interruption, node loss:
    no exit code, so Argo's ``lastRetry.exitCode`` is "-1"). Exit 1 fails at once.

    Argo v4.1.2 ``workflow/controller/operator.go`` ``processNodeRetries`` waits ``duration * factor^(n-1)`` before
    retry n, at most ``cap``. There is deliberately no ``backoff.maxDuration``: Argo counts it as one window from the
    first attempt's start (and ``workflowpod.go`` ``getDeadline`` makes it every retried pod's deadline), so a
    long step that fails late would never be retried. The workflow's ``activeDeadlineSeconds`` bounds the run.
    """
    return RetryStrategy(
        limit=limit,
        retry_policy="Always",
        expression=f'asInt(lastRetry.exitCode) == {TRANSIENT_EXIT_CODE} || lastRetry.status == "Error"',
        backoff=Backoff(duration=first, factor=factor, cap=cap),
    )


def resources(cpu: str, memory: str, cpu_limit: str, memory_limit: str) -> ResourceRequirements:
    """Requests and limits; memory limit is sized to the largest slice or file a step holds in memory."""
    return ResourceRequirements(
        requests={"cpu": cpu, "memory": memory},
        limits={"cpu": cpu_limit, "memory": memory_limit},
    )


def container_security() -> SecurityContext:
    """Non-root, read-only root filesystem, no capabilities: a step only writes to its /tmp emptyDir."""
    return SecurityContext(
        allow_privilege_escalation=False,
        read_only_root_filesystem=True,
        run_as_non_root=True,
        capabilities=Capabilities(drop=["ALL"]),
    )


def env_from() -> list[EnvFromSource]:
    """Settings ConfigMap plus optional object-store credentials (absent on EKS, where IRSA provides them)."""
    return [
        EnvFromSource(config_map_ref=ConfigMapEnvSource(name=SETTINGS_CONFIGMAP)),
        EnvFromSource(secret_ref=SecretEnvSource(name=STAGE_SECRET, optional=True)),
    ]


def warehouse_password_env() -> EnvVar:
    """The warehouse password from a Secret key; optional so IAM-authenticated warehouses need no Secret."""
    return EnvVar(
        name="MULTILEVEL_WAREHOUSE_PASSWORD",
        value_from=EnvVarSource(
            secret_key_ref=SecretKeySelector(name=WAREHOUSE_SECRET, key=WAREHOUSE_SECRET_KEY, optional=True)
        ),
    )


def download_semaphore() -> Synchronization:
    """Caps concurrent Eurostat downloads across all workflows (the limit lives in a ConfigMap)."""
    return Synchronization(
        semaphores=[
            SemaphoreRef(
                config_map_key_ref=ConfigMapKeySelector(name=SEMAPHORE_CONFIGMAP, key=DOWNLOAD_SEMAPHORE_KEY)
            )
        ]
    )


def mutex(name: str) -> Synchronization:
    """One holder at a time for ``name`` in the namespace (Argo substitutes parameters in the name)."""
    return Synchronization(mutexes=[Mutex(name=name)])


def step(
    name: str,
    step_image: str,
    args: list[str],
    *,
    warehouse: bool,
    deadline: int,
    resources: ResourceRequirements,
    **template_fields,
) -> Container:
    """A step container with every production setting; ``args`` follow the command ``multilevel``."""
    env = [warehouse_password_env()] if warehouse else None
    return Container(
        name=name,
        image=image(step_image),
        command=["multilevel"],
        args=args,
        env=env,
        env_from=env_from(),
        resources=resources,
        security_context=container_security(),
        volume_mounts=[VolumeMount(name=TMP_VOLUME, mount_path="/tmp")],
        active_deadline_seconds=deadline,
        retry_strategy=retry(),
        **template_fields,
    )
