"""The file format of the operators' conversation tests, `flows/tests/*.yaml`.

Format (one file holds any number of tests)::

    tests:
      - name: seller late, buyer urges the seller (ru)
        lang: ru                          # buyer's Telegram language (a language of locales/)
        order: packaging_seller_late      # demo order key (`ozonbot orders list`), optional
        backend: ok                       # ok | unavailable (order service down) | broken (answers
                                          # nonsense: the bot's internal_error flow), optional
        patch: {shipment_date: null}      # change fields of the demo order for this test (Order
                                          # fields, JSON; times as ISO, the clock is FIXED_NOW), optional
        steps:
          - send: "/start"                # text, /command, or ":photo NAME" to send a photo
          - press: "Статус"               # a fragment of a button label of the previous reply
          - send: "{order_number}"        # placeholders from `order`: {order_number} {posting_number}
                                          # {phone} {phone_number} {product} {order_date}
          - send: "{phone}"
            expect:
              flow: order_status
              node: seller_late           # node the conversation is at (or last entered) after the step
              says: ["опаздывает"]        # fragments that must appear in the bot's texts of this step
              not_says: ["ошибка"]        # fragments that must not
              buttons: ["Поторопить"]     # fragments of button labels shown in this step
              entered: [route, seller_late]  # nodes passed through in this step (node, or flow:node)
          - press: "Поторопить"
            expect: {effects: ["action:urge_seller"]}   # also handoff, handoff:REASON, end:resolved,
                                                        # end:unresolved, lang:LANG
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bot.engine.loader import read_yaml, validation_problems
from bot.engine.problems import FlowProblem
from bot.engine.yaml_positions import position_of


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Expect(_Strict):
    flow: str | None = None
    node: str | None = None
    says: list[str] = []
    not_says: list[str] = []
    buttons: list[str] = []
    effects: list[str] = []
    entered: list[str] = []


class Step(_Strict):
    send: str | None = None
    press: str | None = None
    flow: str | None = None  # start this flow as an adapter would (e.g. no_agent, when nobody takes a handoff)
    expect: Expect | None = None

    @model_validator(mode="after")
    def _one_action(self) -> Step:
        if sum(x is not None for x in (self.send, self.press, self.flow)) != 1:
            raise ValueError("a step has exactly one of 'send', 'press' or 'flow'")
        return self


class Case(_Strict):
    name: str
    lang: str = "ru"  # checked against the catalogs when the case runs
    order: str | None = None
    backend: Literal["ok", "unavailable", "broken"] = "ok"
    patch: dict[str, Any] = {}
    steps: list[Step] = Field(min_length=1)
    # set by the parser
    file: str = Field(default="", exclude=True)
    line: int = Field(default=0, exclude=True)
    step_lines: list[int] = Field(default_factory=list, exclude=True)


class FlowTestFile(_Strict):
    tests: list[Case]


def find_test_files(tests_dir: str | Path) -> list[Path]:
    return sorted(Path(tests_dir).glob("*.yaml"))


def parse_test_file(path: Path, display: str | None = None) -> tuple[list[Case], list[FlowProblem]]:
    display = display or str(path)
    text = path.read_text(encoding="utf-8")
    readable, data, positions, problems = read_yaml(text, display, check="tests")
    if not readable:
        return [], problems
    try:
        parsed = FlowTestFile.model_validate(data)
    except ValidationError as exc:
        return [], problems + validation_problems(exc, positions, display, check="tests",
                                                  hint=lambda err: "see the format in bot/operators/flowtest_format.py")
    cases = []
    for i, case in enumerate(parsed.tests):
        case.file, case.line = display, position_of(positions, ("tests", i))[0]
        case.step_lines = [position_of(positions, ("tests", i, "steps", j))[0] for j in range(len(case.steps))]
        cases.append(case)
    return cases, problems
