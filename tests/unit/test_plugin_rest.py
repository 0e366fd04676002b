"""Sentinel's REST routes on fakes: quarantine entries released or deleted by another request (or peer) while a
release is handled. (Download and delete make one call of the quarantine, which answers KeyError if the entry is
gone.)"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time

import pytest

from plugin.index import Index as PluginIndex
from plugin.index import NotFound
from plugin.quarantine import Quarantine
from plugin.rest import HttpError, Response, Router, json_body, quarantine_routes
from plugin.sharedfolder import exclusive_lock, remove_lock
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


def test_a_delete_that_arrives_while_an_entry_is_released_waits_for_the_release_then_leaves_no_file(tmp_path):
    """It was a 409 after the object was stored, and the release's lock file stayed in the folder."""
    deleting: list[threading.Thread] = []
    quarantine: list[Quarantine] = []

    def delete_meanwhile() -> None:
        deleting.append(threading.Thread(target=quarantine[0].delete, args=(entry_id,)))
        deleting[0].start()
        deleting[0].join(0.3)
        assert deleting[0].is_alive(), "the delete did not wait for the release"
    router, q, entry_id = routes(tmp_path, Index(delete_meanwhile))
    quarantine.append(q)
    released = router.resolve("POST", f"/sentinel/quarantine/{entry_id}/release", {})
    assert json.loads(released.body)["released"]["instance"] == "stored-instance"
    deleting[0].join(10)
    assert sorted(os.listdir(tmp_path)) == []


def test_of_two_simultaneous_releases_one_stores_the_object_and_the_other_is_a_409(tmp_path):
    """Both answered 200 (the object was stored once, by luck of Orthanc's own de-duplication)."""
    stored: list[bytes] = []

    def slow_store() -> None:
        stored.append(b"")
        time.sleep(0.3)  # the other release arrives meanwhile
    router, _, entry_id = routes(tmp_path, Index(slow_store))
    answers: list[int | str] = []

    def release() -> None:
        try:
            answers.append(router.resolve("POST", f"/sentinel/quarantine/{entry_id}/release", {}).status)
        except HttpError as e:
            answers.append(f"{e.status} {e}")
    threads = [threading.Thread(target=release) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(stored) == 1
    assert sorted(map(str, answers)) == ["200", f"409 entry {entry_id} was released already as instance stored-instance"]


def test_a_release_of_an_entry_deleted_before_it_leaves_no_lock_file(tmp_path):
    router, quarantine, entry_id = routes(tmp_path)
    quarantine.delete(entry_id)
    with pytest.raises(HttpError) as missing:
        router.resolve("POST", f"/sentinel/quarantine/{entry_id}/release", {})
    assert missing.value.status == 404
    assert os.listdir(tmp_path) == []


def test_a_lock_whose_file_its_holder_removed_is_taken_again_on_the_new_file(tmp_path):
    """A waiter that got the lock of a removed file would hold it beside the next locker of the path."""
    path = str(tmp_path / "entry.lock")
    seen: list[bool] = []

    def wait_for_lock() -> None:
        with exclusive_lock(path):
            seen.append(os.path.exists(path))
    with exclusive_lock(path):
        waiter = threading.Thread(target=wait_for_lock)
        waiter.start()
        time.sleep(0.1)
        remove_lock(path)
    waiter.join(10)
    assert seen == [True]


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


def test_a_part_deleted_while_a_request_reads_a_resource_is_a_404_that_says_so():
    """The 404 named the URI of Sentinel's own call into Orthanc (here /series/s1/instances)."""
    router = Router(FakeOrthanc())

    def deleted_meanwhile(request: dict, level: str, resource_id: str):
        raise NotFound("/series/s1/instances")
    router.add("GET", r"/sentinel/(?P<level>studies)/(?P<resource_id>[^/]+)", deleted_meanwhile)
    with pytest.raises(HttpError) as missing:
        router.resolve("GET", "/sentinel/studies/st1", {})
    assert missing.value.status == 404
    assert str(missing.value) == "part of study st1 was deleted while this request read it; try again"


@pytest.mark.parametrize("limit", ["١٠", "１０", "²"])
def test_a_query_integer_in_other_digits_than_ascii_is_a_400(tmp_path, limit):
    router, _, _ = routes(tmp_path)
    with pytest.raises(HttpError) as refused:
        router.resolve("GET", "/sentinel/quarantine", {"get": {"limit": limit}})
    assert refused.value.status == 400


def test_a_path_or_id_with_a_final_newline_is_no_route_entry_or_resource(tmp_path):
    """"$" matches before a final newline: GET /sentinel/rules%0A answered the rules, and an entry id or an
    Orthanc id with a newline went on to the file system or into Orthanc's API."""
    router, quarantine, entry_id = routes(tmp_path)
    router.add("GET", r"/sentinel/rules", lambda request: Response(200, b"[]"))
    for path in ("/sentinel/rules\n", f"/sentinel/quarantine/{entry_id}\n"):
        with pytest.raises(HttpError) as missing:
            router.resolve("GET", path, {})
        assert missing.value.status == 404
    with pytest.raises(KeyError):
        quarantine.get(entry_id + "\n")
    with pytest.raises(NotFound):
        PluginIndex(FakeOrthanc()).resource("instances", "00000000-00000000-00000000-00000000-00000000\n")
