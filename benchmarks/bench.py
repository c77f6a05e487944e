"""Benchmark: the bare engine and the full local Spark job, on the same images, at one or more sizes.

    python benchmarks/bench.py --images 4000 12000

Prints, for each size, images/s for each, the job's feature stage against the bare engine, what the
job spends beyond its feature stage, and the ratio of the job to the bare engine; then a table of
the sizes side by side. The bare engine is ONNX
Runtime on already decoded batches, run as the job runs it: one fresh process per core, one thread
each, all started together, so that neither it nor the job inherits the other's threads and memory.
It is measured right before the job and right after it, and the job is compared with the mean of the
two: this machine's speed drifts by 10-20 % over minutes, and one measurement alone can flatter or
wrong the job. The job's images/s counts from the moment its Spark session and model are ready to its
success marker; its one-time start-up (session, model build and conversion, with an empty model
cache) is printed apart. Random weights are used (ImageNet weights cannot be downloaded offline):
speed is the same.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from multiprocessing.managers import BarrierProxy
from pathlib import Path

import numpy as np

from orchard_features.cli import spark_session
from orchard_features.engines import ENGINE_CLASSES
from orchard_features.images import decode_image, preprocess
from orchard_features.job import run
from orchard_features.model import load_model, prepare_model
from orchard_features.model_tools import model_tools
from orchard_features.progress import Progress
from orchard_features.settings import JobSettings
from orchard_local.sample_data import generate_dataset

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # also for the spawned engine processes

ENGINE = "onnxruntime"
SEED_IMAGES_PER_MINUTE = 814
SEED_VCPUS = 24


def decoded_batches(files: list[Path], size: int, batch_size: int) -> list[np.ndarray]:
    """`files` decoded and preprocessed, in batches."""
    pixels = np.stack([decode_image(path.read_bytes(), size).pixels for path in files])
    return [preprocess(pixels[i : i + batch_size]) for i in range(0, len(pixels), batch_size)]


def decode_rate(folder: Path, size: int) -> float:
    """Images/s of decoding and resizing every image under `folder` on one core."""
    files = sorted(folder.rglob("*.jpg"))
    started = time.perf_counter()
    for path in files:
        decode_image(path.read_bytes(), size)
    return len(files) / (time.perf_counter() - started)


def engine_seconds(engine: str, model_path: str, files: list[Path], size: int, batch_size: int,
                   start: BarrierProxy) -> float:
    """Seconds `engine`, on one thread, takes for `files` (decoded beforehand, after one warm-up
    batch), timed from `start`, which every process of the measurement passes together."""
    batches = decoded_batches(files, size, batch_size)
    runner = ENGINE_CLASSES[engine](model_path, 1)
    runner.predict(batches[0])
    start.wait()
    started = time.perf_counter()
    for batch in batches:
        runner.predict(batch)
    return time.perf_counter() - started


def bare_engine_rate(engine: str, model_path: str, folder: Path, size: int, batch_size: int, cores: int) -> float:
    """Images/s of `engine` alone on every image under `folder`: one fresh process per core, each
    on its share of the images, as the job's tasks run; the slowest process sets the time."""
    files = sorted(folder.rglob("*.jpg"))
    shares = [files[core::cores] for core in range(cores)]
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, ProcessPoolExecutor(max_workers=cores, mp_context=context) as pool:
        start = manager.Barrier(cores)
        runs = [pool.submit(engine_seconds, engine, model_path, share, size, batch_size, start) for share in shares]
        return len(files) / max(run.result() for run in runs)


def overhead(timings: dict[str, float], job_seconds: float) -> dict[str, float]:
    """Where the job's time beyond its feature stage goes, from its recorded phases."""
    outputs = timings["outputs"] - timings.get("pca", 0.0)
    return {
        "listing": timings["listing"],
        "around the feature stage": timings["features"] - timings["feature_stage"],
        "PCA fit": timings.get("pca", 0.0),
        "outputs after it": outputs,
        "the rest (model_info, marker)": job_seconds - timings["listing"] - timings["features"] - timings["outputs"],
    }


def in_fresh_process(function, *args):
    """`function(*args)` in a new Python process, for isolation."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


def measure(images: int, args: argparse.Namespace, work_dir: Path, cores: int) -> dict[str, float]:
    """Measure the bare engine, the job, the bare engine again on `images` images; print and return the figures."""
    dataset = generate_dataset(work_dir / "fruits-360", images=images, problem_files=False)
    print(f"\n{dataset.images} images of 100x100 px, {args.image_size} px model input, "
          f"batch {args.batch_size}, {cores} cores")
    bare_cache = str(work_dir / "bare-model-cache")
    model = in_fresh_process(prepare_model, "none", args.image_size, ENGINE, bare_cache, model_tools())
    print(f"decode + resize (Pillow, 1 core): {in_fresh_process(decode_rate, dataset.root, args.image_size):.0f} "
          "images/s")
    measure_engine = partial(
        bare_engine_rate, ENGINE, model.path, dataset.root, args.image_size, args.batch_size, cores
    )
    engine_before = measure_engine()
    print(f"bare {ENGINE} before the job ({cores} processes, 1 thread each): {engine_before:.1f} images/s")

    settings = JobSettings(
        inputs=(str(dataset.root),),
        output=str(work_dir / "output"),
        run_name="bench",
        weights="none",
        image_size=args.image_size,
        batch_size=args.batch_size,
        model_cache=str(work_dir / "job-model-cache"),
    )
    started = time.perf_counter()
    spark = spark_session("orchard-bench")
    session_seconds = time.perf_counter() - started
    try:
        artifact = load_model(spark, settings)
        startup = time.perf_counter() - started
        print(f"job start-up: {startup:.1f} s (Spark session {session_seconds:.1f} s, "
              f"model build and conversion {startup - session_seconds:.1f} s)")
        job_started = time.perf_counter()
        info = run(spark, settings, Progress(enabled=False), artifact=artifact)
        job_seconds = time.perf_counter() - job_started
    finally:
        spark.stop()
    engine_after = measure_engine()
    engine_rate = (engine_before + engine_after) / 2
    print(f"bare {ENGINE} after the job: {engine_after:.1f} images/s")
    print(f"bare {ENGINE} (the mean of the two, compared with below): {engine_rate:.1f} images/s")
    read = info["counts"]["images_read"]
    job_rate = read / job_seconds
    timings = info["timings_seconds"]
    stage_seconds = timings["feature_stage"]
    stage_rate = read / stage_seconds
    print(f"full local Spark job: {job_rate:.1f} images/s ({read} images in {job_seconds:.1f} s)")
    print(f"feature stage (read, decode, infer): {stage_rate:.1f} images/s, "
          f"{stage_rate / engine_rate:.2f} of the bare engine")
    print(f"overhead beyond the feature stage: {job_seconds - stage_seconds:.1f} s "
          f"({', '.join(f'{name} {seconds:.1f} s' for name, seconds in overhead(timings, job_seconds).items())})")
    print(f"ratio job / bare {ENGINE}: {job_rate / engine_rate:.2f}")
    per_vcpu = job_rate / cores
    seed_per_vcpu = SEED_IMAGES_PER_MINUTE / 60 / SEED_VCPUS
    print(f"per vCPU: {per_vcpu:.1f} images/s, {per_vcpu / seed_per_vcpu:.0f} times the seed's "
          f"{seed_per_vcpu:.2f} ({SEED_IMAGES_PER_MINUTE} images/min on {SEED_VCPUS} vCPU)")
    return {"images": read, "bare": engine_rate, "stage": stage_rate / engine_rate,
            "beyond": job_seconds - stage_seconds, "job": job_rate / engine_rate}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, nargs="+", default=[4000], help="one or more sizes, measured in turn")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=JobSettings.batch_size)
    parser.add_argument("--work-dir", default=None, help="where to put the images (default: a temporary folder)")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    results = []
    for images in args.images:  # each size in a fresh process: its job starts a new JVM, as a run does
        with tempfile.TemporaryDirectory(dir=args.work_dir) as work:
            results.append(in_fresh_process(measure, images, args, Path(work), cores))
    print(f"\n{'images':>8} {'bare images/s':>14} {'stage / bare':>13} {'beyond the stage':>17} {'job / bare':>11}")
    for result in results:
        print(f"{result['images']:>8} {result['bare']:>14.1f} {result['stage']:>13.2f} "
              f"{result['beyond']:>15.1f} s {result['job']:>11.2f}")


if __name__ == "__main__":
    main()
