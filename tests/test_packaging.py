"""The toolkit as a built wheel: every file it reads is inside, and it runs outside the checkout.

Slow (a wheel build, a fresh virtual environment installed from the package index's cache,
then the whole demo), so it is marked ``slow``; ``make test`` still runs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# What the toolkit reads at run time, by folder in the checkout -> folder inside the wheel.
BUNDLED = {"templates": "vetting/templates", "procedures": "vetting/procedures",
           "vetting/data": "vetting/data", "vetting/demoweb": "vetting/demoweb"}
NOT_SHIPPED = {"__pycache__"}

pytestmark = pytest.mark.slow


def _copy_checkout(dest: Path) -> Path:
    """The working tree without its virtual environment, caches and outputs, so the build
    writes nothing into the checkout itself."""
    ignore = shutil.ignore_patterns(".git", ".venv", ".venv-pywb", "__pycache__", "*.egg-info", "build", "dist",
                                    "demo-output", "vetting-workspace", "test-output", ".pytest_cache",
                                    ".ruff_cache")
    shutil.copytree(REPO, dest, ignore=ignore)
    return dest


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    src = _copy_checkout(work / "src")
    out = work / "dist"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)],
                           capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-3000:]
    (whl,) = out.glob("vetting-*.whl")
    return whl


def _shipped_files(folder: str) -> set[str]:
    root = REPO / folder
    return {p.relative_to(root).as_posix() for p in root.rglob("*")
            if p.is_file() and not NOT_SHIPPED & set(p.relative_to(root).parts)}


def test_wheel_carries_every_file_the_toolkit_reads(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder, inside in BUNDLED.items():
        expected = {f"{inside}/{rel}" for rel in _shipped_files(folder)}
        assert expected, folder
        missing = sorted(expected - names)
        assert not missing, f"{folder}: {missing[:10]}"


def test_wheel_dependencies_have_upper_bounds(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        requires = [line.removeprefix("Requires-Dist: ") for line in zf.read(meta).decode().splitlines()
                    if line.startswith("Requires-Dist: ")]
    assert requires
    unbounded = [r for r in requires if "<" not in r.split(";")[0]]
    assert not unbounded, unbounded


def test_installed_wheel_runs_the_demo_outside_the_checkout(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV", "VETTING_HOME"}}
    install = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)], capture_output=True,
                             text=True, timeout=900, env=env)
    assert install.returncode == 0, install.stderr[-3000:]
    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import vetting.domain.bundled as b; print(b.templates_dir()); print(b.shipped_procedure())"],
                           capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60)
    assert where.returncode == 0, where.stderr
    for line in where.stdout.splitlines():
        assert str(venv) in line and REPO.as_posix() not in line, line
    demo = subprocess.run([str(venv / "bin" / "vet"), "demo", "--out", str(tmp_path / "demo")],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=900)
    assert demo.returncode == 0, (demo.stdout[-3000:], demo.stderr[-3000:])
    reports = list((tmp_path / "demo").rglob("*findings*.pdf"))
    assert reports, sorted(p.name for p in (tmp_path / "demo").rglob("*"))[:40]
