"""The Dockerfile's promises, checked by reading it (no container engine builds it here)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
DOCKERFILE = ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def base_images() -> list[str]:
    """Every stage's base image, with ARG defaults substituted."""
    defaults = {}
    images = []
    for keyword, rest in instructions():
        if keyword == "ARG" and "=" in rest:
            name, value = rest.split("=", 1)
            defaults[name] = value.strip('"')
        if keyword == "FROM":
            image = rest.split()[0]
            images.append(re.sub(r"\$\{(\w+)\}", lambda m: defaults[m.group(1)], image))
    return images


def final_stage() -> list[tuple[str, str]]:
    found = instructions()
    last_from = max(i for i, (keyword, _) in enumerate(found) if keyword == "FROM")
    return found[last_from:]


def test_it_is_multi_stage_and_every_base_is_pinned_to_a_full_version() -> None:
    images = base_images()
    assert len(images) >= 2
    for image in images:
        assert "latest" not in image
        assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", image), image


def test_the_operator_runs_as_a_numeric_non_root_user() -> None:
    users = [rest for keyword, rest in final_stage() if keyword == "USER"]
    assert users, "the final stage sets no USER: it would run as root"
    user, _, group = users[-1].partition(":")
    assert user.isdigit()
    assert int(user) != 0
    assert not group or (group.isdigit() and int(group) != 0)


def test_the_deployment_runs_as_the_images_user() -> None:
    users = [rest for keyword, rest in final_stage() if keyword == "USER"]
    deployment = next(
        d
        for d in yaml.safe_load_all((ROOT / "deploy" / "operator.yaml").read_text())
        if d and d["kind"] == "Deployment"
    )
    pod = deployment["spec"]["template"]["spec"]["securityContext"]
    assert users[-1] == f"{pod['runAsUser']}:{pod['runAsGroup']}"


def test_the_image_writes_nothing_outside_tmp_and_runs_the_operator() -> None:
    env = " ".join(rest for keyword, rest in final_stage() if keyword == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    assert "HOME=/tmp" in env
    entrypoint = [rest for keyword, rest in final_stage() if keyword == "ENTRYPOINT"]
    assert entrypoint == ['["kubedirector"]']
    # The wheels come from the build stage and do not stay in the image.
    runs = [rest for keyword, rest in final_stage() if keyword == "RUN"]
    assert any("--mount=type=bind,from=build" in run and "--no-index" in run for run in runs)
    assert not any(keyword in ("ADD", "COPY") for keyword, _ in final_stage())


def test_the_build_context_leaves_out_the_virtualenv_and_the_git_history() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".git" in ignored
    assert ".venv" in ignored
