"""Binder: a fresh environment made from what binder/ says runs every notebook."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BINDER = ROOT / "binder"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
NOTEBOOK_SECONDS = 30.0
INSTALL_TIMEOUT = 900


def _postbuild_pip_lines() -> list[str]:
    lines = (BINDER / "postBuild").read_text().splitlines()
    return [line for line in lines if re.match(r"\s*(python -m )?pip install", line)]


def test_binder_files_are_complete() -> None:
    assert (BINDER / "requirements.txt").is_file()
    assert "bc" in (BINDER / "apt.txt").read_text().split()
    assert os.access(BINDER / "postBuild", os.X_OK), "binder/postBuild not executable"
    assert _postbuild_pip_lines(), "binder/postBuild installs nothing with pip"


@pytest.fixture(scope="module")
def binder_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv with binder/requirements.txt and postBuild's pip line applied."""
    if shutil.which("bc") is None:
        pytest.skip("bc (binder/apt.txt) is not installed")
    env_dir = tmp_path_factory.mktemp("binder") / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    environment = {**os.environ, "PATH": f"{env_dir / 'bin'}:{os.environ['PATH']}"}

    def install(command: str) -> None:
        # Run as repo2docker would, from the repository's root; pip's cache is
        # kept (--no-cache-dir dropped) so that a second run is quick.
        command = command.replace("--no-cache-dir", "")
        command = re.sub(r"^\s*(python -m )?pip", f"{python} -m pip", command)
        subprocess.run(
            f"{command} -q",
            shell=True,
            check=True,
            cwd=ROOT,
            env=environment,
            timeout=INSTALL_TIMEOUT,
        )

    install(f"pip install -r {BINDER / 'requirements.txt'}")
    for line in _postbuild_pip_lines():
        install(line)
    # The checker itself, not part of what Binder users get (pytest-timeout
    # because pyproject.toml's pytest settings use it).
    install("pip install pytest pytest-timeout nbval")
    return python


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[n.name for n in NOTEBOOKS])
def test_notebook_runs_in_binder_environment(
    binder_python: Path, notebook: Path
) -> None:
    environment = {
        **os.environ,
        "PATH": f"{binder_python.parent}:{os.environ['PATH']}",
    }
    environment.pop("PYTHONUNBUFFERED", None)
    began = time.monotonic()
    result = subprocess.run(
        [
            str(binder_python),
            "-m",
            "pytest",
            "--nbval",
            "--nbval-current-env",
            "-p",
            "no:cacheprovider",
            "-q",
            str(notebook),
        ],
        cwd=notebook.parent,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    took = time.monotonic() - began
    assert result.returncode == 0, (
        f"{notebook.name} failed under nbval in the Binder environment:\n"
        f"{result.stdout[-4000:]}\n{result.stderr[-2000:]}"
    )
    assert took < NOTEBOOK_SECONDS, f"{notebook.name} took {took:.1f} s under nbval"
