"""schemathesis against the live app's OpenAPI document: no 5xx, nothing off the spec, JSON errors only."""

import collections

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

from app import create_app
from core.config import TestConfig
from tests.conftest import MOCK_KEY, token_for

SPEC = "/api/v2/openrouter/openapi.json"
# What must hold for any input. Schema-valid but semantically bad input (random base64 that is no audio) is
# rightly a 400, so schemathesis' positive-data check does not apply.
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]
STATUSES = collections.Counter()


def operation_labels():
    """Every documented operation, read from the spec itself (collected once, for parametrize)."""
    schema = schemathesis.openapi.from_wsgi(SPEC, create_app(TestConfig()))
    return [op.ok().label for op in schema.get_all_operations()]


OPERATIONS = operation_labels()


@pytest.fixture(scope="module")
def fuzz(mock_openrouter):
    app = create_app(
        TestConfig(
            OPENROUTER_BASE_URL=mock_openrouter.url,
            OPENROUTER_API_KEY=MOCK_KEY,
            RATELIMIT_ENABLED=False,
            MAX_CONCURRENT_PER_USER=10**6,
        )
    )
    schema = schemathesis.openapi.from_wsgi(SPEC, app)
    operations = {op.ok().label: op.ok() for op in schema.get_all_operations()}
    return app, operations


@pytest.mark.parametrize("label", OPERATIONS)
def test_operation_conforms(fuzz, label):
    app, operations = fuzz
    # An admin, so the admin usage views are explored too rather than answering 403 to everything.
    headers = {"Authorization": f"Bearer {token_for(app, 'fuzzer', roles=['gateway-admin'])}"}

    @given(case=operations[label].as_strategy())
    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case):
        response = case.call_and_validate(headers=headers, checks=CHECKS)
        STATUSES[response.status_code] += 1
        assert response.status_code < 500, response.text
        if response.status_code >= 400:
            assert response.headers["content-type"][0].startswith("application/json"), response.text

    check()


def test_the_mix_proves_something():
    """A run answered only with 401s or 429s would prove nothing."""
    total = sum(STATUSES.values())
    assert total >= 100, STATUSES
    assert sum(n for status, n in STATUSES.items() if status < 300) >= 20, STATUSES
    # 404 is the right answer for random model ids and use cases; 401 or 429 would mean the run tested nothing.
    assert sum(n for status, n in STATUSES.items() if status < 300 or status in (400, 404)) == total, STATUSES
    assert STATUSES[401] == 0 and STATUSES[429] == 0, STATUSES
