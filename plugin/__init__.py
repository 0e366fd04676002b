"""Sentinel's Orthanc adapter: callbacks, REST routes, labels, metadata, configuration, workers."""
