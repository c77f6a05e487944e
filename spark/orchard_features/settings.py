"""The job's settings: command-line arguments (and a manifest's `job` block) into a frozen dataclass.

Precedence, per setting: a command-line flag, then the manifest's `job` block, then the default. The settings both
accept take their rules and defaults from the manifest schema (`orchard_contract.manifest`), so a value either
refuses is refused by the other in the same words; the rest are the command line's alone, their defaults declared
here, once.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from orchard_contract.manifest import (
    FALLBACK_RUN_NAME,
    job_setting_default,
    job_setting_schemas,
    parse_manifest,
    run_name_for,
    value_problems,
)
from orchard_contract.selection import Selection
from orchard_features.images import DEFAULT_MAX_PIXELS

PROG = "orchard-features"
DEFAULT_MODEL_CACHE = os.path.join(os.path.expanduser("~"), ".cache", "orchard", "models")
POSITIVE_INTEGER = {"type": "integer", "minimum": 1}  # the rule of the counts only the command line sets


@dataclass(frozen=True)
class JobSettings:
    """Everything one run of the feature job needs to know."""

    inputs: tuple[str, ...]
    output: str
    selection: Selection = Selection()
    run_name: str = FALLBACK_RUN_NAME
    pca_components: int = job_setting_default("pca_components")
    image_size: int = job_setting_default("image_size")
    weights: str = job_setting_default("weights")
    engine: str = job_setting_default("engine")
    batch_size: int = job_setting_default("batch_size")
    write_csv: bool = job_setting_default("write_csv")
    reuse_features: bool = job_setting_default("reuse_features")
    write_report: bool = True
    max_image_pixels: int = DEFAULT_MAX_PIXELS
    # A task's fixed cost (measured about 0.1-0.2 s: the Python worker's set-up, its read-ahead filling, its features
    # file) against its images: 1,024 took 12,000 images 3 % faster than 512 (docs/performance.md).
    images_per_partition: int = 1024
    model_cache: str = DEFAULT_MODEL_CACHE
    model_store: str | None = None
    model_tools: str | None = None
    feature_store: str | None = None
    verbose: bool = False


def integer_or_text(text: str) -> int | str:
    """`text` as an integer, else the text itself, which a schema wanting an integer refuses in its own words."""
    try:
        return int(text)
    except ValueError:
        return text


def checked_by(schema: dict[str, Any]) -> Callable[[str], Any]:
    """An argparse type for values ruled by `schema`: the text (an integer where the schema wants one), refused
    with the schema's words when it breaks the schema."""

    def value(text: str) -> Any:
        parsed = integer_or_text(text) if schema.get("type") == "integer" else text
        if problems := value_problems(schema, parsed):
            raise argparse.ArgumentTypeError("; ".join(problems))
        return parsed

    return value


def argument_parser() -> argparse.ArgumentParser:
    """The command line of the feature job (the same locally and as an EMR step)."""
    shared = job_setting_schemas()
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="MobileNetV2 features and their PCA for a folder, S3 prefix or manifest of images.",
    )
    parser.add_argument("input", help="folder or s3:// prefix of images, or a manifest (.json)")
    parser.add_argument("--output", required=True, help="folder or s3:// prefix for the results")
    parser.add_argument("--run-name", help="name recorded with the run (default: the manifest's name)")
    parser.add_argument("--pca-components", "-k", type=checked_by(shared["pca_components"]),
                        help=f"PCA dimensions (default {JobSettings.pca_components})")
    parser.add_argument("--image-size", type=checked_by(shared["image_size"]),
                        help=f"model input size in pixels (default {JobSettings.image_size})")
    parser.add_argument(
        "--weights", type=checked_by(shared["weights"]),
        help="imagenet (Keras download), none (random), or a weights file path or s3:// URI",
    )
    engines = "{" + ",".join(shared["engine"]["enum"]) + "}"  # as argparse shows choices
    parser.add_argument("--engine", type=checked_by(shared["engine"]), metavar=engines,
                        help=f"inference engine (default {JobSettings.engine})")
    parser.add_argument("--batch-size", type=checked_by(shared["batch_size"]),
                        help=f"images per inference batch (default {JobSettings.batch_size})")
    parser.add_argument("--csv", dest="write_csv", action="store_true", default=None, help="also write CSV copies")
    parser.add_argument(
        "--no-reuse", dest="reuse_features", action="store_false", default=None,
        help="featurize every image, reusing none from the feature store (which still keeps what this run computes)",
    )
    parser.add_argument(
        "--no-report", dest="write_report", action="store_false", default=None, help="skip the PNG/HTML report"
    )
    parser.add_argument("--max-image-pixels", type=checked_by(POSITIVE_INTEGER),
                        help="larger images are listed as failed")
    parser.add_argument("--images-per-partition", type=checked_by(POSITIVE_INTEGER),
                        help=f"at most this many images per Spark task (default {JobSettings.images_per_partition})")
    parser.add_argument("--model-cache", help="local folder caching converted models")
    parser.add_argument(
        "--model-store", help="folder or s3:// prefix keeping converted models between runs and clusters"
    )
    parser.add_argument(
        "--model-tools",
        help="where the EMR bootstrap action staged the model tools' installer, pins and constraints (the primary "
             "node): the job installs the tools from there if it must build the model; locally, they are installed",
    )
    parser.add_argument(
        "--feature-store",
        help="folder or s3:// prefix keeping every image's features between runs: a run featurizes only the images "
             "it does not hold for this model",
    )
    add_verbose_flag(parser)
    return parser


def add_verbose_flag(parser: argparse.ArgumentParser) -> None:
    """`--verbose`, for the job's command line and the demos': every library's own logs shown, as by default."""
    parser.add_argument(
        "--verbose", action="store_true", help="also show the libraries' own logs (Spark, TensorFlow, absl, Keras)"
    )


def parse_arguments(argv: Sequence[str]) -> argparse.Namespace:
    """The command line, checked (argparse exits with a usage message when it is wrong)."""
    return argument_parser().parse_args(argv)


def settings_from_arguments(args: argparse.Namespace, read_text: Callable[[str], str]) -> JobSettings:
    """Build the job's settings from parsed arguments; `read_text` reads a manifest's text."""
    from_manifest: dict[str, object] = {}
    if args.input.endswith(".json"):
        manifest = parse_manifest(read_text(args.input), args.input)
        from_manifest = {**manifest.job, "inputs": manifest.inputs, "selection": manifest.selection}
        from_manifest["run_name"] = run_name_for(manifest.name, args.input)
    else:
        from_manifest["inputs"] = (args.input,)
    flags = {name: value for name, value in vars(args).items() if name != "input" and value is not None}
    return JobSettings(**{**from_manifest, **flags})
