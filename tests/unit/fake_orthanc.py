"""A fake of the ``orthanc`` module for adapter unit tests: records registrations and log lines, and
raises on anything it does not know, so that a call the real SDK lacks fails loudly here too."""

from __future__ import annotations

import enum
import json


class InstanceOrigin(enum.IntEnum):
    UNKNOWN = 1
    DICOM_PROTOCOL = 2
    REST_API = 3
    PLUGIN = 4
    LUA = 5
    WEB_DAV = 6


class ReceivedInstanceAction(enum.IntEnum):
    KEEP_AS_IS = 1
    MODIFY = 2
    DISCARD = 3


class ChangeType(enum.IntEnum):
    ORTHANC_STARTED = 10
    ORTHANC_STOPPED = 11


class OrthancException(Exception):
    pass


class FakeOrthanc:
    InstanceOrigin = InstanceOrigin
    ReceivedInstanceAction = ReceivedInstanceAction
    ChangeType = ChangeType
    OrthancException = OrthancException

    def __init__(self, configuration: dict | None = None):
        self.configuration = configuration or {"UserMetadata": {"SentinelReport": 4801, "SentinelAlert": 4802}}
        self.registered: dict[str, object] = {}
        self.logs: list[tuple[str, str]] = []
        self.stored: dict[str, tuple[str, bytes]] = {}  # SOP Instance UID -> (Orthanc id, file)

    def GetConfiguration(self) -> str:
        return json.dumps(self.configuration)

    def LogError(self, message: str) -> None:
        self.logs.append(("error", message))

    def LogWarning(self, message: str) -> None:
        self.logs.append(("warning", message))

    def LookupInstance(self, sop_instance_uid: str) -> str:
        if sop_instance_uid not in self.stored:
            raise OrthancException(17, "Unknown resource")
        return self.stored[sop_instance_uid][0]

    def GetDicomForInstance(self, instance_id: str) -> bytes:
        return next(data for i, data in self.stored.values() if i == instance_id)

    def __getattr__(self, name: str):
        if name.startswith("Register"):
            return lambda *args: self.registered.__setitem__(name, args)
        raise AttributeError(f"FakeOrthanc has no {name}: add it only if the real SDK has it")


class FakeCStoreInstance:
    def __init__(self, data: bytes, aet: str):
        self.data, self.aet = data, aet

    def GetInstanceData(self) -> bytes:
        return self.data

    def GetInstanceRemoteAet(self) -> str:
        return self.aet
