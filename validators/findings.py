"""Findings: what a validator says about one object, series or file.

A finding names a stable rule id (see :mod:`validators.rules`), a severity, a message for a person and,
where one attribute is at fault, the DICOM tag as ``"(gggg,eeee)"``. Extra keys (instance ids, frame
numbers, scores) travel in ``details`` and are flattened into the JSON form.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Iterable


class Severity(enum.IntEnum):
    """How bad a finding is; ordered so that ``max()`` gives the worst."""

    INFO = 0
    WARNING = 1
    ERROR = 2
    CRITICAL = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> "Severity":
        """``"warning"`` -> ``Severity.WARNING``; raises ValueError naming the allowed words."""
        try:
            return cls[text.upper()]
        except (KeyError, AttributeError):
            allowed = ", ".join(s.label for s in cls)
            raise ValueError(f"unknown severity {text!r}; expected one of {allowed}") from None


class Action(enum.Enum):
    """What Sentinel does with an object that has a finding of a rule.

    REJECT: refused at ingest and kept in quarantine. LABEL: stored, labelled by severity.
    REPORT: stored, shown in the report only (neither verdict nor labels change).
    """

    REJECT = "reject"
    LABEL = "label"
    REPORT = "report"

    @classmethod
    def parse(cls, text: str) -> "Action":
        try:
            return cls(text.lower())
        except (ValueError, AttributeError):
            allowed = ", ".join(a.value for a in cls)
            raise ValueError(f"unknown action {text!r}; expected one of {allowed}") from None


def format_tag(tag: int) -> str:
    """0x00080018 -> ``"(0008,0018)"``, the notation of PS3.5 and dciodvfy."""
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


@dataclass(frozen=True)
class Finding:
    """One problem found by one rule. ``tag`` is ``"(gggg,eeee)"`` or None."""

    rule: str
    severity: Severity
    message: str
    tag: str | None = None
    action: Action = Action.LABEL
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rule": self.rule, "severity": self.severity.label, "action": self.action.value,
                               "message": self.message}
        if self.tag is not None:
            out["tag"] = self.tag
        out.update(self.details)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Finding":
        rest = {k: v for k, v in data.items() if k not in ("rule", "severity", "action", "message", "tag")}
        return cls(rule=data["rule"], severity=Severity.parse(data["severity"]), message=data["message"],
                   tag=data.get("tag"), action=Action.parse(data.get("action", "label")), details=rest)


VERDICTS = ("pass", "warning", "suspicious", "reject")


def verdict_of(findings: Iterable[Finding]) -> str:
    """The verdict of a set of findings.

    ``reject`` if any finding's action is REJECT; otherwise the worst LABEL finding decides:
    ``suspicious`` for error or critical, ``warning`` for warning, ``pass`` for info or nothing.
    REPORT findings never change the verdict.
    """
    worst = Severity.INFO
    for f in findings:
        if f.action is Action.REJECT:
            return "reject"
        if f.action is Action.LABEL and f.severity > worst:
            worst = f.severity
    if worst >= Severity.ERROR:
        return "suspicious"
    if worst is Severity.WARNING:
        return "warning"
    return "pass"


def worst_verdict(verdicts: Iterable[str]) -> str:
    """The worst of several verdicts, in the order of :data:`VERDICTS`; ``pass`` when empty."""
    return max(verdicts, key=VERDICTS.index, default="pass")
