"""Pieces shared by every node kind: message references, transition targets, and the interface a
node kind implements (what it does when entered, how it asks again, how it takes an answer, how
operators see it). `Step` is what a node works with while it runs; the runner provides it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict, model_validator

from bot.engine.conditions import Compiled
from bot.engine.events import Media
from bot.engine.labels import Labels
from bot.engine.lookup import Lookup
from bot.engine.turn import Turn

FLOW_PREFIX = "flow:"


class Strict(BaseModel):
    """Flow models reject unknown keys, so a typo in YAML is a load error, not a silent default."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Message(Strict):
    """A catalog message id with parameters (expressions) and an optional plural count (expression).

    In YAML either a bare id (`say: cancel_order.shipped`) or a mapping
    (`say: {msg: status.days_waiting, count: order.days_in_status, params: {n: order.days_in_status}}`).
    """

    msg: str
    params: dict[str, str] = {}
    count: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"msg": value}
        return value


def is_flow_target(target: str) -> bool:
    return target.startswith(FLOW_PREFIX)


def flow_of(target: str) -> str:
    return target[len(FLOW_PREFIX) :]


# The text of a message in the language an operator reads (operators' views pass one in).
TextOf = Callable[["Message | str"], str]
# A problem a node finds in itself: (path inside the node, message, hint, check name).
NodeProblem = tuple[tuple[Any, ...], str, str, str]


class Step(Protocol):
    """What a node works with while it runs: the turn, the flow it is in, expressions, messages,
    the order lookup, and the way on. Implemented by `bot.engine.runner.Runner`."""

    t: Turn
    lookup: Lookup
    labels: Labels
    languages: tuple[str, ...]

    @property
    def flow_id(self) -> str: ...

    def value(self, source: str) -> Any: ...

    def prepared(self, node: NodeBase) -> Any: ...

    def say(self, msg: Message | None) -> None: ...

    def params(self, msg: Message) -> dict[str, Any]: ...

    async def follow(self, target: str) -> None: ...

    def way_out(self, text: str, *, free_text: bool = False, number: bool = True) -> str | None: ...


class NodeBase(Strict):
    # How operators' graphs draw the node: step, decision, choice, subroutine, stop.
    shape: ClassVar[str] = "step"

    # ---- structure (validators, graphs) -----------------------------------------------------------
    def targets(self) -> list[tuple[str, str]]:
        """(where in the node, target) for every transition, for the validators and graphs."""
        return []

    def messages(self) -> list[tuple[str, Message]]:
        """(where in the node, message) for every text the node shows."""
        say = getattr(self, "say", None)
        return [("say", say)] if say is not None else []

    def expressions(self) -> Iterator[tuple[str, str, bool]]:
        """(where, source, must be a condition) for every expression in the node."""
        for where, msg in self.messages():
            for k, v in msg.params.items():
                yield f"{where}.params.{k}", v, False
            if msg.count:
                yield f"{where}.count", msg.count, False

    def variables(self) -> list[str]:
        """The `vars` the node sets, which conditions elsewhere may read."""
        return []

    def problems(self) -> Iterator[NodeProblem]:
        """Checks only the node itself can make (the validators add flow id, node id, file and line)."""
        return iter(())

    @property
    def waits(self) -> bool:
        """True when the node stops and waits for the buyer."""
        return False

    def prepare(self, fns: dict[str, Compiled]) -> Any:
        """Data computed once per loaded flow set (compiled cases, fixed buttons); `Step.prepared`
        hands it back at run time. None: nothing to prepare."""
        return None

    # ---- running ----------------------------------------------------------------------------------
    def enter(self, ctx: Step, node_id: str) -> str | Awaitable[str | None] | None:
        """Do what the node does; the next target, or None when the turn stops here. A node that
        awaits a port (lookup_order) is a coroutine function; the others return at once (a status
        answer passes through ~7 nodes, so the runner awaits only what needs it)."""
        raise NotImplementedError

    def prompt(self, ctx: Step) -> None:
        """Show the waiting step again (after a stale button, unexpected media, not understood)."""

    def buttons(self, ctx: Step) -> bool:
        """Offer only the node's buttons, without its text (the idle main menu offered again);
        False when it has none."""
        return False

    async def answer_text(self, ctx: Step, text: str) -> bool:
        """Typed input while the buyer is at this node; False when it does not answer it."""
        return False

    async def answer_press(self, ctx: Step, option_id: str) -> bool:
        """A button of this node pressed; False when it is not one of its buttons."""
        return False

    async def answer_contact(self, ctx: Step, phone: str) -> bool:
        """The buyer's own phone number, shared through their channel; False when not expected here."""
        return False

    async def answer_media(self, ctx: Step, media: Media) -> bool:
        """A photo, video or document sent at this node; False when the node does not expect one."""
        return False

    # ---- operators' views -------------------------------------------------------------------------
    def summary(self) -> str:
        """What the node does, in a few words (no texts)."""
        return str(getattr(self, "kind", ""))

    def edges(self, text: TextOf) -> list[tuple[str, str]]:
        """(label, target) for every way out of the node, in words an operator reads."""
        return [("", target) for _, target in self.targets()]

    def describe(self, text: TextOf) -> list[str]:
        """Lines under the node's texts in `ozonbot flows show`: its buttons and ways out."""
        return [f"  {label + ' ' if label else ''}-> {target_text(target)}" for label, target in self.edges(text)]


def target_text(target: str) -> str:
    return f"flow {flow_of(target)}" if is_flow_target(target) else target
