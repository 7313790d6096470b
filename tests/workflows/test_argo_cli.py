"""Every container in the generated manifests runs a real `multilevel` command line from an image we build."""

from __future__ import annotations

import re
import shutil
import subprocess

import click
import pytest
from chart_support import ROOT

from multilevel.cli import main as cli
from workflows.generate import build_manifests

MULTILEVEL = shutil.which("multilevel", path=str(ROOT / ".venv" / "bin")) or shutil.which("multilevel")


def _containers():
    for name, manifest in sorted(build_manifests().items()):
        for template in manifest["spec"].get("templates", []):
            if "container" in template:
                yield pytest.param(template["container"], id=f"{name}:{template['name']}")


def _command_path(args: list[str]) -> tuple[list[str], click.Command, list[str]]:
    """Split args into the subcommand path (e.g. ['ess', 'load']), its click command and the rest."""
    command: click.Command = cli
    path = []
    rest = list(args)
    while isinstance(command, click.Group):
        assert rest, f"{args}: no subcommand after {path}"
        sub = command.get_command(click.Context(command), rest[0])
        assert sub is not None, f"`multilevel {' '.join(path + rest[:1])}` is not a command"
        path.append(rest.pop(0))
        command = sub
    return path, command, rest


def _sample(arg: str) -> str:
    """An argument as a pod would see it: placeholders replaced by plausible values."""
    arg = arg.replace("$(MULTILEVEL_STAGE_URL)", "s3://bucket/stage")
    return re.sub(r"\{\{[^}]*\}\}", "9", arg)  # "9": a valid id, code, URL part and integer


@pytest.mark.parametrize("container", list(_containers()))
def test_container_runs_a_real_subcommand_with_its_options(container):
    assert container["command"] == ["multilevel"]
    path, command, rest = _command_path(container["args"])
    # The real console script documents every option the manifest passes.
    help_text = subprocess.run(
        [MULTILEVEL, *path, "--help"], capture_output=True, text=True, check=True
    ).stdout
    for option in (a for a in rest if a.startswith("--")):
        assert re.search(rf"(^|\s){re.escape(option)}[\s,=]", help_text), f"{path}: {option} not in --help"
    # And click parses the whole line: required options present, right argument count, nothing stray.
    command.make_context(" ".join(["multilevel", *path]), [_sample(a) for a in rest])


def _dockerfile_stages(text: str) -> dict[str, str]:
    """Each `FROM base AS name` of a multi-stage Dockerfile, as {name: base}."""
    return dict((name, base) for base, name in re.findall(r"^FROM (\S+) AS (\S+)$", text, re.M))


def test_every_image_named_in_the_manifests_is_a_build_target_of_the_one_dockerfile():
    images = {
        c["image"]
        for m in build_manifests().values()
        for t in m["spec"].get("templates", [])
        if (c := t.get("container"))
    }
    assert images
    dockerfile = ROOT / "images" / "Dockerfile"
    text = dockerfile.read_text()
    stages = _dockerfile_stages(text)
    # Every base image is the same pinned Python; every step target builds on the shared non-root runtime stage.
    bases = {base for base in stages.values() if base not in stages}
    assert len(bases) == 1, f"{dockerfile}: one pinned base image, not {bases}"
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", bases.pop()), (
        f"{dockerfile}: base must be a pinned python:3.11.N-slim-bookworm"
    )
    runtime = text[text.index(" AS runtime"):].split("\nFROM ", 1)[0]
    assert re.search(r"^USER\s+10001", runtime, re.M), f"{dockerfile}: the runtime stage must run as uid 10001"
    make_steps = re.search(r"^STEP_IMAGES := (.+)$", (ROOT / "mk" / "argo.mk").read_text(), re.M).group(1).split()
    for image in images:
        step = re.match(r"^multilevel/([a-z0-9-]+):", image).group(1)
        assert stages.get(step) == "runtime", f"{image}: images/Dockerfile needs a target `FROM runtime AS {step}`"
        assert step in make_steps, f"{image}: `make images` builds only {make_steps}"
        # The target ships a virtualenv built by the file itself, not one from outside.
        target = text[text.index(f" AS {step}\n"):].split("\nFROM ", 1)[0]
        assert re.search(r"^COPY --from=venv-\S+ /opt/venv /opt/venv$", target, re.M), f"{step}: no virtualenv"
