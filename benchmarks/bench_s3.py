"""Benchmark: the whole job reading its images from S3 at 0 ms and at 100 ms per request, offline.

    python benchmarks/bench_s3.py --images 2000

S3 is moto's server on the loopback (orchard_local/local_s3.py), every request delayed by a WSGI
middleware in front of it; the job is unchanged and finds the endpoint through
`AWS_ENDPOINT_URL_S3`, set before the Spark session starts so that its Python workers inherit it.
The images are generated and uploaded once, at 0 ms; one Spark session and one prepared model
serve every run, each run the whole job (`job.run`: list, read, decode, features, PCA, every
output, success marker) into a local temporary folder.

Fairness on a noisy shared machine: a whole warm-up run at 0 ms first, not counted (a session's
first whole run is slow: 54 images/s against 84-98 for the next four in one trial, and a 200-image
warm-up did not cure it), then the two latencies in the order 0, L, L, 0 (repeated for more
rounds), so that a drift in the machine's speed over the runs weighs on both alike; each
latency's rate is its images over its seconds, all its runs together. The server runs in this
process and costs CPU per request at both latencies alike (S3 itself would not), so 0 ms here is
a little slower than a free S3 would be. Prints images/s per run and per latency, the S3 requests
each run made (and the most in flight at once), and the ratio.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import SparkSession

from orchard_features.cli import spark_session
from orchard_features.job import run
from orchard_features.model import ModelArtifact, load_model
from orchard_features.progress import Progress
from orchard_features.settings import JobSettings
from orchard_local.local_s3 import LocalS3, local_s3, process_environment, upload_folder
from orchard_local.sample_data import generate_dataset

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

BUCKET = "orchard-bench"
PREFIX = "fruits-360"


@dataclass(frozen=True)
class Measured:
    """One timed run of the whole job."""

    latency_ms: float
    images: int
    seconds: float
    feature_stage_seconds: float
    listing_seconds: float
    requests: dict[str, int]
    peak_in_flight: int

    @property
    def rate(self) -> float:
        return self.images / self.seconds


def run_order(latency_ms: float, rounds: int) -> list[float]:
    """The latencies of the timed runs: 0, L, L, 0 for each two rounds (0, L for an odd last one)."""
    order: list[float] = []
    for index in range(rounds):
        order += [0.0, latency_ms] if index % 2 == 0 else [latency_ms, 0.0]
    return order


def timed_run(spark: SparkSession, settings: JobSettings, artifact: ModelArtifact, server: LocalS3,
              latency_ms: float) -> Measured:
    """The whole job once with every S3 request delayed by `latency_ms`; its output removed afterwards."""
    server.latency_seconds = latency_ms / 1000
    server.reset_counts()
    started = time.perf_counter()
    info = run(spark, settings, Progress(enabled=False), artifact=artifact)
    seconds = time.perf_counter() - started
    requests = server.request_counts()
    peak_in_flight = server.peak_in_flight()
    server.latency_seconds = 0
    shutil.rmtree(settings.output, ignore_errors=True)
    timings = info["timings_seconds"]
    return Measured(latency_ms=latency_ms, images=info["counts"]["images_read"], seconds=seconds,
                    feature_stage_seconds=timings["feature_stage"], listing_seconds=timings["listing"],
                    requests=requests, peak_in_flight=peak_in_flight)


def describe(number: int, measured: Measured) -> str:
    """One line for one run."""
    requests = ", ".join(f"{name} {count}" for name, count in sorted(measured.requests.items()))
    return (f"  run {number} at {measured.latency_ms:3.0f} ms: {measured.rate:6.1f} images/s ({measured.images} images "
            f"in {measured.seconds:.1f} s; listing {measured.listing_seconds:.1f} s, feature stage "
            f"{measured.feature_stage_seconds:.1f} s); S3 requests served: {requests or 'none'}, "
            f"at most {measured.peak_in_flight} at once")


def pooled(runs: list[Measured], latency_ms: float) -> tuple[float, float]:
    """Images/s of the whole job, and of its feature stage, over every run at `latency_ms`."""
    chosen = [measured for measured in runs if measured.latency_ms == latency_ms]
    images = sum(measured.images for measured in chosen)
    return (images / sum(measured.seconds for measured in chosen),
            images / sum(measured.feature_stage_seconds for measured in chosen))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--latency-ms", type=float, default=100.0, help="delay of every S3 request (default 100)")
    parser.add_argument("--rounds", type=int, default=2, help="runs per latency, in the order 0, L, L, 0 (default 2)")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=JobSettings.batch_size)
    parser.add_argument("--model-cache", default=JobSettings.model_cache,
                        help="converted models kept between runs (default: the job's own cache)")
    parser.add_argument("--work-dir", default=None, help="where to put the images (default: a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.work_dir) as work, local_s3() as server:
        work_dir = Path(work)
        dataset = generate_dataset(work_dir / PREFIX, images=args.images, problem_files=False)
        started = time.perf_counter()
        upload_folder(server.client(), dataset.root, BUCKET, PREFIX)
        source = f"s3://{BUCKET}/{PREFIX}"
        print(f"{dataset.images} images of 100x100 px in {source} on a local S3 (uploaded in "
              f"{time.perf_counter() - started:.1f} s), {args.image_size} px model input, batch {args.batch_size}, "
              f"{os.cpu_count()} cores")
        os.environ.update(process_environment(server.endpoint_url))  # before the session: its workers inherit it
        settings = JobSettings(inputs=(source,), output=str(work_dir / "output"), run_name="bench-s3", weights="none",
                           image_size=args.image_size, batch_size=args.batch_size, model_cache=args.model_cache)
        spark = spark_session("orchard-bench-s3")
        try:
            artifact = load_model(spark, settings)
            warm_up = timed_run(spark, settings, artifact, server, 0.0)
            print(f"warm-up run at 0 ms, not counted: {warm_up.rate:.1f} images/s")
            order = run_order(args.latency_ms, args.rounds)
            print(f"then runs in the order {', '.join(f'{ms:.0f}' for ms in order)} ms per S3 request:")
            runs = []
            for number, latency_ms in enumerate(order, start=1):
                runs.append(timed_run(spark, settings, artifact, server, latency_ms))
                print(describe(number, runs[-1]), flush=True)
        finally:
            spark.stop()
    base_rate, base_stage = pooled(runs, 0.0)
    slow_rate, slow_stage = pooled(runs, args.latency_ms)
    print(f"at 0 ms per S3 request: {base_rate:.1f} images/s (feature stage {base_stage:.1f} images/s)")
    slow_runs = [measured for measured in runs if measured.latency_ms == args.latency_ms]
    gets = max(measured.requests.get("GetObject", 0) for measured in slow_runs)
    print(f"one after another, a run's {gets} GetObject at {args.latency_ms:.0f} ms would wait "
          f"{gets * args.latency_ms / 1000:.0f} s; its feature stage took at most "
          f"{max(measured.feature_stage_seconds for measured in slow_runs):.1f} s")
    print(f"feature stage with {args.latency_ms:.0f} ms per S3 request: {slow_stage:.1f} images/s, "
          f"{slow_stage / base_stage:.2f} of the same at 0 ms")
    print(f"with {args.latency_ms:.0f} ms per S3 request: {slow_rate:.1f} images/s, "
          f"{slow_rate / base_rate:.2f} of the same job at 0 ms")


if __name__ == "__main__":
    main()
