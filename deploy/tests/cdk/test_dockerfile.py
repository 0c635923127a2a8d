"""deploy/Dockerfile, read statically (no engine here): what each service image is made of."""

from __future__ import annotations

import re

import pytest
from conftest import DEPLOY, REPO_ROOT
from mangaassist_cdk.config import SERVICES, ServiceSpec

DOCKERFILE = (DEPLOY / "Dockerfile").read_text()


def stages() -> dict[str, tuple[str, str]]:
    """stage name -> (base, body)."""
    found: dict[str, tuple[str, str]] = {}
    parts = re.split(r"^FROM ", DOCKERFILE, flags=re.M)[1:]
    for part in parts:
        header, _, body = part.partition("\n")
        base, _, name = header.partition(" AS ")
        found[name.strip()] = (base.strip(), body)
    return found


def test_base_image_is_pinned_to_an_exact_python_311_patch() -> None:
    match = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", DOCKERFILE, flags=re.M)
    assert match, "base image must be a pinned ARG"
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", match.group(1))
    assert stages()["python"][0] == "${PYTHON_IMAGE}"


@pytest.mark.parametrize("spec", SERVICES, ids=lambda s: s.name)
def test_service_image(spec: ServiceSpec) -> None:
    name, port = spec.name, spec.port
    all_stages = stages()
    base, body = all_stages[name]
    assert base == "runtime"
    runtime_body = all_stages["runtime"][1]
    assert "STOPSIGNAL SIGTERM" in runtime_body
    # Only its own dependency set, built in its own stage from the per-service lock.
    assert f"COPY --from=deps-{name} /opt/venv /opt/venv" in body
    deps_base, deps_body = all_stages[f"deps-{name}"]
    assert deps_base == "venv-builder"
    assert re.search(rf"^RUN --mount=type=bind,source=deploy/requirements,\S* build-venv {name}$", deps_body, re.M)
    builder = all_stages["venv-builder"][1]
    assert '--no-deps -r "/requirements/$1.txt"' in builder and "pip check" in builder
    assert (REPO_ROOT / "deploy" / "requirements" / f"{name}.txt").is_file()
    # Only its own source.
    copies = re.findall(r"^COPY (?!--from)(\S+)", body, flags=re.M)
    assert copies == [f"services/{name}/mangaassist"]
    assert f"PYTHONPATH=/app/libs/common:/app/libs/proto:/app/services/{name}" in body
    # Non-root, health-checked, the module entry point in exec form (python is PID 1 and gets SIGTERM).
    assert re.search(r"^USER app$", body, flags=re.M)
    assert f"EXPOSE {port}" in body
    healthcheck = re.search(r"^HEALTHCHECK .*?CMD (\[.*?\])$", body, flags=re.M | re.S)
    assert healthcheck and "/app/healthprobe.py" in healthcheck.group(1) and str(port) in healthcheck.group(1)
    assert f'CMD ["python", "-m", "mangaassist.{name}"]' in body


def test_build_context_leaves_out_local_state() -> None:
    ignored = (REPO_ROOT / ".dockerignore").read_text().split()
    for path in (".git", ".venv", ".venv-deploy", ".tools", ".cache"):
        assert path in ignored
