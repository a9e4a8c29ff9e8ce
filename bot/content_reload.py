"""Live changes: the running bot watches flows/ and locales/, validates a change completely and
puts it in service with one assignment (`app.content = ...`). A broken change is refused: the last
good version keeps serving, the problems are logged and handed to `on_rejected` (e.g. posted to
the agents' group).

Conversations in progress finish on the flow version they started with: each content snapshot's
FlowRegistry keeps every version seen before, and the engine looks a conversation's node up by
(flow id, version).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.engine.content import Content, load_checked
from bot.engine.flowset import FlowSet
from bot.engine.problems import FlowLoadError, FlowProblem
from bot.i18n.catalogs import Catalogs

log = logging.getLogger(__name__)

OnRejected = Callable[[list[FlowProblem]], Any]  # may return an awaitable


@dataclass
class ReloadResult:
    ok: bool
    problems: list[FlowProblem] = field(default_factory=list)
    flows: int = 0
    versions: dict[str, str] = field(default_factory=dict)  # flow id -> version now current
    changed: list[str] = field(default_factory=list)  # flow ids whose version changed

    def summary(self) -> str:
        if not self.ok:
            return (f"flows/translations change refused: {len(self.problems)} problem(s); "
                    "the previous version keeps serving")
        what = ", ".join(self.changed) if self.changed else "no flow changed (translations only?)"
        return f"reloaded {self.flows} flows; changed: {what}"


def reload(app: Any, settings: Any = None) -> ReloadResult:
    """Rebuild catalogs + flows from `settings` (default: app.settings) and swap them in, or
    refuse the change and keep what is serving. Never raises for a broken change."""
    result = _load(settings or app.settings)
    if isinstance(result, ReloadResult):
        return result
    return _apply(app, *result)


def _apply(app: Any, catalogs: Catalogs, flowset: FlowSet) -> ReloadResult:
    """Put the new flows and texts in service: one assignment, so a turn sees either all of the old
    snapshot or all of the new one. Old flow versions still in use keep their texts."""
    old: Content = app.content
    app.content = old.replacing(catalogs, flowset)
    before = {fid: f.version for fid, f in old.flows.flows.items()}
    versions = {fid: f.version for fid, f in flowset.flows.items()}
    changed = sorted(fid for fid, v in versions.items() if before.get(fid) != v)
    return ReloadResult(True, [], len(versions), versions, changed)


def relevant(path: str | Path, flows_dir: Path, locales_dir: Path) -> bool:
    """Flow YAML (not tests or generated graphs) and .po files; not editor temp files or .mo."""
    p = Path(path)
    name = p.name
    if name.startswith(".") or name.endswith("~") or name.startswith("#"):
        return False
    try:
        rel = p.resolve().relative_to(flows_dir.resolve())
        return p.suffix == ".yaml" and not ({"tests", "graphs"} & set(rel.parts[:-1]))
    except ValueError:
        pass
    try:
        p.resolve().relative_to(locales_dir.resolve())
        return p.suffix == ".po"
    except ValueError:
        return False


async def _call(callback: Callable[..., Any] | None, *args: Any) -> None:
    if callback is None:
        return
    try:
        result = callback(*args)
        if inspect.isawaitable(result):
            await result
    except Exception:  # a failing notifier must not stop the watcher
        log.exception("reload callback %r failed", callback)


async def watch_and_reload(app: Any, settings: Any = None, *, on_rejected: OnRejected | None = None,
                           stop_event: asyncio.Event | None = None,
                           on_reloaded: Callable[[ReloadResult], Any] | None = None,
                           debounce_ms: int = 800, ready: asyncio.Event | None = None) -> None:
    """Watch flows/ and locales/ until `stop_event` is set; reload on every relevant change.

    `on_rejected(problems)` (sync or async) is called when a change is refused, `on_reloaded(result)`
    after a successful swap. `ready` is set once the watcher is running (for tests and start-up).
    """
    from watchfiles import awatch

    settings = settings or app.settings
    flows_dir, locales_dir = Path(settings.flows_dir), Path(settings.locales_dir)
    dirs = [d for d in (flows_dir, locales_dir) if d.exists()]

    def keep(_change: Any, path: str) -> bool:
        return relevant(path, flows_dir, locales_dir)

    log.info("watching %s for flow and translation changes", ", ".join(map(str, dirs)))
    watcher = awatch(*dirs, watch_filter=keep, stop_event=stop_event, debounce=debounce_ms, step=50,
                     recursive=True)
    if ready is not None:
        # awatch starts watching on the first iteration; give it a moment before declaring ready
        loop = asyncio.get_running_loop()
        loop.call_later(0.3, ready.set)
    async for changes in watcher:
        files = sorted({str(Path(p)) for _, p in changes})
        result = await asyncio.to_thread(_load, settings)
        if isinstance(result, ReloadResult):  # refused
            for p in result.problems:
                log.error("flow change refused: %s", p)
            log.error("%s (changed: %s)", result.summary(), ", ".join(files))
            await _call(on_rejected, result.problems)
            continue
        done = _apply(app, *result)
        log.warning("%s (files: %s)", done.summary(), ", ".join(files))
        await _call(on_reloaded, done)


def _load(settings: Any) -> tuple[Catalogs, FlowSet] | ReloadResult:
    """Load off the event loop; a refused change comes back as a ReloadResult."""
    try:
        return load_checked(settings.flows_dir, settings.locales_dir)
    except FlowLoadError as exc:
        return ReloadResult(False, list(exc.problems))
    except OSError as exc:
        return ReloadResult(False, [FlowProblem(str(getattr(exc, "filename", "") or settings.flows_dir), 1, 1,
                                                f"cannot read: {exc}", "save the file again", check="files")])


def format_problems(problems: Iterable[FlowProblem], limit: int = 20) -> str:
    """A short text for the agents' group: the first problems, one a line."""
    items = list(problems)
    lines = [str(p) for p in items[:limit]]
    if len(items) > limit:
        lines.append(f"... and {len(items) - limit} more (run `ozonbot flows check`)")
    return "\n".join(lines)
