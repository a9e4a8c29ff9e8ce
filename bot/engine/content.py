"""The content a bot serves: flows (with every older version still in use) and catalogs, plus the
caches made from them, as one immutable snapshot.

The app holds one `Content`; a live reload builds the next one with `replacing` and puts it in
service with a single assignment, so a turn never sees new flows with old texts, and no cache
outlives the catalogs it was made from.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.engine.flowset import FlowRegistry, FlowSet
from bot.engine.labels import Labels
from bot.engine.loader import load_flows
from bot.engine.problems import FlowLoadError, FlowProblem
from bot.i18n.catalogs import CatalogError, Catalogs
from bot.i18n.render import Renderer


@dataclass(frozen=True, eq=False, slots=True)
class Content:
    registry: FlowRegistry  # the current flows and every version seen before
    catalogs: Catalogs
    renderer: Renderer  # texts rendered from these catalogs (cached per snapshot)
    labels: Labels  # button labels folded for matching typed answers (cached per snapshot)

    @classmethod
    def of(cls, catalogs: Catalogs, flows: FlowSet | FlowRegistry) -> Content:
        registry = flows if isinstance(flows, FlowRegistry) else FlowRegistry(flows)
        return cls(registry, catalogs, Renderer(catalogs), Labels(catalogs, registry.current.synonyms))

    @property
    def flows(self) -> FlowSet:
        """The newest flows: where new conversations start."""
        return self.registry.current

    @property
    def languages(self) -> tuple[str, ...]:
        """The languages the bot speaks: those with a catalog in locales/."""
        return self.catalogs.languages

    def replacing(self, catalogs: Catalogs, flowset: FlowSet) -> Content:
        """The next snapshot: new flows and texts, keeping the old flow versions and the texts only
        they use, so conversations in progress finish on the version they started with."""
        return Content.of(catalogs.keeping(self.catalogs), self.registry.replacing(flowset))


def load_checked(flows_dir: str | Path, locales_dir: str | Path) -> tuple[Catalogs, FlowSet]:
    """Catalogs and flows, fully validated. Raises FlowLoadError (catalog errors included)."""
    try:
        catalogs = Catalogs.load(locales_dir)
    except CatalogError as exc:
        raise FlowLoadError([FlowProblem(exc.file, exc.line, 1, exc.message, "fix the .po file",
                                         check="catalog")]) from None
    return catalogs, load_flows(flows_dir, catalogs)
