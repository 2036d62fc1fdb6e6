"""Pure rules: cost, token estimates, memory decisions."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from src.domain.entities import Message
from src.domain.identity import Limits, Principal
from src.domain.llm import ChatMessage, ChatRequest, TokenUsage
from src.domain.memory import (
    MemoryPolicy,
    accept_summary,
    build_context,
    fold_upto,
    live_tokens_after_turn,
    needs_summary,
)
from src.domain.pricing import ModelPrice, cost_of
from src.domain.tokens import estimate_tokens
from src.domain.turns import Target, ToolResult, TurnCommand


def _msg(seq: int, content: str = "x") -> Message:
    return Message(
        f"m{seq}",
        "s",
        seq,
        "user" if seq % 2 else "assistant",
        content,
        datetime(2026, 1, 1, tzinfo=UTC),
    )


def test_cost_is_exact_and_prices_cached_and_cache_write_tokens_apart() -> None:
    price = ModelPrice(
        Decimal("3.00"), Decimal("0.30"), Decimal("15.00"), cache_write=Decimal("3.75")
    )
    usage = TokenUsage(
        input_tokens=1_000_000,
        cached_input_tokens=200_000,
        cache_write_tokens=100_000,
        output_tokens=10,
    )
    assert cost_of(usage, price) == Decimal("2.10") + Decimal("0.06") + Decimal("0.375") + Decimal(
        "0.00015"
    )


def test_unknown_price_means_unknown_cost() -> None:
    assert cost_of(TokenUsage(input_tokens=5), None) is None


def test_token_estimate_is_a_ceiling_of_chars_over_four() -> None:
    assert [estimate_tokens(t) for t in ("", "a", "abcd", "abcde")] == [0, 1, 1, 2]


def test_message_threshold_passes_when_window_plus_new_message_exceeds_it() -> None:
    policy = MemoryPolicy(summarization_threshold=20, summary_token_threshold=0)
    assert not needs_summary(policy, 19, 10**6, "hi")
    assert needs_summary(policy, 20, 0, "hi")


def test_fold_keeps_the_most_recent_messages() -> None:
    policy = MemoryPolicy(keep_recent=6)
    assert fold_upto(policy, 20, 0) == 14
    assert fold_upto(policy, 20, 14) is None


def test_a_summary_must_be_shorter_than_what_it_replaces() -> None:
    folded = [_msg(1, "a" * 10), _msg(2, "b" * 10)]
    assert accept_summary("  short  ", None, folded) == "short"
    assert accept_summary("c" * 20, None, folded) is None
    assert accept_summary("", "previous", folded) is None


def test_context_order_and_history_cap() -> None:
    window = [_msg(i, f"m{i}") for i in range(1, 11)]
    context = build_context("sys", "sum", window, "new", max_history=4)
    assert [(m.role, m.content) for m in context][:2] == [
        ("system", "sys"),
        ("system", "Summary of the earlier conversation:\nsum"),
    ]
    assert [m.content for m in context[2:]] == ["m7", "m8", "m9", "m10", "new"]


def test_live_tokens_anchor_on_reported_input_minus_system_parts() -> None:
    context = (ChatMessage("system", "s" * 400), ChatMessage("user", "hello"))
    assert (
        live_tokens_after_turn(context, TokenUsage(input_tokens=150, output_tokens=20), "reply")
        == 70
    )
    estimated = live_tokens_after_turn(context, TokenUsage(estimated=True), "r" * 8)
    assert estimated == 2 + 2


def test_request_splits_system_text_from_conversation() -> None:
    request = ChatRequest(
        "m", (ChatMessage("system", "a"), ChatMessage("system", "b"), ChatMessage("user", "u"))
    )
    assert request.system_text == "a\n\nb"
    assert [m.content for m in request.conversation] == ["u"]


def test_fingerprint_ignores_the_key_but_not_the_message() -> None:
    a = TurnCommand(message="x", idempotency_key="1")
    assert a.fingerprint() == TurnCommand(message="x", idempotency_key="2").fingerprint()
    assert a.fingerprint() != TurnCommand(message="y", idempotency_key="1").fingerprint()


def test_fingerprint_is_the_tenant_s_not_the_key_s() -> None:
    """Another key of the same tenant retrying the turn is the same request; the same key
    under another tenant would be another tenant's idempotency key altogether."""
    limited = Principal("acme", key_id="key-1", limits=Limits(rate_limit_rpm=5))
    a = TurnCommand(message="x", principal=limited)
    assert a.fingerprint() == TurnCommand(message="x", principal=Principal("acme")).fingerprint()
    assert a.fingerprint() != TurnCommand(message="x", principal=Principal("globex")).fingerprint()


def test_fingerprint_is_the_one_earlier_versions_stored() -> None:
    """Idempotency keys outlive an upgrade: a retry sent across one must still match the
    fingerprint stored before it (this digest was computed by the previous release)."""
    principal = Principal(
        "acme", key_id="key-1", limits=Limits(rate_limit_rpm=5, budget_usd=Decimal("2.5"))
    )
    command = TurnCommand(
        message="hello",
        session_id="sess-1",
        target=Target("openai", "gpt-4o-mini"),
        temperature=0.2,
        max_tokens=64,
        system_prompt="be brief",
        fallbacks=(Target("anthropic", None),),
        idempotency_key="idem-1",
        tool_results=(ToolResult("call-1", "42"),),
        options=(("seed", 7),),
        principal=principal,
    )
    expected = "c223d651f51d1ac41dfd5392f288e513a5763be0d1ef3c8a5bb100f39f73f925"
    assert command.fingerprint() == expected
