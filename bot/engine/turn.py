"""One turn in progress: the state being changed, the effects and analytics it produces."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.engine.conditions import NO_ORDER, Env
from bot.engine.effects import Effect
from bot.engine.events import Buyer
from bot.engine.state import ConversationState
from bot.orders.facts import OrderFacts
from bot.orders.model import Order
from bot.orders.snapshot import dump_order, load_order


@dataclass(slots=True)
class Turn:
    state: ConversationState
    buyer: Buyer
    now: datetime
    effects: list[Effect] = field(default_factory=list)
    # analytics: (name, data), e.g. ("flow_started", {"flow": "cancel_order"})
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    steps: int = 0
    _facts: OrderFacts | None = None
    _env: Env | None = None

    @property
    def lang(self) -> str:
        return self.state.lang or ""  # the engine chooses it before anything reads it

    def emit(self, effect: Effect) -> None:
        self.effects.append(effect)

    def record(self, name: str, **data: Any) -> None:
        self.events.append((name, data))

    def set_order(self, order: Order | None) -> None:
        self.state.order = dump_order(order) if order else None
        self._facts = OrderFacts(order, self.now) if order else None
        self._env = None

    def order(self) -> Order | None:
        """The order being discussed (from the state's snapshot), if any."""
        return self._facts.order if self._facts is not None else load_order(self.state.order)

    def language_changed(self) -> None:
        self._env = None

    def env(self) -> Env:
        """What conditions read; built once a turn (vars is the live dict, so it stays current)."""
        if self._env is None:
            if self._facts is None and (order := load_order(self.state.order)) is not None:
                self._facts = OrderFacts(order, self.now)
            facts = self._facts if self._facts is not None else NO_ORDER
            self._env = Env(facts, self.state.vars, {"lang": self.lang, "id": self.buyer.id})
        return self._env
