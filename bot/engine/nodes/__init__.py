"""Flow node kinds, one module each. `Node` is the discriminated union the loader parses."""

from typing import Annotated, get_args

from pydantic import Field

from bot.engine.nodes.action import ActionNode
from bot.engine.nodes.ask import AskNode
from bot.engine.nodes.base import Message
from bot.engine.nodes.choice import ChoiceNode, ChoiceOption
from bot.engine.nodes.end import EndNode
from bot.engine.nodes.goto import GotoNode
from bot.engine.nodes.handoff import HandoffNode
from bot.engine.nodes.lookup_order import LookupOrderNode
from bot.engine.nodes.say import SayNode
from bot.engine.nodes.switch import Case, SwitchNode

Node = Annotated[
    SayNode | ChoiceNode | AskNode | LookupOrderNode | SwitchNode | ActionNode | HandoffNode | EndNode | GotoNode,
    Field(discriminator="kind"),
]
# The `kind` of every node, in the union's order (for messages that list them).
KINDS: tuple[str, ...] = tuple(get_args(cls.model_fields["kind"].annotation)[0] for cls in get_args(get_args(Node)[0]))

__all__ = [
    "KINDS",
    "ActionNode",
    "AskNode",
    "Case",
    "ChoiceNode",
    "ChoiceOption",
    "EndNode",
    "GotoNode",
    "HandoffNode",
    "LookupOrderNode",
    "Message",
    "Node",
    "SayNode",
    "SwitchNode",
]
