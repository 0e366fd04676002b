"""The ``"Sentinel"`` section of orthanc.json, parsed once at start-up into :class:`Settings`.

A wrong value raises :class:`ConfigError` whose message names the key and the expected form; the entry
script lets it escape the import, which stops Orthanc (fail fast: an archive filter that silently runs
with a typo'd setting is worse than one that refuses to start).
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field
from typing import Any, Callable

from validators.ingest import Limits
from validators.rules import Policy

from .notify import VERDICT_RANK, WebhookSettings

# User metadata that Sentinel writes; each must be declared in Orthanc's "UserMetadata" (ids 1024-65535).
METADATA = ("SentinelReport", "SentinelAlert")
# Orthanc's label syntax (OrthancFramework ServerToolbox: letters, digits, "_" and "-").
LABEL_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Most worker processes an archive scan may start (ScanProcesses, and "processes" in POST /sentinel/scan).
MAX_SCAN_PROCESSES = 256


class ConfigError(ValueError):
    """A bad value in the "Sentinel" section; the message names ``Sentinel.Key``."""


@dataclass(frozen=True)
class Settings:
    """Sentinel's settings; each field documents its orthanc.json key and default."""

    enabled: bool = True                      # Enabled: false registers nothing but the REST routes.
    fail_open: bool = True                    # FailOpen: keep an instance when Sentinel itself fails.
    quarantine_directory: str = ""            # QuarantineDirectory: default <StorageDirectory>/sentinel-quarantine
    warning_label: str = "sentinel-warning"   # Labels.Warning
    suspicious_label: str = "sentinel-suspicious"  # Labels.Suspicious
    dismissed_label: str = "sentinel-dismissed"    # Labels.Dismissed: alerts dismissed or resolved
    cstore_reject_status: int = 0xC000        # CStoreRejectStatus: DIMSE status for a refused C-STORE.
    numba_cache_directory: str = ""           # NumbaCacheDirectory: default <tmp>/sentinel-numba-cache
    worker_poll_seconds: float = 2.0          # WorkerPollSeconds: how often idle workers read /changes.
    worker_share_under_load: float = 0.1      # WorkerShareUnderLoad: worker's share of time during ingest.
    series_sweep_seconds: float = 300.0       # SeriesSweepSeconds: age of a series never seen stable.
    max_object_bytes: int = 1 << 30           # MaxObjectBytes: largest upload or validated body.
    max_frames: int = 20000                   # MaxFrames: NumberOfFrames accepted at ingest.
    max_decoded_pixel_bytes: int = 2 << 30    # MaxDecodedPixelBytes: pixel bytes once decoded.
    max_findings_per_report: int = 200        # MaxFindingsPerReport: a report keeps the worst N findings.
    alert_history_entries: int = 50           # AlertHistoryEntries: an alert keeps its first and last N-1 changes.
    scan_processes: int | None = None         # ScanProcesses: archive scan's worker processes (None: a core each).
    webhook: WebhookSettings = field(default_factory=WebhookSettings)  # Webhook: see plugin.notify
    policy: Policy = field(default_factory=Policy)

    @property
    def limits(self) -> Limits:
        return Limits(self.max_frames, self.max_decoded_pixel_bytes, self.max_object_bytes)


def _typed(section: dict, key: str, kind: type | tuple, default: Any, form: str,
           valid: Callable[[Any], bool] = lambda v: True) -> Any:
    """Value of ``section[key]``, type-checked; ConfigError naming the key and ``form`` otherwise."""
    if key not in section:
        return default
    value = section[key]
    # bool is an int in Python: refuse true/false where a number is expected.
    if isinstance(value, bool) and kind is not bool or not isinstance(value, kind) or not valid(value):
        raise ConfigError(f"Sentinel.{key} must be {form}, got {value!r}")
    return value


KNOWN_KEYS = {"Enabled", "FailOpen", "QuarantineDirectory", "Labels", "CStoreRejectStatus",
              "NumbaCacheDirectory", "WorkerPollSeconds", "WorkerShareUnderLoad", "SeriesSweepSeconds", "MaxObjectBytes", "MaxFrames", "MaxDecodedPixelBytes", "MaxFindingsPerReport", "AlertHistoryEntries", "ScanProcesses", "Webhook", "Rules"}
WEBHOOK_KEYS = {"Url", "MinimumVerdict", "TimeoutSeconds", "Attempts", "RetryDelaySeconds", "QueueSize", "Headers"}


def authentication_enabled(orthanc_config: dict) -> bool:
    """Whether Orthanc checks HTTP Basic credentials against ``RegisteredUsers``: ``AuthenticationEnabled``,
    or when absent ``RemoteAccessAllowed`` (Orthanc turns authentication on for remote access unless told
    otherwise; measured on 1.12.7: 401 without credentials then, 200 with remote access off)."""
    explicit = orthanc_config.get("AuthenticationEnabled")
    if isinstance(explicit, bool):
        return explicit
    return orthanc_config.get("RemoteAccessAllowed") is True


def _section(orthanc_config: dict) -> dict:
    section = orthanc_config.get("Sentinel", {})
    if not isinstance(section, dict):
        raise ConfigError("Sentinel must be a JSON object")
    return section


def numba_cache_directory(orthanc_config: dict) -> str:
    """``Sentinel.NumbaCacheDirectory``: needed before the rest, since numba reads it at import and the
    rule catalogue (which ``Rules`` is checked against) is complete only once the kernels are imported."""
    return _typed(_section(orthanc_config), "NumbaCacheDirectory", str,
                  os.path.join(tempfile.gettempdir(), "sentinel-numba-cache"), "a writable folder path",
                  lambda v: v.strip() != "")


def parse_webhook(section: dict) -> WebhookSettings:
    """``Sentinel.Webhook``: ``{"Url": "https://...", "MinimumVerdict": "suspicious", ...}``."""
    webhook = _typed(section, "Webhook", dict, {}, "an object {\"Url\": \"https://...\", ...}")
    unknown = set(webhook) - WEBHOOK_KEYS
    if unknown:
        raise ConfigError(f"Sentinel.Webhook has unknown key(s) {sorted(unknown)}; known: {sorted(WEBHOOK_KEYS)}")
    prefixed = {f"Webhook.{k}": v for k, v in webhook.items()}
    headers = _typed(prefixed, "Webhook.Headers", dict, {}, "an object of header names to string values",
                     lambda v: all(isinstance(k, str) and isinstance(x, str) for k, x in v.items()))
    return WebhookSettings(
        url=_typed(prefixed, "Webhook.Url", str, "", "an http:// or https:// URL, or \"\" for none",
                   lambda v: v == "" or v.startswith(("http://", "https://"))),
        minimum_verdict=_typed(prefixed, "Webhook.MinimumVerdict", str, "suspicious",
                               f"one of {', '.join(VERDICT_RANK)}", lambda v: v in VERDICT_RANK),
        timeout_s=float(_typed(prefixed, "Webhook.TimeoutSeconds", (int, float), 5,
                               "a number of seconds between 0.1 and 300", lambda v: 0.1 <= v <= 300)),
        attempts=_typed(prefixed, "Webhook.Attempts", int, 5, "a number of tries between 1 and 100",
                        lambda v: 1 <= v <= 100),
        retry_delay_s=float(_typed(prefixed, "Webhook.RetryDelaySeconds", (int, float), 1,
                                   "a number of seconds between 0 and 3600", lambda v: 0 <= v <= 3600)),
        queue_size=_typed(prefixed, "Webhook.QueueSize", int, 1000, "a number between 1 and 1000000",
                          lambda v: 1 <= v <= 1_000_000),
        headers=headers,
    )


def parse_settings(orthanc_config: dict) -> Settings:
    """Settings from Orthanc's whole configuration (the JSON of ``orthanc.GetConfiguration()``).

    Also checks that Orthanc declares Sentinel's user metadata, without which no report can be stored.
    """
    section = _section(orthanc_config)
    unknown = set(section) - KNOWN_KEYS
    if unknown:
        raise ConfigError(f"Sentinel has unknown key(s) {sorted(unknown)}; known: {sorted(KNOWN_KEYS)}")

    declared = orthanc_config.get("UserMetadata", {})
    missing = [m for m in METADATA if not isinstance(declared, dict) or m not in declared]
    if missing:
        raise ConfigError(f"UserMetadata must declare {missing} (e.g. \"SentinelReport\": 4801, "
                          f"\"SentinelAlert\": 4802), so that Sentinel can store its reports")

    labels = _typed(section, "Labels", dict, {}, 'an object {"Warning": "...", "Suspicious": "...", "Dismissed": "..."}')
    if set(labels) - {"Warning", "Suspicious", "Dismissed"}:
        raise ConfigError(f"Sentinel.Labels accepts only Warning, Suspicious and Dismissed, got {sorted(labels)}")
    for key, value in labels.items():
        if not isinstance(value, str) or not LABEL_PATTERN.match(value):
            raise ConfigError(f"Sentinel.Labels.{key} must be 1-64 letters, digits, '_' or '-', got {value!r}")

    storage = orthanc_config.get("StorageDirectory", "OrthancStorage")
    try:
        policy = Policy.from_config(section.get("Rules"))
    except ValueError as e:
        raise ConfigError(f"Sentinel.{e}") from None
    return Settings(
        enabled=_typed(section, "Enabled", bool, True, "true or false"),
        fail_open=_typed(section, "FailOpen", bool, True, "true or false"),
        quarantine_directory=_typed(section, "QuarantineDirectory", str,
                                    os.path.join(storage, "sentinel-quarantine"), "a folder path",
                                    lambda v: v.strip() != ""),
        warning_label=labels.get("Warning", "sentinel-warning"),
        suspicious_label=labels.get("Suspicious", "sentinel-suspicious"),
        dismissed_label=labels.get("Dismissed", "sentinel-dismissed"),
        cstore_reject_status=_typed(section, "CStoreRejectStatus", int, 0xC000,
                                    "a DIMSE failure status (e.g. 42752 for 0xA700, 49152 for 0xC000)",
                                    lambda v: v in (0xA700, 0xA900) or 0xA701 <= v <= 0xA7FF
                                    or 0xC000 <= v <= 0xCFFF),
        numba_cache_directory=numba_cache_directory(orthanc_config),
        worker_poll_seconds=float(_typed(section, "WorkerPollSeconds", (int, float), 2.0,
                                         "a number of seconds between 0.1 and 3600",
                                         lambda v: 0.1 <= v <= 3600)),
        worker_share_under_load=float(_typed(section, "WorkerShareUnderLoad", (int, float), 0.1,
                                             "a fraction greater than 0 and at most 1",
                                             lambda v: 0 < v <= 1)),
        series_sweep_seconds=float(_typed(section, "SeriesSweepSeconds", (int, float), 300,
                                          "a number of seconds, at least 1 (more than Orthanc's StableAge)",
                                          lambda v: v >= 1)),
        max_object_bytes=_typed(section, "MaxObjectBytes", int, 1 << 30,
                                 "a positive number of bytes", lambda v: v > 0),
        max_frames=_typed(section, "MaxFrames", int, 20000, "a positive number of frames", lambda v: v > 0),
        max_decoded_pixel_bytes=_typed(section, "MaxDecodedPixelBytes", int, 2 << 30, "a positive number of bytes",
                                       lambda v: v > 0),
        max_findings_per_report=_typed(section, "MaxFindingsPerReport", int, 200,
                                       "a number of findings between 1 and 10000", lambda v: 1 <= v <= 10000),
        alert_history_entries=_typed(section, "AlertHistoryEntries", int, 50,
                                     "a number of history entries between 2 and 10000", lambda v: 2 <= v <= 10000),
        scan_processes=_typed(section, "ScanProcesses", int, None,
                              f"a number of worker processes between 0 (none: the scan's own thread) and "
                              f"{MAX_SCAN_PROCESSES}", lambda v: 0 <= v <= MAX_SCAN_PROCESSES),
        webhook=parse_webhook(section),
        policy=policy,
    )
