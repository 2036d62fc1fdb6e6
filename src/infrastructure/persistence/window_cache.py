"""The live windows of recent sessions, decoded, kept per process between their turns.

Reading a session's window and decoding its rows into messages was a sixth of a turn's
instructions (docs/benchmarks.md, round five). A window changes only by its session's turns,
and a stored message is never changed (only deleted with its session), so a window this
process has read or committed stays true for as long as nobody else adds to the session.
Whether somebody did is known from the session row that every turn reads anyway: its
``message_count`` is the sequence number of its newest message. A cached run of messages
serves a read only if it ends exactly at that number and reaches back far enough; otherwise
the database answers and its answer is kept. So several processes or replicas sharing one
database stay correct: one that did not see a session's last turn finds its run stale and
reads.

Runs are extended only after the commit that stored their new messages succeeded
(``SqlUnitOfWork``), and are kept only from reads of committed data. The cache holds about
``budget_bytes`` of messages at most (their texts, one byte a character, and
``PER_MESSAGE_BYTES`` each), the least recently used sessions leaving first; 0 turns it off.
A deleted session's run is dropped with the delete's commit.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from src.domain.entities import Message
from src.domain.llm import ImagePart

# What a decoded message takes beyond its texts: the object, its ids, role, timestamp, cost
# and model names, about 800 bytes each as CPython 3.11 holds them.
PER_MESSAGE_BYTES = 800


def _size(message: Message) -> int:
    parts = sum(len(p.url) if isinstance(p, ImagePart) else len(p.text) for p in message.parts)
    calls = sum(len(c.arguments) + len(c.name) for c in message.tool_calls)
    reasoning = len(message.reasoning_content or "")
    return PER_MESSAGE_BYTES + len(message.content) + reasoning + parts + calls


def _consecutive(messages: Sequence[Message]) -> bool:
    first = messages[0].seq
    return all(m.seq == first + i for i, m in enumerate(messages))


class _Run:
    """A session's newest messages, consecutive by ``seq``: at most ``keep``, and none at or
    before ``after`` (the summary's cut-off when last read, which only moves forward).

    ``sizes`` are those of the first messages when known (the run this one extends or trims),
    so that each message is sized once, not at every turn that keeps it."""

    __slots__ = ("after", "keep", "messages", "size", "sizes")

    def __init__(
        self, messages: tuple[Message, ...], keep: int, after: int, sizes: tuple[int, ...] = ()
    ) -> None:
        self.keep, self.after = keep, after
        # Consecutive, so the messages after the cut-off are a suffix.
        start = max(len(messages) - keep, after + 1 - messages[0].seq, 0) if messages else 0
        self.messages = messages[start:]
        known = sizes[start:]
        self.sizes = known + tuple(_size(m) for m in self.messages[len(known) :])
        self.size = sum(self.sizes)


class WindowCache:
    """``keep``: how many of a session's newest messages a run holds at least (the memory
    policy's ``MAX_SESSION_HISTORY``, the longest window a turn reads)."""

    def __init__(self, budget_bytes: int, keep: int) -> None:
        self._budget = budget_bytes
        self._keep = keep
        self._runs: OrderedDict[str, _Run] = OrderedDict()
        self._size = 0

    @property
    def size_bytes(self) -> int:
        return self._size

    def window(
        self, session_id: str, after_seq: int, limit: int, newest_seq: int
    ) -> Sequence[Message] | None:
        """The last ``limit`` messages with ``after_seq < seq <= newest_seq``, or None when
        the cached run cannot tell (none, stale, or too short)."""
        run = self._runs.get(session_id)
        if run is None or run.messages[-1].seq != newest_seq:
            return None
        start = max(after_seq + 1, newest_seq - limit + 1)
        offset = start - run.messages[0].seq
        if offset < 0:
            return None
        found = run.messages[offset:]
        if after_seq > run.after:  # a summary moved the cut-off: what it folded is let go
            self._put(session_id, _Run(run.messages, run.keep, after_seq, run.sizes))
        else:
            self._runs.move_to_end(session_id)
        return found

    def remember(
        self,
        session_id: str,
        window: Sequence[Message],
        after_seq: int,
        limit: int,
        newest_seq: int,
    ) -> None:
        """A window as the database answered it (``tail``'s arguments), from committed data."""
        if self._budget and window and window[-1].seq == newest_seq and _consecutive(window):
            self._put(session_id, _Run(tuple(window), max(limit, self._keep), after_seq))

    def extend(self, session_id: str, added: Sequence[Message]) -> None:
        """Messages a commit has just stored, the session's newest: they extend its run when
        they follow it (or start the session), and otherwise make it stale."""
        if not self._budget:
            return
        if not added or not _consecutive(added):
            self.forget(session_id)
            return
        run = self._runs.get(session_id)
        if run is not None and run.messages[-1].seq + 1 == added[0].seq:
            self._put(session_id, _Run(run.messages + tuple(added), run.keep, run.after, run.sizes))
        elif added[0].seq == 1:
            self._put(session_id, _Run(tuple(added), self._keep, 0))
        else:
            self.forget(session_id)

    def forget(self, session_id: str) -> None:
        run = self._runs.pop(session_id, None)
        if run is not None:
            self._size -= run.size

    def _put(self, session_id: str, run: _Run) -> None:
        """Replaces the session's run, most recent last; never an empty run or one that is
        larger than the whole budget."""
        self.forget(session_id)
        if not run.messages or run.size > self._budget:
            return
        self._runs[session_id] = run
        self._size += run.size
        while self._size > self._budget:
            _, oldest = self._runs.popitem(last=False)
            self._size -= oldest.size
