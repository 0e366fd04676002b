"""The "Sentinel" section: defaults, and a bad value refused with a message naming its key."""

from __future__ import annotations

import pytest

import validators.ingest  # noqa: F401  (registers the ingest rules named below)
from plugin.config import ConfigError, authentication_enabled, parse_settings
from validators.findings import Action, Severity

BASE = {"UserMetadata": {"SentinelReport": 4801, "SentinelAlert": 4802}, "StorageDirectory": "/data"}


def test_defaults():
    s = parse_settings(BASE)
    assert s.enabled and s.fail_open
    assert s.quarantine_directory == "/data/sentinel-quarantine"
    assert (s.warning_label, s.suspicious_label) == ("sentinel-warning", "sentinel-suspicious")
    assert s.cstore_reject_status == 0xC000
    assert s.scan_processes is None  # one per core
    assert parse_settings({**BASE, "Sentinel": {"ScanProcesses": 0}}).scan_processes == 0


def test_webhook_off_by_default_and_parsed():
    assert parse_settings(BASE).webhook.url == ""
    hook = parse_settings({**BASE, "Sentinel": {"Webhook": {
        "Url": "https://siem.example/hook", "MinimumVerdict": "warning", "Attempts": 2,
        "Headers": {"Authorization": "Bearer x"}}}}).webhook
    assert (hook.url, hook.minimum_verdict, hook.attempts) == ("https://siem.example/hook", "warning", 2)
    assert hook.headers == {"Authorization": "Bearer x"} and hook.queue_size == 1000


def test_rule_override():
    s = parse_settings({**BASE, "Sentinel": {"Rules": {"ingest.preamble-executable": {"Severity": "warning",
                                                                                       "Action": "label"}}}})
    rule = s.policy.rule("ingest.preamble-executable")
    assert (rule.severity, rule.action) == (Severity.WARNING, Action.LABEL)


@pytest.mark.parametrize("section,key", [
    ({"Enabled": 1}, "Sentinel.Enabled"),
    ({"FailOpen": "true"}, "Sentinel.FailOpen"),
    ({"WorkerPollSeconds": True}, "Sentinel.WorkerPollSeconds"),
    ({"WorkerPollSeconds": 0}, "Sentinel.WorkerPollSeconds"),
    ({"MaxObjectBytes": -1}, "Sentinel.MaxObjectBytes"),
    ({"CStoreRejectStatus": 0}, "Sentinel.CStoreRejectStatus"),
    ({"Labels": {"Warning": "a b"}}, "Sentinel.Labels.Warning"),
    ({"Labels": {"Other": "x"}}, "Sentinel.Labels"),
    ({"Webhook": "http://x"}, "Sentinel.Webhook"),
    ({"Webhook": {"Url": "ftp://x"}}, "Sentinel.Webhook.Url"),
    ({"Webhook": {"MinimumVerdict": "pass"}}, "Sentinel.Webhook.MinimumVerdict"),
    ({"Webhook": {"Attempts": 0}}, "Sentinel.Webhook.Attempts"),
    ({"Webhook": {"Headers": {"X": 1}}}, "Sentinel.Webhook.Headers"),
    ({"Webhook": {"Retries": 3}}, "Retries"),
    ({"Rules": []}, "Rules"),
    ({"Rules": {"nope": {}}}, "nope"),
    ({"Rules": {"ingest.preamble-executable": {"Action": "explode"}}}, "explode"),
    ({"QuarantineDirectory": ""}, "Sentinel.QuarantineDirectory"),
    ({"ScanProcesses": -1}, "Sentinel.ScanProcesses"),
    ({"ScanProcesses": 2.0}, "Sentinel.ScanProcesses"),
    ({"Typo": 1}, "Typo"),
    ({"AlertHistoryEntries": 1}, "Sentinel.AlertHistoryEntries"),
    ({"AlertHistoryEntries": "50"}, "Sentinel.AlertHistoryEntries"),
])
def test_bad_values_name_the_key(section, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        parse_settings({**BASE, "Sentinel": section})


def test_missing_user_metadata_is_refused():
    with pytest.raises(ConfigError, match="UserMetadata"):
        parse_settings({"Sentinel": {}})


@pytest.mark.parametrize("config,checked", [
    ({}, False), ({"RemoteAccessAllowed": False}, False),
    ({"RemoteAccessAllowed": True}, True),  # Orthanc turns authentication on for remote access (measured, 1.12.7)
    ({"RemoteAccessAllowed": True, "AuthenticationEnabled": False}, False),
    ({"AuthenticationEnabled": True}, True)])
def test_authentication_follows_orthancs_rule(config, checked):
    assert authentication_enabled(config) is checked
