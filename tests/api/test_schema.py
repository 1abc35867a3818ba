"""The read API against its own OpenAPI document: fuzzed requests never get a server error
and every answer matches the schema; /docs works without any CDN."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from api_world import World, build
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from clientela.api import create_app

EXAMPLES = 15  # per operation and mode: the whole test stays well under a minute


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build(Path(tmp_path_factory.mktemp("schema")) / "ws")


def _operations(world: World) -> list[Any]:
    app = create_app(world.ws)
    # POST /api/runs is left out: each call would start the main job (tested on its own).
    schema = (
        schemathesis.openapi.from_asgi("/openapi.json", app)
        .include(path_regex=r"^/api/")
        .exclude(method="POST", path="/api/runs")
    )
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.slow
@pytest.mark.parametrize(
    "mode", [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
)
def test_fuzzed_read_api_has_no_server_errors(world: World, mode: Any) -> None:
    """Requests with a read key: never a 5xx; valid ones get the documented shape."""
    operations = _operations(world)
    assert len(operations) >= 10
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def check(case: Any) -> None:
            if mode == schemathesis.GenerationMode.POSITIVE:
                case.call_and_validate(headers=world.read)
            else:
                # Invalid input must be refused, never crash the server. (Only that: some
                # "invalid" values, such as a boolean for an array query parameter, are
                # valid on the wire, where `class=true` is a list of one string.)
                case.call_and_validate(headers=world.read, checks=[not_a_server_error])

        try:
            check()
        except Exception as exc:
            raise AssertionError(f"{operation.method.upper()} {operation.path}: {exc}") from exc


def test_docs_use_no_external_host(world: World) -> None:
    """/docs is Swagger UI whose script, style and icon come from the app itself."""
    with TestClient(create_app(world.ws)) as client:
        page = client.get("/docs")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", page.text)
        assert refs and all(not re.match(r"(?i)^(https?:)?//", ref) for ref in refs), refs
        assert "cdn" not in page.text.lower()
        script = next(ref for ref in refs if ref.endswith("swagger-ui-bundle.js"))
        js = client.get(script)
        assert js.status_code == 200 and "javascript" in js.headers["content-type"]
        assert "SwaggerUIBundle" in js.text
        css = next(ref for ref in refs if ref.endswith(".css"))
        assert client.get(css).status_code == 200
        assert client.get("/openapi.json").json()["paths"]["/api/contacts"]["get"]
