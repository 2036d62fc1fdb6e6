from __future__ import annotations

import time
from datetime import UTC, datetime


class SystemClock:
    """The real clock (the domain's ``Clock`` port)."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()
