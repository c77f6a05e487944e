"""Benchmark: re-runs with the feature store, and the store's index read at a million images.

    python benchmarks/bench_reuse.py --images 4000

One Spark session and one prepared model serve the runs of the whole job (list, look up, featurize or read back,
PCA, every output, success marker) on the same generated images, each timed from its start to its success marker,
in this order: a warm-up run without a store, not counted (a session's first run pays for the JVM's first pass over
the code: 38 s against 24 s for the next one in one trial); a run without a store; a first run with an empty store
(it fills it); the same images again (everything reused); and the same images with new ones making 10 % of the
run. Prints each run's time and where it went, the second run's time as a ratio of the first's (the store's target:
at most 0.3), and the run with new images against the first.

Then a store of `--index-images` images (a million by default) in segments as large as tasks of the default size
write them, and the time to read its index (every commit: the images' identity columns) and to look a run of that
many images up in it. The index read opens no segment, so only the commits are written.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow as pa

from orchard_contract.paths import file_uri
from orchard_features import feature_store
from orchard_features.cli import spark_session
from orchard_features.feature_store import INDEX_COLUMNS, arrow_schema, commit_location, new_segment_id
from orchard_features.job import run
from orchard_features.model import load_model
from orchard_features.progress import Progress
from orchard_features.settings import JobSettings
from orchard_features.sources import list_files
from orchard_features.store_files import create_file
from orchard_local.sample_data import FRUITS, generate_dataset

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

TARGET_RATIO = 0.3
NEW_SHARE = 0.1  # of the third run's images
SEGMENT_IMAGES = JobSettings.images_per_partition  # a task's images, so a segment's, at the default


def timed_run(spark: Any, settings: JobSettings, artifact: Any) -> tuple[dict[str, Any], float]:
    """The whole job once: its record and its seconds."""
    started = time.perf_counter()
    info = run(spark, settings, Progress(enabled=False), artifact=artifact)
    return info, time.perf_counter() - started


def describe(name: str, info: dict[str, Any], seconds: float) -> str:
    """One run's line: its counts and time, and where the time went."""
    counts, timings = info["counts"], info["timings_seconds"]
    phases = {
        "listing": timings["listing"],
        "store look-up": timings.get("feature_store", 0.0),
        "features (computed or read back)": timings["features"],
        "PCA fit": timings["pca"],
        "outputs after it": timings["outputs"] - timings["pca"],
    }
    return (f"{name}: {counts['images_featurized']} featurized, {counts['images_reused']} reused, "
            f"{counts['images_read']} read in {seconds:.1f} s "
            f"({', '.join(f'{phase} {phase_seconds:.1f} s' for phase, phase_seconds in phases.items())})")


def identity_costs(root: Path) -> str:
    """What the local content identity costs against a hash of the content, for every image under `root`."""
    started = time.perf_counter()
    listed = list_files([str(root)])
    listing = time.perf_counter() - started
    started = time.perf_counter()
    for path in listed:
        hashlib.sha256(Path(path.removeprefix("file:")).read_bytes()).digest()
    hashing = time.perf_counter() - started
    return (f"content identity of {len(listed)} files: listed with their size and mtime in {listing:.2f} s; "
            f"SHA-256 of their bytes {hashing:.2f} s more (from the page cache)")


def add_new_images(root: Path, scratch: Path, count: int) -> None:
    """`count` new images in the dataset under `root`: other pictures, under names it does not hold yet."""
    extra = generate_dataset(scratch, images=count, seed=1, problem_files=False)
    for image in sorted(extra.root.rglob("*.jpg")):
        relative = image.relative_to(extra.root)
        image.rename(root / relative.parent / f"new_{relative.name}")
    shutil.rmtree(scratch)


def write_index(folder: str, images: int, threads: int = 16) -> int:
    """The commits of a store holding `images` images, in segments of SEGMENT_IMAGES; returns how many."""
    classes = list(FRUITS)
    schema = arrow_schema(INDEX_COLUMNS)

    def commit(first: int) -> None:
        numbers = range(first, min(first + SEGMENT_IMAGES, images))
        rows = pa.table({
            "path": [f"s3://inputs/fruits-360/Training/{classes[n % len(classes)]}/{n}_100.jpg" for n in numbers],
            "content": [f'etag="{n:032x}" size={4000 + n % 1000}' for n in numbers],
            "width": [100] * len(numbers), "height": [100] * len(numbers),
        }, schema=schema)
        create_file(commit_location(folder, new_segment_id()), feature_store.parquet_bytes(rows))

    starts = range(0, images, SEGMENT_IMAGES)
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(commit, starts))
    return len(starts)


def measure_index(work_dir: Path, images: int) -> None:
    """Write a store of `images` images' commits, then time reading its index and looking every image up."""
    folder = feature_store.model_folder(file_uri(str(work_dir / "store-1m")), "0" * 24)
    commits = write_index(folder, images)
    started = time.perf_counter()
    index = feature_store.read_index(folder, feature_store.committed_segments(folder))
    read_seconds = time.perf_counter() - started
    wanted = dict(zip(index["path"].to_pylist(), index["content"].to_pylist(), strict=True))
    started = time.perf_counter()
    found = feature_store.find_stored(folder, wanted, JobSettings.max_image_pixels)
    lookup_seconds = time.perf_counter() - started
    assert len(found) == images, (len(found), images)
    print(f"index of a store of {index.num_rows:,} images ({commits} commits, "
          f"{sum(p.stat().st_size for p in Path(folder.removeprefix('file:'), 'commits').iterdir()) / 1e6:.0f} MB): "
          f"read in {read_seconds:.2f} s; a run of {len(wanted):,} images looked up in it (list, read, join) "
          f"in {lookup_seconds:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4000)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--index-images", type=int, default=1_000_000)
    parser.add_argument("--work-dir", default=None, help="where to put the images (default: a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.work_dir) as work:
        work_dir = Path(work)
        dataset = generate_dataset(work_dir / "fruits-360", images=args.images, problem_files=False)
        new = round(args.images * NEW_SHARE / (1 - NEW_SHARE))
        print(f"{dataset.images} images of 100x100 px, {args.image_size} px model input, {os.cpu_count()} cores")
        print(identity_costs(dataset.root))
        settings = JobSettings(inputs=(str(dataset.root),), output=str(work_dir / "output"), run_name="bench",
                               weights="none", image_size=args.image_size, model_cache=str(work_dir / "models"))
        stored = replace(settings, feature_store=str(work_dir / "store"))
        spark = spark_session("orchard-bench-reuse")
        try:
            artifact = load_model(spark, settings)
            timed_run(spark, settings, artifact)  # the warm-up
            plain, plain_seconds = timed_run(spark, settings, artifact)
            first, first_seconds = timed_run(spark, stored, artifact)
            second, second_seconds = timed_run(spark, stored, artifact)
            add_new_images(dataset.root, work_dir / "new", new)
            third, third_seconds = timed_run(spark, stored, artifact)
        finally:
            spark.stop()
        print(describe("run without a feature store", plain, plain_seconds))
        print(describe("first run, empty store", first, first_seconds)
              + f": {first_seconds / plain_seconds:.2f} of the run without a store")
        print(describe("second run, the same images", second, second_seconds))
        ratio = second_seconds / first_seconds
        print(f"second run / first run: {ratio:.2f} (target: at most {TARGET_RATIO}"
              f"{', met' if ratio <= TARGET_RATIO else ', NOT met'})")
        share = third["counts"]["images_featurized"] / third["counts"]["images_read"]
        print(describe(f"run with {100 * share:.0f} % new images", third, third_seconds)
              + f": {third_seconds / first_seconds:.2f} of the first run, for "
                f"{third['counts']['images_read'] / first['counts']['images_read']:.2f} times its images")
        measure_index(work_dir, args.index_images)


if __name__ == "__main__":
    main()
