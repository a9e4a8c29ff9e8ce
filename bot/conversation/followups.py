"""A turn's follow-ups (handoffs, notices to staff) as plain data, stored with the turn so that a
crash between saving a turn and acting on it completes it after the restart."""

from __future__ import annotations

from typing import Any

from bot.engine.effects import Action, Handoff


def followups_of(effects: list[Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for e in effects:
        if isinstance(e, Handoff):
            out.append({"handoff": {"reason": e.reason, "flow": e.flow_id, "node": e.node_id}})
        elif isinstance(e, Action):
            out.append({"action": {"name": e.name, "args": dict(e.args)}})
    return out


def effects_of(followups: list[dict[str, Any]]) -> list[Handoff | Action]:
    out: list[Handoff | Action] = []
    for item in followups:
        if "handoff" in item:
            h = item["handoff"]
            out.append(Handoff(h["reason"], h["flow"], h["node"]))
        elif "action" in item:
            a = item["action"]
            out.append(Action(a["name"], a["args"]))
    return out
