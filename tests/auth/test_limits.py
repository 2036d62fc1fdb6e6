"""Per-key limits, in one process: refused before the provider is called, with the headers."""

from __future__ import annotations

from typing import Any

from tests.auth.conftest import Secured

V1_TURN = {"model": "fake", "messages": [{"role": "user", "content": "hi"}]}


def _limit_headers(response: Any) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.startswith("x-ratelimit")}


async def test_turns_per_minute(secured: Secured) -> None:
    client = await secured.key(rate_limit_rpm=2)
    first = await client.post("/api/orchestrate", json={"message": "one"})
    session_id = first.json()["session_id"]
    second = await client.post(
        "/api/orchestrate", json={"message": "two", "session_id": session_id}
    )
    refused = await client.post("/api/orchestrate", json={"message": "3", "session_id": session_id})

    assert _limit_headers(first) == {
        "x-ratelimit-limit": "2",
        "x-ratelimit-remaining": "1",
        "x-ratelimit-reset": "60",
    }
    assert second.headers["x-ratelimit-remaining"] == "0"
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert refused.json()["error"]["details"]["limit"] == "rate_limit_rpm"
    assert refused.headers["retry-after"] == "60"
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert len(secured.provider.requests) == 2
    assert (await client.get(f"/api/sessions/{session_id}")).json()["message_count"] == 4
    # every answer to a limited key carries the headers, not only turns
    listing = await client.get("/api/sessions")
    assert listing.headers["x-ratelimit-limit"] == "2"

    secured.time.t += 45
    later = await client.post("/api/orchestrate", json={"message": "x", "session_id": session_id})
    assert later.status_code == 429
    assert later.headers["retry-after"] == "15"
    secured.time.t += 15
    again = await client.post("/api/orchestrate", json={"message": "4", "session_id": session_id})
    assert again.status_code == 200
    assert again.headers["x-ratelimit-remaining"] == "1"


async def test_tokens_per_minute_count_the_recorded_usage(secured: Secured) -> None:
    client = await secured.key(token_limit_tpm=40, rate_limit_rpm=100)
    first = await client.post("/api/orchestrate", json={"message": "one"})  # 10 in + 7 out
    assert first.headers["x-ratelimit-limit-tokens"] == "40"
    assert first.headers["x-ratelimit-remaining-tokens"] == "23"
    session_id = first.json()["session_id"]
    second = await client.post("/api/orchestrate", json={"message": "2", "session_id": session_id})
    assert second.status_code == 200  # admitted under the limit; it records 30 + 7 more
    assert second.headers["x-ratelimit-remaining-tokens"] == "0"

    refused = await client.post("/api/orchestrate", json={"message": "3", "session_id": session_id})
    assert refused.status_code == 429
    assert refused.json()["error"]["details"]["limit"] == "token_limit_tpm"
    assert len(secured.provider.requests) == 2
    # the turn slot was not spent by the refused turn
    assert refused.headers["x-ratelimit-remaining"] == "98"


async def test_a_budget_refuses_turns_once_spend_reaches_it(secured: Secured) -> None:
    client = await secured.key(budget_usd=0.0001)
    first = await client.post("/api/orchestrate", json={"message": "one"})
    session_id = first.json()["session_id"]
    assert first.json()["metadata"]["cost_estimate"] < 0.0001
    second = await client.post("/api/orchestrate", json={"message": "2", "session_id": session_id})
    assert second.status_code == 200
    refused = await client.post("/api/orchestrate", json={"message": "3", "session_id": session_id})
    streamed = await client.post(
        "/api/orchestrate", json={"message": "3", "session_id": session_id, "stream": True}
    )
    v1 = await client.post("/v1/chat/completions", json=V1_TURN)

    assert refused.status_code == streamed.status_code == v1.status_code == 402
    assert refused.json()["error"]["code"] == "budget_exceeded"
    assert v1.json()["error"]["code"] == "budget_exceeded"
    assert len(secured.provider.requests) == 2
    assert (await client.get(f"/api/sessions/{session_id}")).json()["message_count"] == 4
    assert "x-ratelimit-limit" not in refused.headers  # no per-minute limit on this key


async def test_v1_is_limited_in_openais_shape(secured: Secured) -> None:
    client = await secured.key(rate_limit_rpm=1)
    assert (await client.post("/v1/chat/completions", json=V1_TURN)).status_code == 200
    refused = await client.post("/v1/chat/completions", json={**V1_TURN, "stream": True})
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "60"
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert refused.json()["error"]["type"] == "invalid_request_error"
    assert refused.json()["error"]["code"] == "rate_limited"
    assert len(secured.provider.requests) == 1


async def test_limits_are_per_key(secured: Secured) -> None:
    limited = await secured.key(tenant="acme", rate_limit_rpm=1)
    sibling = await secured.key(tenant="acme", rate_limit_rpm=1)
    assert (await limited.post("/api/orchestrate", json={"message": "a"})).status_code == 200
    assert (await limited.post("/api/orchestrate", json={"message": "b"})).status_code == 429
    assert (await sibling.post("/api/orchestrate", json={"message": "c"})).status_code == 200
    unlimited = await secured.key(tenant="acme")
    answer = await unlimited.post("/api/orchestrate", json={"message": "d"})
    assert answer.status_code == 200
    assert _limit_headers(answer) == {}


async def test_a_replayed_turn_is_not_counted(secured: Secured) -> None:
    client = await secured.key(rate_limit_rpm=1)
    headers = {"Idempotency-Key": "retry-me"}
    first = await client.post("/api/orchestrate", json={"message": "a"}, headers=headers)
    replay = await client.post("/api/orchestrate", json={"message": "a"}, headers=headers)
    assert first.status_code == replay.status_code == 200
    assert replay.json()["response"] == first.json()["response"]
