"""The feature job: list and select the images, prepare the model, featurize (reading back what the feature store
holds), fit PCA and write every output, record the run.

Nothing under the output prefix is touched until the features are computed and the number of
PCA components is checked against them, so bad input leaves the previous result whole (the
features are staged meanwhile in a hidden folder of the run's own, removed however the run ends);
the success marker is written last, so a run that fails late leaves none. The feature store is
written as the features are computed, a task at a time: what a failed run computed is kept.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from orchard_contract.errors import OrchardError
from orchard_contract.paths import label_from_path, split_from_path, to_uri
from orchard_contract.run_outputs import (
    ERRORS_OUTPUT,
    FAILED,
    FEATURE_DIMENSION,
    FEATURES,
    FEATURES_OUTPUT,
    FEATURIZED,
    LABEL,
    METADATA_OUTPUT,
    PATH,
    PCA,
    PCA_OUTPUT,
    REASON,
    SPLIT,
    STATUS,
    ddl,
)
from orchard_contract.selection import select_images
from orchard_features import feature_files, feature_store, sources, storage
from orchard_features.feature_store import CONTENT
from orchard_features.features import ERROR, ExtractorSpec, extract_features
from orchard_features.model import MODEL_NAME, ModelArtifact, feature_fingerprint, load_model
from orchard_features.pca import PcaResult, check_components, fit_pca
from orchard_features.progress import Progress
from orchard_features.record import model_info, tally, write_record
from orchard_features.report import write_report
from orchard_features.reuse import stored_results
from orchard_features.settings import JobSettings

CATALOG_SCHEMA = ddl((PATH, LABEL, SPLIT, CONTENT))


class NoImagesError(OrchardError, ValueError):
    """The inputs and selection leave no image to process."""


def run(spark: SparkSession, settings: JobSettings, progress: Progress | None = None,
        artifact: ModelArtifact | None = None) -> dict[str, Any]:
    """Run the whole job and return the run's record (`model_info.json`'s document); `artifact` skips model
    preparation when the caller has done it."""
    progress = progress or Progress()
    started_at = datetime.now(UTC)
    started = time.perf_counter()
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(settings.batch_size))
    spark.conf.set("spark.sql.execution.arrow.pyspark.enabled", "true")

    selected = list_and_select(settings, progress)

    if artifact is None:
        with progress.phase("model", "Preparing the model"):
            artifact = load_model(spark, settings, progress)
    progress.say(f"  {MODEL_NAME}, {artifact.engine}, {artifact.image_size} px, weights: {artifact.describe_weights()}")

    store_folder = (feature_store.model_folder(to_uri(settings.feature_store), feature_fingerprint(artifact))
                    if settings.feature_store else None)
    stored = look_up(settings, store_folder, selected, progress) if store_folder and settings.reuse_features else {}
    staging = feature_files.staging_folder(settings.output)
    storage.delete(spark, staging)  # what a run stopped before its end left
    try:
        results, featurized = featurize(spark, settings, selected, stored, artifact, store_folder, staging, progress)
        try:
            counts = tally(selected, featurized, len(stored))
            progress.say(f"  {counts['images_featurized']} featurized, {counts['images_reused']} reused, "
                         f"{counts['images_failed']} failed")
            check_components(settings.pca_components, counts["images_featurized"] + counts["images_reused"])
            with progress.phase("outputs", "Fitting PCA and writing outputs"):
                info = write_outputs(spark, settings, artifact, results, staging, counts, started_at, progress)
        finally:
            results.unpersist()
    finally:
        storage.delete(spark, staging)
    info["timings_seconds"].update(progress.seconds, total=round(time.perf_counter() - started, 3))
    write_record(spark, settings.output, info)
    return info


def list_and_select(settings: JobSettings, progress: Progress) -> dict[str, str]:
    """The images of the run, each with its content identity: its inputs listed, its selection applied; none, or too
    few for the PCA, is an error."""
    with progress.phase("listing", "Listing images"):
        listed = sources.list_files(settings.inputs)
        selected = {path: listed[path] for path in select_images(list(listed), settings.selection)}
        if not selected:
            raise NoImagesError(
                f"no image selected: {len(listed)} files found under {', '.join(settings.inputs)}, "
                f"none kept by the selection {settings.selection}"
            )
        check_components(settings.pca_components, len(selected))
    progress.say(f"  {len(selected)} images selected of {len(listed)} files found")
    return selected


def look_up(settings: JobSettings, store_folder: str, selected: dict[str, str], progress: Progress) -> dict[str, str]:
    """The selected images the feature store holds for this model, each with the segment to read it from."""
    with progress.phase("feature_store", "Looking up the feature store"):
        stored = feature_store.find_stored(store_folder, selected, settings.max_image_pixels)
    progress.say(f"  {len(stored)} of the {len(selected)} images are in {store_folder}")
    return stored


def catalog_frame(spark: SparkSession, selected: dict[str, str], images_per_partition: int) -> DataFrame:
    """The images' path, label, split (labels come from the path) and content identity, at most
    `images_per_partition` to a partition, in whole waves of a partition for every core: tasks few and
    even, every core busy to the last wave (FULL's 67,692 images on 16 cores: 80 tasks of 846, five whole
    waves, not 67 of 1,010 whose fifth wave keeps 3 cores busy and 13 idle), no shuffle. The cores are
    Spark's default parallelism: in local mode the machine's, on YARN those of every executor registered,
    or 2 if more (`spark.default.parallelism`,
    https://spark.apache.org/docs/3.5.6/configuration.html#execution-behavior)."""
    rows = [(path, label_from_path(path), split_from_path(path), content) for path, content in selected.items()]
    cores = spark.sparkContext.defaultParallelism
    waves = math.ceil(len(rows) / (images_per_partition * cores))
    partitions = max(1, min(len(rows), waves * cores))
    return spark.createDataFrame(spark.sparkContext.parallelize(rows, partitions), CATALOG_SCHEMA)


def featurize(spark: SparkSession, settings: JobSettings, selected: dict[str, str], stored: dict[str, str],
              artifact: ModelArtifact, store_folder: str | None, staging: str,
              progress: Progress) -> tuple[DataFrame, int]:
    """The features of the selected images, computed once and written to files in `staging` (`feature_files`):
    those `stored` (path -> segment) read back from the store, the others read and featurized, then kept in
    `store_folder` when there is one. Returns every image's row without its features (error, size, mode),
    persisted for what follows, and how many were featurized (counted in the same pass)."""
    with progress.phase("features", "Extracting features"):
        new = {path: content for path, content in selected.items() if path not in stored}
        catalog = catalog_frame(spark, new, settings.images_per_partition)
        spec = ExtractorSpec(
            engine=artifact.engine,
            model_file=os.path.basename(artifact.path),
            image_size=artifact.image_size,
            max_image_pixels=settings.max_image_pixels,
            staging_folder=staging,
            store_folder=store_folder,
        )
        done = spark.sparkContext.accumulator(0)
        read = extract_features(catalog, spec, done).select(*catalog.columns, "result.*")
        if stored and store_folder:
            kept = stored_results(spark, store_folder, stored, selected, settings.images_per_partition, staging)
            read = read.unionByName(kept)
        read = read.persist(StorageLevel.MEMORY_AND_DISK)
        try:
            with progress.counting(done, len(new), "  featurizing"), progress.timed("feature_stage"):
                succeeded = read.where(F.col(ERROR.name).isNull()).count()
        except BaseException:
            read.unpersist()
            raise
    return read, succeeded - len(stored)


def write_outputs(spark: SparkSession, settings: JobSettings, artifact: ModelArtifact, results: DataFrame,
                  staging: str, counts: dict[str, int], started_at: datetime, progress: Progress) -> dict[str, Any]:
    """Replace the previous result: the PCA fitted first from the features files in `staging`, on every core (the
    projections, the model and the report wait for it), the files then moved into `features/`, then every other
    output written at once. Returns the run's record for `model_info`.

    Each write is a Spark job of its own (one per output folder); run side by side, their fixed costs
    (planning, task launch, commit) overlap instead of adding up. The projections go first: the report
    waits for them.
    """
    staged = feature_files.feature_files(staging)
    with progress.phase("pca", "  fitting PCA"):
        pca = fit_pca(spark, feature_files.file_moments(spark, staged), settings.pca_components)
    info = model_info(settings, artifact, counts, pca, started_at, progress.seconds)
    storage.clear_outputs(spark, settings.output)
    features = feature_files.move_files(staged, storage.output_location(settings.output, FEATURES_OUTPUT.folder))
    with ThreadPoolExecutor(max_workers=OUTPUT_WRITERS, thread_name_prefix="orchard-write") as pool:
        projected = pool.submit(write_projections, spark, settings, features, pca)
        writes = [pool.submit(save_pca_model, settings, pca), pool.submit(write_metadata, settings, results),
                  pool.submit(write_errors, settings, results)]
        if settings.write_csv:
            writes.append(pool.submit(write_features_csv, spark, settings))
        if settings.write_report:
            writes.append(pool.submit(write_report_to_output, spark, settings.output, info, projected))
        projected.result()
        for finished in writes:
            finished.result()
    return info


def write_features_csv(spark: SparkSession, settings: JobSettings) -> None:
    """`features_csv/`: `features/` as CSV, the 1,280 features in columns of their own."""
    features = storage.read_parquet(spark, settings.output, FEATURES_OUTPUT.folder)
    storage.write_csv(features, settings.output, "features_csv", FEATURES.name, FEATURE_DIMENSION)


def write_metadata(settings: JobSettings, results: DataFrame) -> None:
    """`metadata/`: every image read, its size and mode, featurized or failed."""
    status = F.when(F.col(ERROR.name).isNull(), FEATURIZED).otherwise(FAILED)
    metadata = few_tasks(results).withColumn(STATUS.name, status).select(*METADATA_OUTPUT.names)
    storage.write_parquet(metadata, settings.output, METADATA_OUTPUT.folder)


def write_errors(settings: JobSettings, results: DataFrame) -> None:
    """`errors/`: every image that failed, and why."""
    failed = few_tasks(results).where(F.col(ERROR.name).isNotNull()).withColumnRenamed(ERROR.name, REASON.name)
    storage.write_parquet(failed.select(*ERRORS_OUTPUT.names), settings.output, ERRORS_OUTPUT.folder)


def few_tasks(results: DataFrame) -> DataFrame:
    """`results` in a partition per core at most: their rows are small (about 100 bytes an image), and a task per
    feature-stage partition (24 for 12,000 images) made a file each and took 2.4 s to write them on 2 cores, where
    the other outputs wait for the same cores (measured: docs/performance.md)."""
    return results.coalesce(results.sparkSession.sparkContext.defaultParallelism)


OUTPUT_WRITERS = 6  # the projections, the PCA model, metadata, errors, the features' CSV, the report


def save_pca_model(settings: JobSettings, pca: PcaResult) -> None:
    """The fitted PCA as a Spark ML pipeline model, under `model_info/pca_model`."""
    pca.model.write().overwrite().save(storage.output_location(settings.output, "model_info/pca_model"))


def write_projections(spark: SparkSession, settings: JobSettings, features: list[str],
                      pca: PcaResult) -> list[tuple[str, float, float]]:
    """`pca/` (and its CSV copy), projected from the `features` files; returns a sample of (label, PC1, PC2) read
    back, for the report."""
    projected = feature_files.projections(spark, features, pca)
    storage.write_parquet(projected, settings.output, PCA_OUTPUT.folder, dictionary=False)
    if settings.write_csv:
        written = storage.read_parquet(spark, settings.output, PCA_OUTPUT.folder)
        storage.write_csv(written, settings.output, "pca_csv", PCA.name, settings.pca_components)
    return pca_sample(spark, settings.output)


def pca_sample(spark: SparkSession, output: str, limit: int = 20_000) -> list[tuple[str, float, float]]:
    """(label, PC1, PC2) of up to `limit` images, read back from `pca/`, for the scatter plot."""
    projected = storage.read_parquet(spark, output, PCA_OUTPUT.folder)
    first_two = projected.select(LABEL.name, F.col(PCA.name)[0], F.element_at(PCA.name, 2)).limit(limit).collect()
    return [(label, float(first), float(second or 0.0)) for label, first, second in first_two]


def write_report_to_output(spark: SparkSession, output: str, info: dict[str, Any],
                           sample: Future[list[tuple[str, float, float]]]) -> None:
    """Draw the report locally once the `sample` of projections is there, then copy it under the output prefix."""
    with tempfile.TemporaryDirectory() as scratch:
        folder = os.path.join(scratch, "report")
        write_report(folder, info, sample.result())
        storage.copy_from_local(spark, folder, storage.output_location(output, "report"))
