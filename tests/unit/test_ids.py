"""The ids the gateway gives sessions, messages, call records and keys (``new_id``)."""

from __future__ import annotations

import re
import time

from src.domain.accounting import new_id


def test_an_id_is_its_prefix_and_32_hex_digits() -> None:
    # SPEC §3: sess_<32 hex>, and the same shape for every other kind of id.
    for prefix in ("sess", "msg", "call", "key"):
        assert re.fullmatch(rf"{prefix}_[0-9a-f]{{32}}", new_id(prefix))


def test_ids_made_later_sort_after_earlier_ones() -> None:
    # So a new row's key goes at the end of its primary-key index.
    earlier = [new_id("msg") for _ in range(100)]
    time.sleep(0.002)
    later = [new_id("msg") for _ in range(100)]

    assert max(earlier) < min(later)


def test_ids_made_within_one_millisecond_are_all_different() -> None:
    ids = [new_id("call") for _ in range(20_000)]

    assert len(set(ids)) == len(ids)
    # Eighty random bits follow the time: the last twenty digits are not a counter.
    assert len({i[-20:] for i in ids}) == len(ids)
