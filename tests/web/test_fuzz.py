"""Property-based fuzz of the OpenAPI schema (schemathesis): no input gives a 5xx.

Every operation of /api/openapi.json gets generated requests, valid ones (positive
generation) and invalid ones (negative generation: wrong types, out-of-range and
malformed values), sent as an admin (who reaches every code path) and as a
township user (whose scope refuses most cells). Each answer must be below 500
and, when it is an error, carry a ``detail`` message. Examples per operation are
kept small so that the whole fuzz takes about a minute.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

EXAMPLES = 6


def _operations(live):
    schema = schemathesis.openapi.from_url(f"{live.url}/api/openapi.json")
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.slow
@pytest.mark.parametrize("user", ["admin", "town_b"])
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
                         ids=["positive", "negative"])
def test_no_server_error(live, user, mode):
    headers = {"Authorization": f"Bearer {live.tokens[user]}"}
    operations = _operations(live)
    assert len(operations) >= 15
    seen = []
    for operation in operations:
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case):
            response = case.call(base_url=live.url, headers=headers, timeout=30)
            seen.append(response.status_code)
            assert response.status_code < 500, (case.method, case.formatted_path,
                                                response.status_code, response.text[:400])
            if response.status_code >= 400:
                detail = response.json().get("detail")
                assert isinstance(detail, str) and detail, response.text[:300]

        try:
            run()
        except Unsatisfiable:  # nothing to make invalid (an operation without inputs)
            continue
        except Exception as error:  # name the operation that failed
            raise AssertionError(f"{operation.method.upper()} {operation.path}: {error}"
                                 ) from error
    assert seen and max(seen) < 500
