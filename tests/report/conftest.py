from __future__ import annotations

import pytest

from tests.pipeline.helpers import demo_run


@pytest.fixture(scope="session")
def run(tmp_path_factory):
    return demo_run(tmp_path_factory)
