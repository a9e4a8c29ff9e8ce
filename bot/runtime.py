"""Process-level tuning for the long-running bot, shared by `ozonbot run`/`chat` and the benchmarks."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal

GEN0_THRESHOLD = 50_000


def tune_gc() -> None:
    """Freeze what start-up allocated (flows, catalogs) and collect young objects less often.

    A turn allocates a few hundred short-lived objects; CPython's default (a collection every
    700 allocations, each scanning a heap that grows with loaded flows) cost about a quarter of
    the turn time in bench/engine.py.
    """
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, gen1, gen2)


def stop_on_signals(stop: asyncio.Event) -> None:
    """SIGINT and SIGTERM set `stop` (where the platform lets the loop handle signals)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
