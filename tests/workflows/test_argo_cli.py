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


def test_every_image_named_in_the_manifests_has_a_dockerfile():
    images = {
        c["image"]
        for m in build_manifests().values()
        for t in m["spec"].get("templates", [])
        if (c := t.get("container"))
    }
    assert images
    for image in images:
        step = re.match(r"^multilevel/([a-z0-9-]+):", image).group(1)
        dockerfile = ROOT / "images" / step / "Dockerfile"
        assert dockerfile.is_file(), f"{image}: no {dockerfile.relative_to(ROOT)}"
        text = dockerfile.read_text()
        assert re.search(r"^USER\s+10001", text, re.M), f"{dockerfile}: must run as uid 10001 (non-root)"
        stages = re.findall(r"^FROM (\S+)", text, re.M)
        assert len(stages) >= 2 and len(set(stages)) == 1, f"{dockerfile}: multi-stage on one pinned base"
        assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", stages[0]), (
            f"{dockerfile}: base must be a pinned python:3.11.N-slim-bookworm"
        )
