"""SQLAlchemy Core statements compiled once to a driver's SQL text, parameter order and types.

The tables stay declared once (``tables``) and the statements are written once, in Core
(``statements``); this module turns each into what a raw driver (stdlib ``sqlite3`` or
``asyncpg``) executes: the SQL text in the driver's parameter style, the order of its
parameters, and the dialect's own bind and result processors per column. So a value is stored
exactly as SQLAlchemy would store it (the same timestamp text on SQLite, the same JSON), a
column added to a table flows into every statement built from it, and no SQLAlchemy
machinery runs per statement: building and executing through it was most of a turn's
database cost (greenlet switches, result objects, caches keyed per call).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

Processor = Callable[[Any], Any]
Statement = sa.Select[Any] | sa.Insert | sa.Update | sa.Delete | sa.TextClause
_NO_DEFAULT = object()


@dataclass(frozen=True, slots=True)
class CompiledStatement:
    """One statement as the driver takes it, with the conversions of its values."""

    sql: str
    # Each positional parameter: its bind name, its constant value (or _NO_DEFAULT), and the
    # dialect's bind processor for its type (None when the driver takes the value as is).
    params: tuple[tuple[str, Any, Processor | None], ...]
    # Each result column: its name and the dialect's result processor (None: as is).
    columns: tuple[tuple[str, Processor | None], ...]

    def args(self, values: Mapping[str, Any]) -> list[Any]:
        """The positional arguments for ``values`` (by bind name), processed for the driver."""
        out = []
        for name, default, process in self.params:
            value = values[name] if default is _NO_DEFAULT else values.get(name, default)
            out.append(value if process is None or value is None else process(value))
        return out

    def row(self, raw: Sequence[Any]) -> dict[str, Any]:
        """One fetched row as ``{column name: Python value}``."""
        return {
            name: value if process is None or value is None else process(value)
            for (name, process), value in zip(self.columns, raw, strict=True)
        }


class StatementCompiler:
    """Compiles Core statements for one dialect, each once (cached by a key of the caller's)."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self._cache: dict[Hashable, CompiledStatement] = {}

    def get(self, key: Hashable, build: Callable[[], Statement]) -> CompiledStatement:
        """The compiled form of ``build()``; ``key`` must tell its statements apart."""
        compiled = self._cache.get(key)
        if compiled is None:
            compiled = self._cache[key] = self.compile(build())
        return compiled

    def of(self, statement: Statement) -> CompiledStatement:
        """For statements built once (module constants): cached by the statement itself,
        which hashes by identity."""
        return self.get(statement, lambda: statement)

    def compile(self, statement: Statement) -> CompiledStatement:
        dialect = self.dialect
        compiled = statement.compile(dialect=dialect)
        order = compiled.positiontup or []
        params = []
        for name in order:
            bind = compiled.binds[name]
            # A literal of the statement (``status == "active"``) carries its value; a
            # ``bindparam`` without one is the caller's to give.
            constant = _NO_DEFAULT if bind.required else bind.value
            processor: Processor | None = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None and isinstance(bind.type, sa.JSON):
                processor = empty_json_first_out(processor)
            params.append((name, constant, processor))
        columns = tuple(
            (column.name, self._result_processor(column)) for column in _selected(statement)
        )
        return CompiledStatement(str(compiled), tuple(params), columns)

    def _result_processor(self, column: sa.ColumnElement[Any]) -> Processor | None:
        """The dialect's conversion of a column's values, if any.

        Numbers are taken as the driver returns them: the dialects choose a numeric
        conversion by the driver's type code of each result, unknown before execution, and
        the repositories convert their aggregates themselves (``int``, ``float``, picodollars).
        """
        if isinstance(column.type, (sa.Numeric, sa.Float)):
            return None
        dialect = self.dialect
        processor: Processor | None = column.type.dialect_impl(dialect).result_processor(
            dialect, None
        )
        if processor is not None and isinstance(column.type, sa.JSON):
            return empty_json_first(processor)
        return processor


def empty_json_first(decode: Processor) -> Processor:
    """``decode``, but ``[]`` becomes a new empty list without the JSON parser: what nearly
    every message stores for its tool calls and its parts. Reading a window of fourteen
    messages took 201 µs of decoding, of which the parser of those empty lists took 92."""

    def decoded(value: Any) -> Any:
        return [] if value == "[]" else decode(value)

    return decoded


def empty_json_first_out(encode: Processor) -> Processor:
    """``encode``, but an empty list is ``[]`` without the JSON encoder (what the dialect's
    processor writes for it): the other half of ``empty_json_first``, two or more a message."""

    def encoded(value: Any) -> Any:
        return "[]" if value == [] else encode(value)

    return encoded


def _selected(statement: Statement) -> list[sa.ColumnElement[Any]]:
    """The result columns: a select's; writes here return none."""
    return list(statement.selected_columns) if isinstance(statement, sa.Select) else []
