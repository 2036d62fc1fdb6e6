"""A tool exchange stored on the real databases comes back as it was sent: the assistant's
calls, the results' call ids and functions, image parts and finish reasons."""

from __future__ import annotations

from src.domain.llm import ChatRequest, ChatResult, ImagePart, TextPart, TokenUsage, ToolCall
from src.domain.memory import MemoryPolicy
from src.domain.ports import Ports
from src.domain.session_manager import SessionManager
from src.domain.turns import ToolResult, TurnCommand
from src.infrastructure.persistence.locks import LocalSessionLocks
from src.infrastructure.persistence.unit_of_work import SqlUnitOfWorkFactory
from tests.fakes.domain import FakeClock, FakeDirectory, FakeProvider, FixedPrices

CALL = ToolCall("call_1", "get_weather", '{"city": "Paris"}')


def _script(request: ChatRequest) -> ChatResult:
    if request.messages[-1].role == "tool":
        return ChatResult("Sunny.", request.model, TokenUsage(20, 2), "stop")
    return ChatResult("", request.model, TokenUsage(10, 5), "tool_calls", tool_calls=(CALL,))


async def test_a_tool_exchange_round_trips_through_the_database(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    provider = FakeProvider(script=_script)
    ports = Ports(
        uow_factory, FakeDirectory(provider), FixedPrices(), LocalSessionLocks(), FakeClock()
    )
    manager = SessionManager(ports, MemoryPolicy())
    parts = (TextPart("what is this?"), ImagePart("data:image/png;base64,iVBORw0KGgo=", "low"))
    first = await manager.run_turn(TurnCommand("what is this?", parts=parts))
    sid = first.session_id or ""
    await manager.run_turn(
        TurnCommand("", session_id=sid, tool_results=(ToolResult("call_1", "18 degrees"),))
    )
    page = await manager.history(sid, limit=10, offset=0)
    question, calling, result, answer = page.messages
    assert question.parts == parts
    assert calling.tool_calls == (CALL,) and calling.finish_reason == "tool_calls"
    assert (result.role, result.tool_call_id, result.tool_name) == ("tool", "call_1", "get_weather")
    assert (answer.content, answer.finish_reason, answer.tool_calls) == ("Sunny.", "stop", ())
    # The next turn's context, read back from the database, keeps the exchange well-formed.
    await manager.run_turn(TurnCommand("thanks", session_id=sid))
    sent = provider.requests[-1].messages
    assert [m.role for m in sent] == ["user", "assistant", "tool", "assistant", "user"]
    assert sent[1].tool_calls == (CALL,) and sent[2].name == "get_weather"
    assert sent[0].parts == parts
