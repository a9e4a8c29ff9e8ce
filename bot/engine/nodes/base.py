"""Pieces shared by every node kind: message references and transition targets."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

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


class NodeBase(Strict):
    def targets(self) -> list[tuple[str, str]]:
        """(where in the node, target) for every transition, for the validators and graphs."""
        return []

    def messages(self) -> list[tuple[str, Message]]:
        """(where in the node, message) for every text the node shows."""
        say = getattr(self, "say", None)
        return [("say", say)] if say is not None else []

    @property
    def waits(self) -> bool:
        """True when the node stops and waits for the buyer."""
        return False
