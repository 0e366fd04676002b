"""The rule catalogue and the one place where policy (severity and action per rule) is applied.

Each validator module declares its rules at import time with :func:`define`; the returned
:class:`Rule` makes findings with the rule's defaults. A :class:`Policy` built from the
``"Sentinel"`` configuration overrides severity and action per rule id, and unknown ids in the
configuration are refused so that a typo never silently disables a check.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Iterable, Mapping

from .findings import Action, Finding, Severity, format_tag


@dataclass(frozen=True)
class Rule:
    """A check with a stable id, its default severity and action, and what it checks."""

    id: str
    severity: Severity
    action: Action
    description: str

    def finding(self, message: str, tag: int | str | None = None, **details: Any) -> Finding:
        """A finding of this rule; ``tag`` as 0xGGGGEEEE or already formatted."""
        if isinstance(tag, int):
            tag = format_tag(tag)
        return Finding(self.id, self.severity, message, tag, self.action, details)

    def to_json(self) -> dict[str, str]:
        return {"id": self.id, "severity": self.severity.label, "action": self.action.value,
                "description": self.description}


CATALOGUE: dict[str, Rule] = {}


def define(rule_id: str, severity: Severity, action: Action, description: str) -> Rule:
    """Register a rule once; a second registration of the same id is a programming error."""
    if rule_id in CATALOGUE:
        raise RuntimeError(f"rule {rule_id} defined twice")
    rule = Rule(rule_id, severity, action, description)
    CATALOGUE[rule_id] = rule
    return rule


@dataclass(frozen=True)
class Override:
    """What the configuration changes of one rule; None keeps the default."""

    severity: Severity | None = None
    action: Action | None = None

    def applied_to(self, item: Any) -> Any:
        """A copy of a Rule or Finding with this override (INFO is 0: compare with None, not truth)."""
        return replace(item, severity=item.severity if self.severity is None else self.severity,
                       action=item.action if self.action is None else self.action)


class Policy:
    """Severity and action per rule, the catalogue's defaults with the configuration's overrides."""

    def __init__(self, overrides: Mapping[str, Override] | None = None):
        self.overrides = dict(overrides or {})

    @classmethod
    def from_config(cls, section: Any) -> "Policy":
        """Parse ``{"rule.id": {"Severity": "warning", "Action": "report"}}``.

        Raises ValueError naming the offending rule id or key.
        """
        if section is None:
            return cls()
        if not isinstance(section, dict):
            raise ValueError("Rules must be an object mapping rule ids to {\"Severity\", \"Action\"}")
        overrides = {}
        for rule_id, spec in section.items():
            if rule_id not in CATALOGUE:
                raise ValueError(f"Rules: unknown rule id {rule_id!r} (GET /sentinel/rules lists them)")
            if not isinstance(spec, dict) or not set(spec) <= {"Severity", "Action"}:
                raise ValueError(f"Rules.{rule_id} must be an object with \"Severity\" and/or \"Action\"")
            try:
                overrides[rule_id] = Override(
                    Severity.parse(spec["Severity"]) if "Severity" in spec else None,
                    Action.parse(spec["Action"]) if "Action" in spec else None)
            except ValueError as e:
                raise ValueError(f"Rules.{rule_id}: {e}") from None
        return cls(overrides)

    def rule(self, rule_id: str) -> Rule:
        """The catalogue rule with this policy's severity and action."""
        base = CATALOGUE[rule_id]
        o = self.overrides.get(rule_id)
        if o is None:
            return base
        return o.applied_to(base)

    def apply(self, findings: Iterable[Finding]) -> list[Finding]:
        """The findings with severity and action taken from this policy."""
        out = []
        for f in findings:
            o = self.overrides.get(f.rule)
            if o is not None:
                f = o.applied_to(f)
            out.append(f)
        return out

    def catalogue(self) -> list[dict[str, str]]:
        return [self.rule(rule_id).to_json() for rule_id in sorted(CATALOGUE)]
