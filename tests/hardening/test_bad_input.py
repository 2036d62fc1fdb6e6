"""Input no database can store is a 422 naming the field: nothing stored, no provider call.

A NUL character answered 500 on PostgreSQL after the provider had been called and paid (and
the spend was lost); a lone surrogate answered 500 for the SDKs that encode UTF-8; offsets
past 64 bits answered 500 on both databases.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.hardening.conftest import Served

NUL = "bad\x00value"
SURROGATE = "bad\ud800value"


def raw(body: dict[str, Any]) -> dict[str, Any]:
    """Sent as the JSON text a client writes: ``\\u0000`` and ``\\ud800`` escapes."""
    return {
        "content": json.dumps(body, ensure_ascii=True),
        "headers": {"content-type": "application/json"},
    }


def assert_names(response: httpx.Response, field: str) -> None:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["message"]
    assert any(p["field"] == field for p in error["details"]["errors"])


async def nothing_stored(served: Served) -> None:
    listed = (await served.client.get("/api/sessions")).json()
    assert listed["total"] == 0
    assert (await served.client.get("/api/metrics")).json()["providers"] == {}
    assert served.provider.requests == []


@pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["nul", "surrogate"])
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"message": "{bad}"}, "message"),
        ({"message": "hi", "session_id": "{bad}"}, "session_id"),
        (
            {"message": "hi", "agent_config": {"system_prompt": "{bad}"}},
            "agent_config.system_prompt",
        ),
        ({"message": "hi", "agent_config": {"model": "{bad}"}}, "agent_config.model"),
        ({"message": "hi", "agent_config": {"fallbacks": ["{bad}"]}}, "agent_config.fallbacks.0"),
    ],
    ids=["message", "session_id", "system_prompt", "model", "fallback"],
)
async def test_a_turn_with_unstorable_text_is_refused_before_any_call(
    served_on_both: Served, body: dict[str, Any], field: str, bad: str
) -> None:
    filled = json.loads(json.dumps(body).replace("{bad}", json.dumps(bad)[1:-1]))

    response = await served_on_both.client.post("/api/orchestrate", **raw(filled))

    assert_names(response, field)
    await nothing_stored(served_on_both)


@pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["nul", "surrogate"])
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"user_id": "{bad}"}, "user_id"),
        ({"system_prompt": "{bad}"}, "system_prompt"),
        ({"metadata": {"k": "{bad}"}}, "metadata"),
        ({"metadata": {"{bad}": "v"}}, "metadata"),
        ({"metadata": {"a": [{"b": ["ok", "{bad}"]}]}}, "metadata"),
    ],
    ids=["user_id", "system_prompt", "metadata-value", "metadata-key", "metadata-nested"],
)
async def test_a_session_with_unstorable_text_is_refused(
    served_on_both: Served, body: dict[str, Any], field: str, bad: str
) -> None:
    filled = json.loads(json.dumps(body).replace("{bad}", json.dumps(bad)[1:-1]))

    response = await served_on_both.client.post("/api/sessions", **raw(filled))

    assert_names(response, field)
    await nothing_stored(served_on_both)


@pytest.mark.parametrize(
    "path",
    [
        "/api/sessions/sess%00x",
        "/api/sessions/sess%00x/history",
        "/api/sessions/sess%00x/metrics",
        "/api/sessions?user_id=u%00x",
    ],
)
async def test_unstorable_ids_in_paths_and_queries_are_refused(
    served_on_both: Served, path: str
) -> None:
    response = await served_on_both.client.get(path)

    assert_names(response, "user_id" if "user_id" in path else "session_id")
    deleted = await served_on_both.client.delete("/api/sessions/sess%00x")
    assert_names(deleted, "session_id")


@pytest.mark.parametrize("name", ["offset", "limit"])
@pytest.mark.parametrize("value", [2**63, 2**64 + 1, -1])
async def test_offsets_and_limits_out_of_range_are_422(
    served_on_both: Served, name: str, value: int
) -> None:
    sid = (await served_on_both.client.post("/api/sessions", json={})).json()["session_id"]
    for path in ("/api/sessions", f"/api/sessions/{sid}/history"):
        assert_names(await served_on_both.client.get(path, params={name: value}), name)


async def test_the_largest_allowed_offset_answers_an_empty_page(served_on_both: Served) -> None:
    sid = (await served_on_both.client.post("/api/sessions", json={})).json()["session_id"]
    for path in ("/api/sessions", f"/api/sessions/{sid}/history"):
        page = await served_on_both.client.get(path, params={"offset": 2**31 - 1})
        assert page.status_code == 200


async def test_a_method_not_allowed_says_which_are(served: Served) -> None:
    response = await served.client.put("/api/metrics")

    assert response.status_code == 405
    assert response.headers["Allow"] == "GET"
    assert response.json()["error"]["code"] == "method_not_allowed"
    v1 = await served.client.get("/v1/chat/completions")
    assert v1.status_code == 405 and v1.headers["Allow"] == "POST"
