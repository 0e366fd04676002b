"""A series whose stable event never comes (its peer died first) is still analysed, by the sweep."""

from __future__ import annotations

from integration.orthanc_server import OrthancServer
from realfiles import fresh_copy


def test_series_never_stable_is_analysed_by_the_sweep():
    # StableAge of an hour: no StableSeries event during the test, as when the receiving peer died.
    with OrthancServer({"StableAge": 3600, "Sentinel": {"SeriesSweepSeconds": 2}}) as server:
        stored = server.upload(fresh_copy("CT_small.dcm")).json()
        report = server.report("series", stored["ParentSeries"], timeout=30)
        assert report["pending"] is False and report["instances"]["total"] == 1
        assert server.get(f"/series/{stored['ParentSeries']}").json()["IsStable"] is False
