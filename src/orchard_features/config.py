"""The job's settings: command-line arguments (and a manifest's `job` block) into a frozen dataclass.

Precedence, per setting: a command-line flag, then the manifest's `job` block, then the default
declared here, once.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from orchard_contract.manifest import DEFAULT_PCA_COMPONENTS, Selection, parse_manifest
from orchard_features.images import DEFAULT_MAX_PIXELS

PROG = "orchard-features"
ENGINES = ("onnxruntime", "tensorflow")
DEFAULT_MODEL_CACHE = os.path.join(os.path.expanduser("~"), ".cache", "orchard", "models")


@dataclass(frozen=True)
class JobConfig:
    """Everything one run of the feature job needs to know."""

    inputs: tuple[str, ...]
    output: str
    selection: Selection = Selection()
    run_name: str = "orchard"
    pca_components: int = DEFAULT_PCA_COMPONENTS
    image_size: int = 224
    weights: str = "imagenet"
    engine: str = "onnxruntime"
    batch_size: int = 64
    write_csv: bool = False
    write_report: bool = True
    max_image_pixels: int = DEFAULT_MAX_PIXELS
    images_per_partition: int = 512
    model_cache: str = DEFAULT_MODEL_CACHE
    model_store: str | None = None


# Settings a manifest's `job` block may set; the names are JobConfig's field names.
MANIFEST_SETTINGS = ("pca_components", "image_size", "weights", "engine", "batch_size", "write_csv")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {text}")
    return value


def argument_parser() -> argparse.ArgumentParser:
    """The command line of the feature job (the same locally and as an EMR step)."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="MobileNetV2 features and their PCA for a folder, S3 prefix or manifest of images.",
    )
    parser.add_argument("input", help="folder or s3:// prefix of images, or a manifest (.json)")
    parser.add_argument("--output", required=True, help="folder or s3:// prefix for the results")
    parser.add_argument("--run-name", help="name recorded with the run (default: the manifest's name)")
    parser.add_argument("--pca-components", "-k", type=_positive,
                        help=f"PCA dimensions (default {DEFAULT_PCA_COMPONENTS})")
    parser.add_argument("--image-size", type=_positive, help="model input size in pixels (default 224)")
    parser.add_argument(
        "--weights", help="imagenet (Keras download), none (random), or a weights file path or s3:// URI"
    )
    parser.add_argument("--engine", choices=ENGINES, help="inference engine (default onnxruntime)")
    parser.add_argument("--batch-size", type=_positive, help="images per inference batch (default 64)")
    parser.add_argument("--csv", dest="write_csv", action="store_true", default=None, help="also write CSV copies")
    parser.add_argument(
        "--no-report", dest="write_report", action="store_false", default=None, help="skip the PNG/HTML report"
    )
    parser.add_argument("--max-image-pixels", type=_positive, help="larger images are listed as failed")
    parser.add_argument(
        "--images-per-partition", type=_positive, help="at most this many images per Spark task (default 512)"
    )
    parser.add_argument("--model-cache", help="local folder caching converted models")
    parser.add_argument(
        "--model-store", help="folder or s3:// prefix keeping converted models between runs and clusters"
    )
    return parser


def parse_arguments(argv: Sequence[str]) -> argparse.Namespace:
    """The command line, checked (argparse exits with a usage message when it is wrong)."""
    return argument_parser().parse_args(argv)


def config_from_arguments(args: argparse.Namespace, read_text: Callable[[str], str]) -> JobConfig:
    """Build the job's settings from parsed arguments; `read_text` reads a manifest's text."""
    from_manifest: dict[str, object] = {}
    if args.input.endswith(".json"):
        manifest = parse_manifest(read_text(args.input), args.input)
        from_manifest = {name: manifest.job[name] for name in MANIFEST_SETTINGS if name in manifest.job}
        from_manifest.update(inputs=manifest.inputs, selection=manifest.selection)
        if manifest.name:
            from_manifest["run_name"] = manifest.name
    else:
        from_manifest["inputs"] = (args.input,)
    flags = {name: value for name, value in vars(args).items() if name != "input" and value is not None}
    return JobConfig(**{**from_manifest, **flags})
