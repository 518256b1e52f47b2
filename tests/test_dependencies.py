"""The fresh-machine contract: every third-party import is a declared dependency, every declared
dependency is locked in constraints.txt, and the environment running the tests was installed from it.

A package installed by hand makes a green run here and a broken one on a user's machine; these tests
turn that into a failure naming the module."""

import ast
import re
import subprocess
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, packages_distributions, version

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from testutil import REPO

# Imported only where a test installs it on purpose (see .ci/run) and skips without it.
OPTIONAL_UNDECLARED = {"promptsource"}


def _project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def _declared() -> list[Requirement]:
    proj = _project()
    reqs = [Requirement(r) for r in proj["dependencies"]]
    for extra in proj["optional-dependencies"].values():
        reqs += [Requirement(r) for r in extra]
    return [r for r in reqs if canonicalize_name(r.name) != "weprompt"]


def _lock() -> dict[str, str]:
    pins = {}
    for n, line in enumerate((REPO / "constraints.txt").read_text(encoding="utf-8").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if line:
            m = re.fullmatch(r"([A-Za-z0-9._-]+)==(\S+)", line)
            assert m, f"constraints.txt:{n}: not a 'name==version' pin: {line!r}"
            pins[canonicalize_name(m[1])] = m[2]
    return pins


def _python_files() -> list:
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.py"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:  # not a checkout (an unpacked sdist): every .py file below the repo
        return [p for p in REPO.rglob("*.py") if "runs" not in p.parts and ".git" not in p.parts]
    return [REPO / p for p in out.stdout.split()]


def imported_modules(files) -> dict[str, str]:
    """Top-level module -> the first 'file:line' importing it, for absolute imports."""
    found: dict[str, str] = {}
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                where = path.relative_to(REPO) if path.is_relative_to(REPO) else path
                found.setdefault(name.split(".")[0], f"{where}:{node.lineno}")
    return found


def _first_party(files) -> set[str]:
    # Packages of the repo and helper modules that tests import by name (tests/ is on pytest's path).
    return {p.stem for p in files} | {p.parent.name for p in files if p.name == "__init__.py"}


def undeclared_imports() -> list[str]:
    files = _python_files()
    local = _first_party(files)
    declared = {canonicalize_name(r.name) for r in _declared()}
    dists = packages_distributions()
    missing = []
    for module, where in sorted(imported_modules(files).items()):
        if module in sys.stdlib_module_names or module in local or module in OPTIONAL_UNDECLARED:
            continue
        names = {canonicalize_name(d) for d in dists.get(module, [])}
        if not names:
            missing.append(f"{module} (imported at {where}) is not installed by any declared dependency")
        elif not names & declared:
            missing.append(f"{module} (imported at {where}) comes from {sorted(names)}, not declared")
    return missing


def test_every_import_is_a_declared_dependency():
    missing = undeclared_imports()
    assert not missing, "declare these in pyproject.toml, then run tools/lock.sh:\n  " + "\n  ".join(missing)


def test_the_scan_sees_an_undeclared_import(tmp_path, monkeypatch):
    """The check itself can fail: an import of an installed but undeclared package is reported.

    filelock is always installed (torch and datasets need it) and never declared by us."""
    probe = tmp_path / "probe.py"
    probe.write_text("import yaml\nfrom filelock import FileLock\n", encoding="utf-8")
    assert imported_modules([probe]) == {"yaml": f"{probe}:1", "filelock": f"{probe}:2"}
    monkeypatch.setattr(sys.modules[__name__], "_python_files", lambda: [probe])
    (problem,) = undeclared_imports()
    assert problem.startswith(f"filelock (imported at {probe}:2) comes from ['filelock'], not declared")


def test_every_declared_dependency_is_locked():
    lock = _lock()
    problems = []
    for req in _declared():
        pin = lock.get(canonicalize_name(req.name))
        if pin is None:
            problems.append(f"{req.name} is not pinned in constraints.txt")
        elif not req.specifier.contains(pin, prereleases=True):
            problems.append(f"{req.name}=={pin} in constraints.txt does not satisfy {req}")
    assert not problems, "regenerate the lock with `bash tools/lock.sh`:\n  " + "\n  ".join(problems)


def test_torch_is_the_pinned_cpu_build():
    # An unpinned torch pulls the CUDA build (GBs); the lock must keep the CPU wheel.
    assert _lock()["torch"].split("+")[0] == "2.13.0"
    assert "torch==2.13.0" in _project()["dependencies"]


@pytest.mark.skipif(sys.prefix == sys.base_prefix, reason="not in a virtual environment (CI always is)")
def test_this_environment_matches_the_lock():
    """What runs the tests was installed from the lock: every locked package present is at its pin."""
    differ = []
    for name, pin in _lock().items():
        try:
            have = version(name)
        except PackageNotFoundError:
            continue  # locked for another extra or platform
        if have != pin:
            differ.append(f"{name}: installed {have}, locked {pin}")
    assert not differ, "install with `pip install -c constraints.txt -e '.[all]'`:\n  " + "\n  ".join(differ)
