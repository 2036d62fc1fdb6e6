"""The collector's settings for serving: young passes at a higher threshold, and what start-up
made frozen out of the generations (see ``src.infrastructure.collector``)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from src.infrastructure import collector


@pytest.fixture
def restored_collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restored_collector")
def test_start_up_freezes_what_is_alive_and_raises_only_the_young_threshold() -> None:
    class MadeAtStartUp:
        pass

    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    collector.settle_startup()

    assert not any(o is MadeAtStartUp for o in gc.get_objects())
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (collector.YOUNG_THRESHOLD, 10, 10)


@pytest.mark.usefixtures("restored_collector")
def test_what_an_import_made_at_run_time_is_frozen_too() -> None:
    collector.settle_startup()

    class MadeByAnImport:
        pass

    assert any(o is MadeByAnImport for o in gc.get_objects())
    collector.freeze_imports()
    assert not any(o is MadeByAnImport for o in gc.get_objects())
