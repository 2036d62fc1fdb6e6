"""``UtcDateTime`` on SQLite converts in one step what the dialect's own processors and the
decorator's did in three: the stored text must stay SQLAlchemy's to the character (compared
with its own ``DATETIME`` processors, not with this code), so rows written before and after
read alike, and every timestamp must come back as the same instant in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite

from src.infrastructure.persistence.tables import UtcDateTime

DIALECT = SQLiteDialect_pysqlite()
PLUS_FIVE = timezone(timedelta(hours=5, minutes=30))
INSTANTS = [
    datetime(2026, 12, 4, 20, 35, 40, 123456, tzinfo=UTC),
    datetime(2026, 12, 4, 20, 35, 40, tzinfo=UTC),  # no microseconds: still six digits
    datetime(2027, 1, 1, 3, 0, 0, 1, tzinfo=PLUS_FIVE),  # the day before, in UTC
    datetime(999, 5, 6, 7, 8, 9, 10, tzinfo=UTC),  # a year of three digits
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
]


def _dialects_text(value: datetime) -> str:
    """What SQLAlchemy's own SQLite ``DATETIME`` stores for the UTC wall time."""
    process = sa.DateTime().dialect_impl(DIALECT).bind_processor(DIALECT)
    assert process is not None
    text: str = process(value.astimezone(UTC).replace(tzinfo=None))
    return text


def _dialects_value(text: str) -> datetime:
    """What SQLAlchemy's own SQLite ``DATETIME`` reads, as the UTC wall time it is."""
    process = sa.DateTime().dialect_impl(DIALECT).result_processor(DIALECT, None)
    assert process is not None
    parsed: datetime = process(text)
    return parsed.replace(tzinfo=UTC)


@pytest.mark.parametrize("value", INSTANTS, ids=str)
def test_the_stored_text_is_the_dialects_and_reads_back_as_the_same_instant(
    value: datetime,
) -> None:
    bind = UtcDateTime().dialect_impl(DIALECT).bind_processor(DIALECT)
    result = UtcDateTime().dialect_impl(DIALECT).result_processor(DIALECT, None)
    assert bind is not None and result is not None

    text = bind(value)
    assert text == _dialects_text(value)
    read = result(text)
    assert read == value and read.tzinfo is UTC
    assert read == _dialects_value(text)


def test_text_written_without_microseconds_or_with_a_zone_reads_as_utc() -> None:
    result = UtcDateTime().dialect_impl(DIALECT).result_processor(DIALECT, None)
    assert result is not None

    assert result("2026-12-04 20:35:40") == datetime(2026, 12, 4, 20, 35, 40, tzinfo=UTC)
    assert result("2026-12-05 02:05:40+05:30") == datetime(2026, 12, 4, 20, 35, 40, tzinfo=UTC)
    assert result(None) is None


def test_naive_timestamps_and_nulls() -> None:
    bind = UtcDateTime().dialect_impl(DIALECT).bind_processor(DIALECT)
    assert bind is not None

    assert bind(None) is None
    with pytest.raises(ValueError, match="timezone-aware"):
        bind(datetime(2026, 12, 4, 20, 35, 40))
