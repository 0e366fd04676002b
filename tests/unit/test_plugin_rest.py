"""Sentinel's REST routes on fakes: quarantine entries deleted by another request (or peer) while a release is
handled. (Download and delete make one call of the quarantine, which answers KeyError if the entry is gone.)"""

from __future__ import annotations

import contextlib
import json

import pytest

from plugin.quarantine import Quarantine
from plugin.rest import HttpError, Router, json_body, quarantine_routes
from unit.fake_orthanc import FakeOrthanc

FINDING = {"rule": "ingest.preamble-executable", "severity": "critical", "action": "reject", "message": "PE"}


class Gate:
    def release(self, data: bytes) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()


class Index:
    """Stores an object while another request deletes its quarantine entry (``during_store``)."""

    def __init__(self, during_store=lambda: None):
        self.during_store = during_store

    def store(self, data: bytes) -> str:
        self.during_store()
        return "stored-instance"


def routes(tmp_path, index: Index | None = None) -> tuple[Router, Quarantine, str]:
    quarantine = Quarantine(str(tmp_path))
    entry_id = quarantine.put(b"DICM object", [FINDING], "REST_API", {})
    router = Router(FakeOrthanc())
    quarantine_routes(router, quarantine, Gate(), index or Index())
    return router, quarantine, entry_id


def test_an_entry_deleted_while_it_is_released_is_a_409_that_names_the_stored_instance(tmp_path):
    quarantine: list[Quarantine] = []
    index = Index(lambda: quarantine[0].delete(entry_id))
    router, q, entry_id = routes(tmp_path, index)
    quarantine.append(q)
    with pytest.raises(HttpError) as refused:
        router.resolve("POST", f"/sentinel/quarantine/{entry_id}/release", {})
    assert refused.value.status == 409
    assert "deleted while it was released" in str(refused.value) and "stored-instance" in str(refused.value)


def test_an_entry_deleted_after_its_release_looked_it_up_is_a_404(tmp_path, monkeypatch):
    router, quarantine, entry_id = routes(tmp_path)
    looked_up = quarantine.get

    def get_then_deleted(entry: str) -> dict:  # another request deletes it just after this one looked
        record = looked_up(entry)
        for name in (f"{entry}.dcm", f"{entry}.json"):
            (tmp_path / name).unlink(missing_ok=True)
        return record
    monkeypatch.setattr(quarantine, "get", get_then_deleted)
    with pytest.raises(HttpError) as missing:
        router.resolve("POST", f"/sentinel/quarantine/{entry_id}/release", {})
    assert missing.value.status == 404 and f"no quarantine entry {entry_id}" in str(missing.value)


@pytest.mark.parametrize("body", [b"[" * 5000, b'{"a": ' * 5000, ("[" * 5000).encode("utf-16")])
def test_a_body_nested_deeper_than_a_thread_stack_is_a_400(body):
    with pytest.raises(HttpError) as refused:
        json_body({"body": body})
    assert refused.value.status == 400 and "nests too deep" in str(refused.value)


def test_bodies_with_many_brackets_decode_as_json_does():
    many = {"comment": "[{" * 100, "studies": [[] for _ in range(100)], "o": {"a": {"b": [1, {"c": None}]}}}
    assert json_body({"body": json.dumps(many).encode()}) == many
    assert json_body({"body": json.dumps(many).encode("utf-16")}) == many
