"""Problems found in flow files, each precise enough for an operator to fix without help."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True, slots=True)
class FlowProblem:
    file: str
    line: int
    column: int
    message: str
    hint: str = ""
    flow: str = ""
    node: str = ""
    check: str = ""  # name of the validator that found it

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        who = " ".join(p for p in (f"flow {self.flow}" if self.flow else "",
                                   f"node {self.node}" if self.node else "") if p)
        text = f"{where}: {self.message}"
        if who:
            text += f" [{who}]"
        if self.hint:
            text += f" ({self.hint})"
        return text

    def as_dict(self) -> dict:
        return asdict(self)


class FlowLoadError(Exception):
    """Raised when flows cannot be used; carries every problem found."""

    def __init__(self, problems: list[FlowProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))
