"""A flow: a decision tree of nodes, as written in one `flows/*.yaml` file."""

from __future__ import annotations

from pydantic import Field

from bot.engine.nodes import Message, Node
from bot.engine.nodes.base import Strict


class Triggers(Strict):
    """How a flow starts from free text: a /command, keywords per language (strong signals), and
    example messages per language that the intent model learns from (bot/engine/understanding.py)."""

    commands: list[str] = []  # noqa: RUF012 - a pydantic field: each model gets a copy
    keywords: dict[str, list[str]] = {}  # noqa: RUF012 - a pydantic field: each model gets a copy
    examples: dict[str, list[str]] = {}  # noqa: RUF012 - a pydantic field: each model gets a copy


class Flow(Strict):
    id: str
    title: Message
    description: str = ""
    menu: bool = False  # listed in the main menu
    triggers: Triggers = Triggers()
    start: str
    nodes: dict[str, Node]
    # Filled by the loader, not written in YAML.
    version: str = Field(default="", exclude=True)
    file: str = Field(default="", exclude=True)
