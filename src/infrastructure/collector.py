"""The cyclic garbage collector's settings for a serving process.

CPython frees most objects by reference counting; its cyclic collector only looks for cycles,
and what it costs grows with the objects it must traverse. Two things made it a tenth of a
turn's CPU (measured with ``gc.callbacks`` over 4,000 turns at 16 connections, see
docs/benchmarks.md):

- **young passes**: by default a pass over the youngest generation runs every 700 net
  allocations of container objects. A turn allocates thousands, and with many turns in
  flight the count crosses 700 again and again while their objects are still alive, so each
  pass traverses them (617 passes, 0.44 s in all). At ``YOUNG_THRESHOLD`` = 5,000 the count
  crosses only with real growth: 20 passes, 0.05 s. At most that many objects of cyclic
  garbage wait longer to be freed;
- **full passes over the SDKs**: an object that outlives two passes reaches the oldest
  generation, whose pass traverses everything in it. A provider's SDK is imported at its
  first call, after the start-up freeze, so its modules and classes landed there: a full pass
  then took 25 to 48 ms, every 750 turns or so, and every turn in flight waited for it.
  ``freeze_imports`` after each such import takes them out of the collector's view, like the
  start-up freeze; full passes then took 1 to 5 ms.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 5_000


def settle_startup() -> None:
    """At the end of start-up: what is alive now lives as long as the process (modules,
    settings, clients), so it leaves the collector's generations, and young passes run at
    ``YOUNG_THRESHOLD``."""
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, oldest)


def freeze_imports() -> None:
    """After an import at run time (a provider's SDK): its objects live as long as the process.

    Not collected first: a full pass would stop every turn in flight for tens of
    milliseconds, and all it could free is the little cyclic garbage alive at this moment,
    which then stays.
    """
    gc.freeze()
