"""A served application holding a few sessions made through the API, for the dashboard's
reads and pages: three users on three providers, a summary fold and one failed turn."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.upstream import Reply
from tests.integration.conftest import Service, Upstreams, serving, start_service, upstreams  # noqa: F401

#: Summarize early so that four turns fold once (SPEC §4 rules, smaller numbers).
MEMORY = {"session_summarization_threshold": 4, "session_keep_recent": 2}


@dataclass
class Population:
    service: Service
    sessions: dict[str, str] = field(default_factory=dict)  # user id -> session id
    turns: int = 0  # provider calls made for turns, the failed one included
    failed: int = 0

    def turn(self, user: str, message: str, provider: str) -> dict[str, Any]:
        answer = self.service.turn(message, self.sessions[user], provider=provider)
        self.turns += 1
        return answer


def populate(service: Service, upstreams: Upstreams) -> Population:  # noqa: F811
    population = Population(service)
    for user in ("alice", "bob", "carol"):
        created = service.http.post("/api/sessions", json={"user_id": user})
        population.sessions[user] = created.json()["session_id"]
    for i in range(4):
        population.turn("alice", f"Question {i + 1} from alice", "openai")
    population.turn("bob", "A question from bob", "anthropic")
    for i in range(2):
        population.turn("carol", f"Question {i + 1} from carol", "gemini")
    upstreams["openai"].enqueue(Reply(status=500, body={"error": {"message": "upstream down"}}))
    failed = service.http.post(
        "/api/orchestrate",
        json={
            "message": "This one fails",
            "session_id": population.sessions["bob"],
            "agent_config": {"provider": "openai"},
        },
    )
    assert failed.status_code == 502, failed.text
    population.turns += 1
    population.failed += 1
    return population


@pytest.fixture(scope="module")
def populated(
    tmp_path_factory: pytest.TempPathFactory,
    upstreams: Upstreams,  # noqa: F811
) -> Iterator[Population]:
    upstreams.reset()
    database: Path = tmp_path_factory.mktemp("dashboard") / "db.sqlite"
    with contextlib.ExitStack() as stack:
        service = stack.enter_context(serving(database, upstreams.env(), **MEMORY))
        yield populate(service, upstreams)
