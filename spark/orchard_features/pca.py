"""PCA of the features with Spark MLlib: centred, so projections equal scikit-learn's up to sign."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import accumulate

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.feature import PCA, StandardScaler
from pyspark.ml.functions import array_to_vector, vector_to_array
from pyspark.sql import DataFrame

from orchard_features.layout import FEATURE_DIMENSION


class PcaError(ValueError):
    """PCA cannot be computed as asked."""


@dataclass(frozen=True)
class PcaResult:
    """A fitted PCA and the share of variance each component explains."""

    model: PipelineModel
    explained_variance: tuple[float, ...]

    @property
    def cumulative_variance(self) -> tuple[float, ...]:
        """Explained variance of the first 1, 2, ..., k components together."""
        return tuple(accumulate(self.explained_variance))


def check_components(k: int, images: int, features: int = FEATURE_DIMENSION) -> None:
    """Raise `PcaError` unless 1 <= k <= min(images, features)."""
    if k < 1:
        raise PcaError(f"pca_components must be at least 1, got {k}")
    if k > features:
        raise PcaError(f"pca_components={k} is more than the {features} features per image")
    if k > images:
        raise PcaError(
            f"pca_components={k} is more than the {images} images featurized: "
            f"use at most {images} components or more images"
        )


def fit_pca(features: DataFrame, k: int) -> PcaResult:
    """Fit centring plus PCA on the `features` array column (check k with `check_components`)."""
    vectors = features.select(array_to_vector("features").alias("vector"))
    pipeline = Pipeline(
        stages=[
            StandardScaler(inputCol="vector", outputCol="centred", withMean=True, withStd=False),
            PCA(inputCol="centred", outputCol="projection", k=k),
        ]
    )
    model = pipeline.fit(vectors)
    variance = tuple(float(share) for share in model.stages[-1].explainedVariance.toArray())
    return PcaResult(model=model, explained_variance=variance)


def project(features: DataFrame, model: PipelineModel) -> DataFrame:
    """Replace the `features` column with its k-dimensional projection, `pca`."""
    vectors = features.withColumn("vector", array_to_vector("features")).drop("features")
    projected = model.transform(vectors)
    return projected.select(
        *[name for name in features.columns if name != "features"],
        vector_to_array("projection").alias("pca"),
    )

