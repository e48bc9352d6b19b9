"""Fixtures for browser tests: Jupyter servers, Chromium and a page per test."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import psutil
import pytest
from kernel_harness import LeakCheck, process_key
from playwright.sync_api import Browser, Page, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from .jupyter_ui import (
    CHROMIUM,
    CHROMIUM_ARGS,
    JupyterServer,
    open_notebook,
    server_descendants,
    shutdown_kernels,
    start_server,
    stop_server,
)
from .view_ui import load_extension
from .voila_support import VoilaServer, start_voila, stop_voila

if TYPE_CHECKING:
    from _pytest.fixtures import FixtureRequest

ARTIFACTS_DIR = Path(__file__).resolve().parents[2] / "test-artifacts"
LEAK_GRACE = 10.0

# Servers of the session fixtures, for the per-test kernel shutdown.
_running: list[JupyterServer] = []


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    """Yield a JupyterLab server that lives for the whole test session."""
    server = start_server("lab", tmp_path_factory.mktemp("lab"))
    _running.append(server)
    try:
        yield server
    finally:
        _running.remove(server)
        stop_server(server)


@pytest.fixture(scope="session")
def notebook_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[JupyterServer]:
    """Yield a Notebook 7 server that lives for the whole test session."""
    server = start_server("notebook", tmp_path_factory.mktemp("notebook"))
    _running.append(server)
    try:
        yield server
    finally:
        _running.remove(server)
        stop_server(server)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Yield a headless Debian Chromium driven by Playwright."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Browser, request: FixtureRequest) -> Iterator[Page]:
    """Yield a page in a fresh context; save a screenshot if the test fails."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    new_page = context.new_page()
    # Accept every dialog, notably "leave site?" when reloading a dirty notebook.
    new_page.on("dialog", lambda dialog: dialog.accept())
    try:
        yield new_page
    finally:
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            _save_screenshot(new_page, request.node.name)
        context.close()


@pytest.fixture
def lab_page(page: Page, lab_server: JupyterServer, request: FixtureRequest) -> Page:
    """Return a page on a new JupyterLab notebook with the extension loaded."""
    name = re.sub(r"[^A-Za-z0-9_]+", "_", request.node.name)
    open_notebook(page, lab_server, f"{name}.ipynb")
    load_extension(page)
    return page


def _save_screenshot(page: Page, test_name: str) -> None:
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)
    with contextlib.suppress(PlaywrightError):
        page.screenshot(path=str(ARTIFACTS_DIR / f"{name}.png"), full_page=True)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the item so fixtures can see the outcome."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test in this folder as a browser test."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(autouse=True)
def no_leaked_processes() -> Iterator[LeakCheck]:
    """Shut down the test's kernels, then fail if their processes live on.

    This replaces the suite-wide leak check, which would count the session's
    Jupyter servers and Chromium as leaks.  After each test every kernel of the
    running servers is shut down through the REST API; a process the servers
    started during the test and still run after a grace period is a leak and
    is killed.
    """
    before = {process_key(p) for server in _running for p in server_descendants(server)}
    check = LeakCheck()
    yield check

    # Children of a kernel are collected before it shuts down, since they are
    # reparented afterwards and could no longer be found from the server.
    new: list[psutil.Process] = []
    for server in _running:
        new += [p for p in server_descendants(server) if process_key(p) not in before]
        shutdown_kernels(server)
    _, alive = psutil.wait_procs(new, timeout=LEAK_GRACE)

    leaked = [describe_process(p) for p in alive]
    for process in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(alive, timeout=LEAK_GRACE)
    leaked = [
        line
        for process, line in zip(alive, leaked, strict=True)
        if process.pid not in check.allowed
    ]
    if leaked:
        pytest.fail(
            "the test left processes running after its kernels were shut down "
            "(killed now):\n" + "\n".join(leaked),
            pytrace=False,
        )


def describe_process(process: psutil.Process) -> str:
    """Return ``pid: command line`` for a leak report."""
    try:
        return f"{process.pid}: {' '.join(process.cmdline())}"
    except psutil.Error:
        return f"{process.pid}: <gone>"


@pytest.fixture
def voila_server(tmp_path: Path) -> Iterator[VoilaServer]:
    """Yield a Voila server on a fresh tree; stop it and its kernels afterwards."""
    server = start_voila(tmp_path / "voila")
    try:
        yield server
    finally:
        stop_voila(server)
