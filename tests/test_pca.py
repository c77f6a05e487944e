"""The PCA fit: partial moments merged exactly, results equal to scikit-learn's, a model Spark ML saves and loads."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pyspark.ml import PipelineModel
from sklearn.decomposition import PCA as SklearnPCA

from orchard_features.pca import (
    Moments,
    PcaError,
    feature_blocks,
    feature_moments,
    fit_pca,
    merged,
    merged_moments,
    partition_moments,
    project,
)

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


def features_frame(spark, features: np.ndarray, sizes: list[int]):
    """A frame of `path` and `features` whose partitions hold `sizes` rows, in order."""
    rows = [(f"image-{i:04d}.jpg", vector.tolist()) for i, vector in enumerate(features)]
    ends = np.cumsum(sizes)
    chunks = [rows[end - size : end] for size, end in zip(sizes, ends, strict=True)]
    rdd = spark.sparkContext.parallelize(range(len(chunks)), len(chunks)).flatMap(lambda i: chunks[i])
    return spark.createDataFrame(rdd, "path string, features array<float>")


def scatter_of(features: np.ndarray) -> np.ndarray:
    """The reference scatter matrix: numpy's covariance times n - 1."""
    return np.cov(features.astype(np.float64), rowvar=False) * (len(features) - 1)


def projections(frame, model) -> np.ndarray:
    """`project`'s output, in path order."""
    return np.array([row.pca for row in project(frame, model).orderBy("path").collect()])


def assert_equal_up_to_sign(ours: np.ndarray, theirs: np.ndarray) -> None:
    """Equal columns up to the sign of each, within 1e-6 of the largest magnitude."""
    signs = np.sign((ours * theirs).sum(axis=0))
    np.testing.assert_allclose(ours * signs, theirs, rtol=0, atol=1e-6 * np.abs(theirs).max())


def batches_of(features: np.ndarray, size: int) -> list[pd.DataFrame]:
    """`features` as the pandas batches `mapInPandas` gives."""
    return [pd.DataFrame({"features": list(features[i : i + size])}) for i in range(0, len(features), size)]


@pytest.mark.parametrize("offset", [0.0, 1e6])
@pytest.mark.parametrize("sizes", [[300], [0, 1, 150, 2, 147], [1, 1, 298], [299, 0, 1]])
def test_partial_moments_merge_to_the_moments_of_all_rows(sizes, offset):
    features = pooled_features(300).astype(np.float64) + offset  # an offset breaks sums of squares, not this
    ends = np.cumsum(sizes)
    partials = [list(partition_moments(batches_of(features[end - size : end], 64))) for size, end in zip(sizes, ends, strict=True)]
    assert [len(rows) for rows in partials] == [min(size, 1) for size in sizes]  # no row for an empty partition
    total = merged(Moments.decode(row) for rows in partials for frame in rows for row in frame.to_dict("records"))
    assert total.count == 300
    np.testing.assert_allclose(total.mean, features.mean(axis=0), rtol=1e-12)
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


def test_feature_blocks_stack_whole_batches_into_blocks_of_at_least_the_size():
    features = pooled_features(10)
    blocks = list(feature_blocks(batches_of(features, 3) + [pd.DataFrame({"features": []})], rows=5))
    assert [len(block) for block in blocks] == [6, 4]
    assert all(block.dtype == np.float64 for block in blocks)
    np.testing.assert_array_equal(np.concatenate(blocks), features)


@pytest.mark.parametrize(("partials", "fan_in"), [(None, 8), (5, 2), (5, 4)])
def test_moments_from_spark_equal_those_of_all_rows_however_merged(spark, partials, fan_in):
    features = pooled_features(300)
    frame = features_frame(spark, features, [0, 1, 150, 2, 147])
    assert frame.rdd.glom().map(len).collect() == [0, 1, 150, 2, 147]
    moments = feature_moments(frame, partials=partials, fan_in=fan_in)
    assert moments.count == 300
    np.testing.assert_allclose(moments.mean, features.astype(np.float64).mean(axis=0), rtol=1e-12)
    reference = scatter_of(features)
    np.testing.assert_allclose(moments.scatter, reference, rtol=0, atol=1e-9 * np.abs(reference).max())


@pytest.mark.parametrize(("rows", "k"), [(300, 50), (40, 38), (40, 40)])
def test_explained_variance_and_projections_equal_scikit_learn(spark, rows, k):
    features = pooled_features(rows)
    frame = features_frame(spark, features, [rows // 5] * 4 + [rows - 4 * (rows // 5)])
    reference = SklearnPCA(n_components=k, svd_solver="full").fit(features.astype(np.float64))
    fitted = fit_pca(frame, k)
    np.testing.assert_allclose(fitted.explained_variance, reference.explained_variance_ratio_, rtol=0, atol=1e-6)
    assert_equal_up_to_sign(projections(frame, fitted.model), reference.transform(features.astype(np.float64)))


def test_each_component_has_its_largest_loading_positive(spark):
    fitted = fit_pca(features_frame(spark, pooled_features(300), [150, 150]), 20)
    components = fitted.model.stages[-1].pc.toArray()
    assert components.shape == (DIMENSION, 20)
    largest = components[np.abs(components).argmax(axis=0), np.arange(20)]
    assert (largest > 0).all()


def test_the_saved_model_loads_and_projects_new_rows_as_fitted(spark, tmp_path):
    features = pooled_features(300)
    fitted = fit_pca(features_frame(spark, features, [100, 100, 100]), 10).model
    fitted.write().overwrite().save(str(tmp_path / "pca_model"))
    loaded = PipelineModel.load(str(tmp_path / "pca_model"))
    scaler, pca = loaded.stages
    assert (scaler.getInputCol(), scaler.getOutputCol(), scaler.getWithMean(), scaler.getWithStd()) == ("vector", "centred", True, False)
    assert (pca.getInputCol(), pca.getOutputCol(), pca.getK()) == ("centred", "projection", 10)
    new = pooled_features(50, seed=1)
    new_frame = features_frame(spark, new, [25, 25])
    ours = projections(new_frame, loaded)
    np.testing.assert_array_equal(ours, projections(new_frame, fitted))
    reference = SklearnPCA(n_components=10, svd_solver="full").fit(features.astype(np.float64))
    assert_equal_up_to_sign(ours, reference.transform(new.astype(np.float64)))


def test_identical_rows_have_no_variance_to_explain(spark):
    same = np.repeat(pooled_features(1), 3, axis=0)
    with pytest.raises(PcaError, match="no variance to explain"):
        fit_pca(features_frame(spark, same, [2, 1]), 1)
