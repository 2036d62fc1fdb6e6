"""``DirectRoute``: a valid JSON request is answered without FastAPI solving it, and every
request is answered as FastAPI answers it.

FastAPI's handler is the direct path's own fallback, taken for any content type but exactly
``application/json``, so the same request sent as ``application/json; charset=utf-8`` is
FastAPI's answer to compare with.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.exceptions import ResponseValidationError
from pydantic import BaseModel, field_validator

from src.api.direct_route import DirectRoute
from tests.api.conftest import Harness

DIRECT = {"content-type": "application/json"}
FASTAPI = {"content-type": "application/json; charset=utf-8"}

#: What each request of the small app did, in order: "body" when its body was validated,
#: "caller" when its dependency ran.
steps: list[str] = []


class Question(BaseModel):
    text: str
    n: int = 1

    @field_validator("text")
    @classmethod
    def seen(cls, text: str) -> str:
        steps.append("body")
        return text


class Answer(BaseModel):
    text: str
    caller: str


async def caller(request: Request) -> str:
    steps.append("caller")
    if request.headers.get("authorization") == "Bearer no":
        raise HTTPException(401, "refused")
    return request.headers.get("x-caller", "anyone")


def small_app(router: APIRouter, **include: Any) -> FastAPI:
    app = FastAPI(telemetry={"tracing": False, "metrics": False, "logs": False})
    app.include_router(router, prefix="/api", **include)
    return app


router = APIRouter(route_class=DirectRoute)


@router.post("/ask", response_model=Answer)
async def ask(body: Question, who: Annotated[str, Depends(caller)], request: Request) -> Any:
    assert request.url.path == "/api/ask"
    return Answer(text=body.text * body.n, caller=who)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=small_app(router))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def _both(client: httpx.AsyncClient, content: bytes, **headers: str) -> tuple[Any, Any]:
    """The direct path's answer and FastAPI's, with the steps each took."""
    answers = []
    for kind in (DIRECT, FASTAPI):
        steps.clear()
        r = await client.post("/api/ask", content=content, headers={**kind, **headers})
        answers.append((r.status_code, r.content, r.headers["content-type"], list(steps)))
    return answers[0], answers[1]


async def test_a_valid_body_takes_the_direct_path_and_gets_fastapis_answer(
    client: httpx.AsyncClient,
) -> None:
    direct, fastapi = await _both(client, b'{"text": "ab", "n": 2}', **{"x-caller": "ci"})
    assert direct[:3] == fastapi[:3] == (200, b'{"text":"abab","caller":"ci"}', "application/json")
    # FastAPI solves the dependency before the body; the direct path after it.
    assert (direct[3], fastapi[3]) == (["body", "caller"], ["caller", "body"])


@pytest.mark.parametrize(
    "content",
    [
        b"",  # missing
        b"null",
        b"[1]",
        b'{"text": 1}',  # refused by the model
        b'{"text": "a", "n": "many"}',
        b'{"text": "a"',  # not JSON
        b'{"text": "a", "n": NaN}',  # JSON has no NaN
        b"\xff\xfe",
    ],
)
async def test_a_refused_body_is_fastapis_to_answer(
    client: httpx.AsyncClient, content: bytes
) -> None:
    direct, fastapi = await _both(client, content)
    assert direct[:3] == fastapi[:3]
    assert direct[0] == 422
    # What the direct path did last is FastAPI's handling of the request, whole.
    assert direct[3][len(direct[3]) - len(fastapi[3]) :] == fastapi[3]


async def test_a_refusing_dependency_refuses_on_both_paths(client: httpx.AsyncClient) -> None:
    direct, fastapi = await _both(client, b'{"text": "a"}', authorization="Bearer no")
    assert direct[:3] == fastapi[:3]
    assert direct[0] == 401


async def test_dependency_overrides_are_applied() -> None:
    app = small_app(router)

    async def overridden(request: Request) -> str:
        return "override"

    app.dependency_overrides[caller] = overridden
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as overriding:
        r = await overriding.post("/api/ask", json={"text": "a"})
    assert r.json() == {"text": "a", "caller": "override"}


def test_a_route_outside_the_direct_path_is_refused_when_declared() -> None:
    def declaring(build: Any) -> None:
        refused = APIRouter(route_class=DirectRoute)
        build(refused)
        small_app(refused)

    def with_query(r: APIRouter) -> None:
        @r.post("/q", response_model=Answer)
        async def q(body: Question, page: Annotated[int, Query()] = 1) -> Any:
            raise AssertionError

    def with_response_parameter(r: APIRouter) -> None:
        @r.post("/r", response_model=Answer)
        async def with_response(body: Question, response: Response) -> Any:
            raise AssertionError

    def with_status(r: APIRouter) -> None:
        @r.post("/s", response_model=Answer, status_code=201)
        async def s(body: Question) -> Any:
            raise AssertionError

    def without_body(r: APIRouter) -> None:
        @r.post("/b", response_model=Answer)
        async def b(who: Annotated[str, Depends(caller)]) -> Any:
            raise AssertionError

    async def nested(who: Annotated[str, Depends(caller)]) -> str:
        return who

    def with_nested_dependency(r: APIRouter) -> None:
        @r.post("/d", response_model=Answer)
        async def d(body: Question, who: Annotated[str, Depends(nested)]) -> Any:
            raise AssertionError

    builds = (
        with_query,
        with_response_parameter,
        with_status,
        without_body,
        with_nested_dependency,
    )
    for build in builds:
        with pytest.raises(TypeError, match="declare it a JsonRoute"):
            declaring(build)


async def test_the_dependencies_of_an_including_router_count_as_the_routes_own() -> None:
    """FastAPI builds an included route's handler at its first request: refused there."""

    async def nested(who: Annotated[str, Depends(caller)]) -> str:
        return who

    app = small_app(router, dependencies=[Depends(nested)])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        with pytest.raises(TypeError, match="dependencies are async functions of the request"):
            await client.post("/api/ask", json={"text": "a"})


def _comparable(status: int, body: Any) -> tuple[int, Any]:
    """An answer without what differs between any two turns (ids, times)."""
    if isinstance(body, dict):
        body = {
            k: _comparable(0, v)[1]
            for k, v in body.items()
            if k not in {"session_id", "timestamp", "execution_time", "request_id"}
        }
    return status, body


TURNS: list[dict[str, Any] | bytes] = [
    {"message": "Explain AI simply"},
    {"message": "x" * 1001},  # past MAX_MESSAGE_CHARS: 413 naming the field
    {"message": "x", "session_id": "sess_nope"},
    {"message": "x", "agent_config": {"provider": "absent"}},
    {"message": "x", "agent_config": {"temperature": 9}},
    {"message": "x", "unknown": 1},
    {"message": 3},
    {},
    b'{"message": "x", "agent_config": {"temperature": Infinity}}',
    b"not json",
]


@pytest.mark.parametrize("turn", TURNS)
async def test_orchestrate_answers_alike_on_both_paths(api: Harness, turn: Any) -> None:
    content = turn if isinstance(turn, bytes) else httpx.Request("POST", "/", json=turn).content
    answers = []
    for kind in (DIRECT, FASTAPI):
        r = await api.client.post("/api/orchestrate", content=content, headers=kind)
        answers.append(_comparable(r.status_code, r.json()))
    assert answers[0] == answers[1]


async def test_an_answer_outside_the_response_model_fails_on_both_paths() -> None:
    wrong = APIRouter(route_class=DirectRoute)

    @wrong.post("/ask", response_model=Answer)
    async def ask(body: Question) -> Any:
        return {"text": body.text}  # no caller

    transport = httpx.ASGITransport(app=small_app(wrong))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for kind in (DIRECT, FASTAPI):
            with pytest.raises(ResponseValidationError):
                await client.post("/api/ask", content=b'{"text": "a"}', headers=kind)


async def test_without_fastapis_include_context_every_request_is_fastapis(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A FastAPI release without the context it builds included routes in: the routers a
    route is included in are unknown, so FastAPI's handler answers everything."""
    import src.api.direct_route

    monkeypatch.setattr(src.api.direct_route, "_including", None)
    plain = APIRouter(route_class=DirectRoute)
    plain.add_api_route("/ask", ask, methods=["POST"], response_model=Answer)
    transport = httpx.ASGITransport(app=small_app(plain))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        direct, fastapi = await _both(client, b'{"text": "a"}')
    assert direct == fastapi
    assert direct[3] == ["caller", "body"]
