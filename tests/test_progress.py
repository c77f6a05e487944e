"""Progress output: lines in a log, a filled count on success, the real count on failure."""

from __future__ import annotations

import io
import time

import pytest

from orchard_features.progress import Progress


class FakeAccumulator:
    """Stands for a Spark accumulator: the driver reads `.value`."""

    value = 0


def test_a_log_gets_one_line_per_change_and_the_total_on_success():
    counter, log = FakeAccumulator(), io.StringIO()
    with Progress(stream=log).counting(counter, 10, "featurizing"):
        counter.value = 4
        deadline = time.monotonic() + 30  # the watcher polls every 0.5 s: however slow the machine, until it shows
        while "4/10" not in log.getvalue() and time.monotonic() < deadline:
            time.sleep(0.05)
        counter.value = 9  # one file was empty: never counted by the UDF
    lines = log.getvalue().splitlines()
    assert "featurizing: 4/10 images (40 %)" in lines
    assert lines[-1] == "featurizing: 10/10 images (100 %)"


def test_a_failure_leaves_the_count_where_it_stopped():
    counter, log = FakeAccumulator(), io.StringIO()
    with pytest.raises(RuntimeError), Progress(stream=log).counting(counter, 10, "featurizing"):
        counter.value = 3
        raise RuntimeError("executor lost")
    assert log.getvalue().splitlines()[-1] == "featurizing: 3/10 images (30 %)"


def test_phases_are_timed_and_announced():
    log = io.StringIO()
    progress = Progress(stream=log)
    with progress.phase("pca", "Fitting PCA"):
        time.sleep(0.05)
    assert progress.seconds["pca"] >= 0.05
    assert log.getvalue().splitlines() == ["Fitting PCA...", f"Fitting PCA: done in {progress.seconds['pca']:.1f} s"]
