"""Findings, verdicts and the policy that overrides severity and action per rule."""

from __future__ import annotations

import pytest

import validators.checks  # noqa: F401  (completes the catalogue)
from validators.findings import Action, Finding, Severity, verdict_of, worst_verdict
from validators.rules import CATALOGUE, Policy


def finding(severity: Severity, action: Action = Action.LABEL) -> Finding:
    return Finding("ingest.preamble-executable", severity, "m", None, action)


@pytest.mark.parametrize("findings,verdict", [
    ([], "pass"),
    ([finding(Severity.INFO)], "pass"),
    ([finding(Severity.WARNING)], "warning"),
    ([finding(Severity.WARNING), finding(Severity.ERROR)], "suspicious"),
    ([finding(Severity.CRITICAL, Action.REPORT)], "pass"),
    ([finding(Severity.INFO, Action.REJECT), finding(Severity.ERROR)], "reject"),
])
def test_verdict_of(findings, verdict):
    assert verdict_of(findings) == verdict


def test_worst_verdict():
    assert worst_verdict(["pass", "suspicious", "warning"]) == "suspicious"
    assert worst_verdict([]) == "pass"


def test_override_to_info_is_applied():
    """INFO is 0: an override to it must not be mistaken for "no override"."""
    policy = Policy.from_config({"ingest.preamble-executable": {"Severity": "info", "Action": "report"}})
    [f] = policy.apply([finding(Severity.CRITICAL, Action.REJECT)])
    assert (f.severity, f.action) == (Severity.INFO, Action.REPORT)
    rule = policy.rule("ingest.preamble-executable")
    assert (rule.severity, rule.action) == (Severity.INFO, Action.REPORT)


def test_every_rule_is_documented_and_json_round_trips():
    for rule in CATALOGUE.values():
        assert rule.description and rule.id == rule.id.lower()
        f = rule.finding("message", 0x00100010, score=1.5)
        assert Finding.from_json(f.to_json()) == f
