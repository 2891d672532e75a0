"""The same build on a Dask cluster (here a LocalCluster of 2 worker processes) gives the same
bytes as the local build."""

from __future__ import annotations

import json

import pytest

from conftest import build

distributed = pytest.importorskip("distributed")


def test_dask_build_matches_local_build(default_build, tmp_path):
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        on_dask = build(tmp_path / "pdmx_fusa", f"run.scheduler={json.dumps(cluster.scheduler_address)}")
    assert not on_dask.report.failures
    assert (on_dask.out / "SHA256SUMS").read_text() == (default_build.out / "SHA256SUMS").read_text()
