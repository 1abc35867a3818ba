"""The read API against its own OpenAPI document: fuzzed requests never get a server error
and every answer matches the schema; /docs works without any CDN."""

from __future__ import annotations

import json
import re
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from api_world import World, build
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error, positive_data_acceptance

from clientela.api import create_app
from conftest import IN_CI

EXAMPLES = 25  # per operation and mode: the whole test stays well under a minute


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
                # Every documented check but one: a filter value the schema allows can still
                # name a stage or class this workspace does not have, which is a documented
                # 400 with a suggestion (the schema cannot list the workspace's own stages).
                case.call_and_validate(
                    headers=world.read, excluded_checks=[positive_data_acceptance]
                )
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


def test_swagger_reads_a_30_copy_of_the_31_document(world: World) -> None:
    """The bundled Swagger UI (4.x) reads OpenAPI 3.0: /docs loads a 3.0 rewrite of the
    3.1 /openapi.json with the same operations and no null types."""
    with TestClient(create_app(world.ws)) as client:
        original = client.get("/openapi.json").json()
        page = client.get("/docs").text
        assert "/docs/openapi-3.0.json" in page
        copy = client.get("/docs/openapi-3.0.json").json()
    assert original["openapi"].startswith("3.1") and copy["openapi"] == "3.0.3"
    assert copy["paths"].keys() == original["paths"].keys()
    text = json.dumps(copy)
    assert '{"type": "null"}' not in text and '"const"' not in text
    summary = copy["components"]["schemas"]["ContactSummary"]["properties"]
    assert summary["email"] == {"type": "string", "nullable": True, "title": "Email"}
    assert copy["components"]["schemas"]["TimelineEvent"]["properties"]["type"]["nullable"]


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow
def test_docs_render_in_a_browser_without_the_network(world: World) -> None:
    """Served by uvicorn and opened in chromium, Swagger UI lists the read API's operations
    and requests nothing from any other host."""
    pytest.importorskip("playwright.sync_api")
    if _chromium() is None:
        if IN_CI:
            pytest.fail("the browser test must run in CI: chromium is not installed")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    import uvicorn
    from playwright.sync_api import sync_playwright

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(world.ws), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        elsewhere: list[str] = []
        errors: list[str] = []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=_chromium(), headless=True, args=["--no-sandbox"]
            )
            try:
                page = browser.new_page()
                page.on(
                    "request",
                    lambda r: (
                        None if r.url.startswith((base, "data:")) else elsewhere.append(r.url)
                    ),
                )
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto(f"{base}/docs")
                page.wait_for_selector(".opblock", timeout=30_000)
                shown = page.locator(".opblock-summary-path").all_inner_texts()
            finally:
                browser.close()
    finally:
        server.should_exit = True
        thread.join(10)
    assert {"/api/contacts", "/api/contacts/{contact}", "/api/metrics/{name}"} <= {
        p.replace("\u200b", "") for p in shown
    }
    assert elsewhere == [] and errors == []
