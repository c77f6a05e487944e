"""The PCA fit: partial moments merged exactly, from the workers' features files; results equal to scikit-learn's;
a model Spark ML saves, loads and applies as the job projects."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from pyspark.ml import PipelineModel
from pyspark.ml.functions import array_to_vector, vector_to_array
from pyspark.sql import functions as F
from sklearn.decomposition import PCA as SklearnPCA

from orchard_features.feature_files import blocks_of, features_table, file_moments, moments_of_files, projections
from orchard_features.feature_store import parquet_bytes
from orchard_features.pca import MOMENTS_SCHEMA, Moments, PcaError, fit_pca, merged, merged_moments, merged_partials
from orchard_features.store_files import create_file

pytestmark = pytest.mark.spark

DIMENSION = 1280


def pooled_features(rows: int, seed: int = 0) -> np.ndarray:
    """Features shaped like pooled post-ReLU activations: nonnegative, some often zero, a mean far
    from zero next to their spread, most of the variance along a few directions."""
    rng = np.random.default_rng(seed)
    base = rng.gamma(2.0, 0.5, DIMENSION)
    directions = rng.normal(size=(6, DIMENSION)) * np.array([[0.5], [0.3], [0.2], [0.12], [0.08], [0.05]])
    latent = rng.normal(size=(rows, len(directions)))
    noise = rng.normal(scale=0.05, size=(rows, DIMENSION))
    return np.maximum(base + latent @ directions + noise, 0).astype(np.float32)


def feature_files(folder, features: np.ndarray, sizes: list[int]) -> list[str]:
    """`features` written as features files of `sizes` rows each, in order (an empty size writes an empty file)."""
    files = []
    for number, (size, end) in enumerate(zip(sizes, np.cumsum(sizes), strict=True)):
        rows = features[end - size : end]
        paths = [f"file:/images/Training/apple/image-{i:04d}.jpg" for i in range(end - size, end)]
        vectors = pa.FixedSizeListArray.from_arrays(rows.ravel(), DIMENSION).cast(pa.list_(pa.float32()))
        files.append(f"{folder}/part-{number:05d}.parquet")
        create_file(files[-1], parquet_bytes(features_table(paths, vectors)))
    return files


def scatter_of(features: np.ndarray) -> np.ndarray:
    """The reference scatter matrix: numpy's covariance times n - 1."""
    return np.cov(features.astype(np.float64), rowvar=False) * (len(features) - 1)


def projected(spark, files: list[str], pca) -> np.ndarray:
    """`projections` of `files`, in path order."""
    return np.array([row.pca for row in projections(spark, files, pca).orderBy("path").collect()])


def transformed(spark, features: np.ndarray, model: PipelineModel) -> np.ndarray:
    """What Spark ML's `transform` of `model` gives for `features`, in order."""
    frame = spark.createDataFrame([(i, row.tolist()) for i, row in enumerate(features)], "i int, features array<float>")
    vectors = frame.withColumn("vector", array_to_vector(F.col("features")))
    result = model.transform(vectors).select("i", vector_to_array(F.col("projection")).alias("pca")).orderBy("i")
    return np.array([row.pca for row in result.collect()])


def assert_equal_up_to_sign(ours: np.ndarray, theirs: np.ndarray) -> None:
    """Equal columns up to the sign of each, within 1e-6 of the largest magnitude."""
    signs = np.sign((ours * theirs).sum(axis=0))
    np.testing.assert_allclose(ours * signs, theirs, rtol=0, atol=1e-6 * np.abs(theirs).max())


@pytest.mark.parametrize("offset", [0.0, 1e6])
@pytest.mark.parametrize("sizes", [[300], [0, 1, 150, 2, 147], [1, 1, 298], [299, 0, 1]])
def test_moments_of_files_merge_to_the_moments_of_all_rows(tmp_path, sizes, offset):
    features = pooled_features(300) + np.float32(offset)  # an offset breaks sums of squares, not this
    files = feature_files(tmp_path, features, sizes)
    partials = [list(moments_of_files([pd.DataFrame({"file": [file]})])) for file in files]
    assert [len(rows) for rows in partials] == [min(size, 1) for size in sizes]  # no row for an empty file
    total = merged(Moments.decode(row) for rows in partials for frame in rows for row in frame.to_dict("records"))
    assert total.count == 300
    np.testing.assert_allclose(total.mean, features.astype(np.float64).mean(axis=0), rtol=1e-12)
    reference = scatter_of(features)
    np.testing.assert_allclose(total.scatter, reference, rtol=0, atol=1e-9 * np.abs(reference).max())


def test_merging_partials_in_a_task_equals_merging_them_on_the_driver():
    features = pooled_features(100).astype(np.float64)
    parts = [Moments.of(features[:1]), Moments.of(features[1:60]), Moments.of(features[60:])]
    rows = pd.DataFrame([part.encode() for part in parts])
    [frame] = merged_moments([rows.iloc[:2], rows.iloc[2:]])
    [row] = frame.to_dict("records")
    np.testing.assert_allclose(Moments.decode(row).scatter, scatter_of(features), rtol=0, atol=1e-9)
    assert list(merged_moments([])) == []


def test_blocks_stack_whole_files_into_float64_blocks_of_at_least_the_size():
    features = pooled_features(10)
    blocks = list(blocks_of([features[:3], features[3:3], features[3:6], features[6:]], rows=5))
    assert [len(block) for block in blocks] == [6, 4]
    assert all(block.dtype == np.float64 for block in blocks)
    np.testing.assert_array_equal(np.concatenate(blocks), features)
    assert list(blocks_of([features[:0]])) == []


@pytest.mark.parametrize(("tasks", "fan_in"), [(2, 8), (5, 2), (5, 4)])
def test_moments_from_spark_equal_those_of_all_rows_however_merged(spark, tmp_path, tasks, fan_in):
    features = pooled_features(300)
    files = feature_files(tmp_path, features, [0, 1, 150, 2, 147])
    frame = spark.createDataFrame([(file,) for file in files], "file string").repartition(tasks)
    moments = merged_partials(frame.mapInPandas(moments_of_files, MOMENTS_SCHEMA), tasks, fan_in=fan_in)
    assert moments.count == 300
    np.testing.assert_allclose(moments.mean, features.astype(np.float64).mean(axis=0), rtol=1e-12)
    reference = scatter_of(features)
    np.testing.assert_allclose(moments.scatter, reference, rtol=0, atol=1e-9 * np.abs(reference).max())
    assert file_moments(spark, files).count == 300


@pytest.mark.parametrize(("rows", "k"), [(300, 50), (40, 38), (40, 40)])
def test_explained_variance_and_projections_equal_scikit_learn(spark, tmp_path, rows, k):
    features = pooled_features(rows)
    files = feature_files(tmp_path, features, [rows // 5] * 4 + [rows - 4 * (rows // 5)])
    reference = SklearnPCA(n_components=k, svd_solver="full").fit(features.astype(np.float64))
    fitted = fit_pca(spark, file_moments(spark, files), k)
    np.testing.assert_allclose(fitted.explained_variance, reference.explained_variance_ratio_, rtol=0, atol=1e-6)
    assert_equal_up_to_sign(projected(spark, files, fitted), reference.transform(features.astype(np.float64)))


def test_each_component_has_its_largest_loading_positive(spark, tmp_path):
    fitted = fit_pca(spark, file_moments(spark, feature_files(tmp_path, pooled_features(300), [150, 150])), 20)
    components = fitted.model.stages[-1].pc.toArray()
    assert components.shape == (DIMENSION, 20)
    np.testing.assert_array_equal(components, fitted.components)
    largest = components[np.abs(components).argmax(axis=0), np.arange(20)]
    assert (largest > 0).all()


def test_the_saved_model_loads_and_projects_new_rows_as_the_job_projects(spark, tmp_path):
    features = pooled_features(300)
    fitted = fit_pca(spark, file_moments(spark, feature_files(tmp_path / "fit", features, [100, 100, 100])), 10)
    fitted.model.write().overwrite().save(str(tmp_path / "pca_model"))
    loaded = PipelineModel.load(str(tmp_path / "pca_model"))
    scaler, pca = loaded.stages
    assert (scaler.getInputCol(), scaler.getOutputCol(), scaler.getWithMean(), scaler.getWithStd()) == ("vector", "centred", True, False)
    assert (pca.getInputCol(), pca.getOutputCol(), pca.getK()) == ("centred", "projection", 10)
    new = pooled_features(50, seed=1)
    by_spark_ml = transformed(spark, new, loaded)
    by_the_job = projected(spark, feature_files(tmp_path / "new", new, [25, 25]), fitted)
    np.testing.assert_allclose(by_the_job, by_spark_ml, rtol=0, atol=1e-9 * np.abs(by_spark_ml).max())
    np.testing.assert_allclose(fitted.project(new), by_spark_ml, rtol=0, atol=1e-9 * np.abs(by_spark_ml).max())
    reference = SklearnPCA(n_components=10, svd_solver="full").fit(features.astype(np.float64))
    assert_equal_up_to_sign(by_the_job, reference.transform(new.astype(np.float64)))


def test_identical_rows_have_no_variance_to_explain(spark, tmp_path):
    same = np.repeat(pooled_features(1), 3, axis=0)
    with pytest.raises(PcaError, match="no variance to explain"):
        fit_pca(spark, file_moments(spark, feature_files(tmp_path, same, [2, 1])), 1)


@pytest.mark.parametrize("sizes", [[], [0, 0]])
def test_no_features_are_refused(spark, tmp_path, sizes):
    with pytest.raises(PcaError, match="no features"):
        fit_pca(spark, file_moments(spark, feature_files(tmp_path, pooled_features(1)[:0], sizes)), 1)
