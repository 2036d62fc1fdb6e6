"""``/docs`` and ``/redoc`` work offline; the OpenAPI of ``/v1`` says what ``/v1`` answers.

Both pages loaded their scripts from a CDN (blank without internet), and the OpenAPI showed
FastAPI's ``detail`` errors for ``/v1``, which answers in OpenAI's error shape.
"""

from __future__ import annotations

import re

import pytest

from tests.hardening.conftest import Served


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_doc_pages_load_everything_from_the_service(served: Served, page: str) -> None:
    html = (await served.client.get(page)).text
    referenced = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
    referenced += re.findall(r"""(?:url|spec-url)\s*:\s*['"]([^'"]+)['"]""", html)

    assert referenced
    assert not [url for url in referenced if "//" in url], referenced
    for url in referenced:
        asset = await served.client.get(url)
        assert asset.status_code == 200, url
    scripts = [u for u in referenced if u.endswith(".js")]
    assert scripts and all(u.startswith("/static/docs/") for u in scripts)


async def test_the_vendored_assets_ship_with_their_licences(served: Served) -> None:
    for name in ("swagger-ui-dist.LICENSE", "redoc.LICENSE", "VERSIONS"):
        assert (await served.client.get(f"/static/docs/{name}")).status_code == 200


async def test_v1_documents_openai_errors_sse_and_retry_after(served: Served) -> None:
    spec = (await served.client.get("/openapi.json")).json()
    operation = spec["paths"]["/v1/chat/completions"]["post"]
    responses = operation["responses"]

    assert "text/event-stream" in responses["200"]["content"]
    for status in ("400", "413", "422", "502", "503", "504"):
        schema = responses[status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/OpenAIErrorEnvelope"}, status
    assert "Retry-After" in responses["503"]["headers"]
    body = spec["components"]["schemas"]["OpenAIErrorBody"]["properties"]
    assert set(body) == {"message", "type", "param", "code"}
    assert "HTTPValidationError" not in str(spec["paths"])  # every route documents ours


async def test_v1_errors_really_have_the_documented_shape(served: Served) -> None:
    response = await served.client.post("/v1/chat/completions", json={"model": "x"})

    assert response.status_code == 400  # an invalid request, as OpenAI answers it
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}
