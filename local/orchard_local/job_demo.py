"""`make run`: the feature job alone, in local Spark, on a generated sample in the Fruits-360 layout (MINI).

Lays out a work folder as a user lays out the input bucket (images under `fruits-360/`, the
manifest under `manifests/`), runs the job locally and prints its closing lines, the report's path
among them. ImageNet weights are used when Keras can download them; offline, the demo says so and uses
random weights, whose features are not meaningful.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from dataclasses import replace
from pathlib import Path

from orchard_features import storage
from orchard_features.cli import spark_session
from orchard_features.closing_lines import closing_lines
from orchard_features.job import run
from orchard_features.model import ModelError, prepare_model
from orchard_features.model_tools import model_tools
from orchard_features.progress import Progress
from orchard_features.settings import JobSettings, add_verbose_flag, parse_arguments, settings_from_arguments
from orchard_local.sample_data import DatasetSummary, generate_dataset


def imagenet_available(image_size: int, engine: str, model_cache: str, progress: Progress,
                       verbose: bool = False) -> bool:
    """Whether ImageNet weights can be had here (Keras downloads them); offline, say plainly what follows."""
    try:
        with progress.phase("model", "Fetching the ImageNet weights and preparing the model"):
            prepare_model("imagenet", image_size, engine, model_cache, model_tools(), verbose)
        return True
    except ModelError as exc:
        progress.say(
            f"\nImageNet weights are not available here: {exc}\n"
            "The demo goes on with RANDOM weights: the pipeline, counts, timings and report are real, "
            "but the features and the PCA do not mean anything about the images.\n"
        )
        return False


def choose_weights(settings: JobSettings, progress: Progress) -> JobSettings:
    """ImageNet weights when they can be had, else random weights."""
    available = imagenet_available(settings.image_size, settings.engine, settings.model_cache, progress,
                                   settings.verbose)
    return replace(settings, weights="imagenet" if available else "none")


def lay_out_sample(work: Path, manifest: str, progress: Progress) -> tuple[DatasetSummary, Path]:
    """Generate the sample and copy the manifest under `work/input` as a user lays out the input bucket
    (`fruits-360/...` and `manifests/`); the sample and the manifest's copy."""
    inputs = work / "input"
    shutil.rmtree(inputs, ignore_errors=True)
    sample = generate_dataset(inputs / "fruits-360")
    copy = inputs / "manifests" / Path(manifest).name
    copy.parent.mkdir(parents=True)
    shutil.copyfile(manifest, copy)
    progress.say(
        f"Sample dataset: {sample.images} synthetic 100x100 JPEGs in {len(sample.classes)} classes under "
        f"{sample.root} ({len(sample.broken)} deliberately broken files, {len(sample.odd)} odd ones to convert)"
    )
    return sample, copy


def demo_arguments(description: str, argv: list[str] | None) -> argparse.Namespace:
    """The demos' command line: the manifest to run, the work folder, --verbose."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--manifest", default="manifests/mini.json", help="manifest to run (default MINI)")
    parser.add_argument("--work-dir", default="build/demo", help="where the sample, the results and the logs go")
    add_verbose_flag(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = demo_arguments(__doc__.splitlines()[0], argv)
    work = Path(args.work_dir).resolve()
    progress = Progress()

    _, manifest = lay_out_sample(work, args.manifest, progress)
    output = work / "output"
    spark = spark_session("orchard-demo", args.verbose)
    try:
        arguments = parse_arguments([str(manifest), "--output", str(output), *(["--verbose"] if args.verbose else [])])
        settings = settings_from_arguments(arguments, lambda uri: storage.read_text(spark, uri))
        settings = choose_weights(settings, progress)
        info = run(spark, settings, progress)
    finally:
        spark.stop()
    print(closing_lines(info, str(output)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
