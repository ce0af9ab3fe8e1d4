"""Fixtures of the workflow tests: the synthetic world of :mod:`tests.workflow.world`."""

from __future__ import annotations

import shutil

import pytest

from sourcegrid.store import Workspace
from sourcegrid.store.workspace import DB_FILE
from sourcegrid.workflow import org
from tests.workflow.world import build_grid, build_org


@pytest.fixture(scope="session")
def world_template(tmp_path_factory):
    """The world built once, as a DuckDB file copied by :func:`world`."""
    folder = tmp_path_factory.mktemp("world") / "ws"
    workspace = Workspace(folder, create=True)
    build_grid(workspace)
    build_org(workspace)
    workspace.close()
    return folder / DB_FILE


@pytest.fixture
def world(world_template):
    """An in-memory copy of the world (fast commits): (workspace, organisation)."""
    workspace = Workspace.in_memory()
    handle = workspace.con.con
    path = str(world_template).replace("'", "''")  # a pytest temp path (ATTACH binds none)
    handle.execute(f"ATTACH '{path}' AS template (READ_ONLY)")
    handle.execute("COPY FROM DATABASE template TO memory")
    handle.execute("DETACH template")
    yield workspace, org.Organisation.load(workspace)
    workspace.close()


@pytest.fixture
def file_world(tmp_path, world_template):
    """A DuckDB-file copy of the world, as the CLI and the web app open it."""
    folder = tmp_path / "ws"
    folder.mkdir()
    shutil.copyfile(world_template, folder / DB_FILE)
    workspace = Workspace(folder)
    yield workspace, org.Organisation.load(workspace)
    workspace.close()
