"""The job's Parquet outputs: each folder's columns, in order, declared once.

The job selects these columns; the check-outputs Lambda expects them in every part file, and as many rows in each
folder as a count of model_info.json says; the tests' fake outputs write them. A type is Spark SQL's name for it, as
a DDL schema string writes it, so that nothing here needs Spark.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    """A column of an output: its name and its Spark SQL type (string, int, array<float>...)."""

    name: str
    type: str

    @property
    def is_array(self) -> bool:
        """Whether the column holds a vector (a Parquet list)."""
        return self.type.startswith("array<")


@dataclass(frozen=True)
class ParquetOutput:
    """An output folder of Parquet part files: its columns, and the model_info.json count its rows add up to."""

    folder: str
    columns: tuple[Column, ...]
    rows_count: str  # a field of model_info.json's counts

    @property
    def names(self) -> list[str]:
        """The column names, in order."""
        return [column.name for column in self.columns]


def ddl(columns: Iterable[Column]) -> str:
    """The Spark DDL schema string of `columns`, e.g. "path string, label string"."""
    return ", ".join(f"{column.name} {column.type}" for column in columns)


PATH = Column("path", "string")  # the image's URI or path
LABEL = Column("label", "string")  # its class: the name of its folder
SPLIT = Column("split", "string")  # Training, Test...: the folder above the class
FEATURES = Column("features", "array<float>")  # the 1,280 MobileNetV2 features
PCA = Column("pca", "array<double>")  # the projection on the k principal components
WIDTH = Column("width", "int")  # null when the image could not be read
HEIGHT = Column("height", "int")
MODE = Column("mode", "string")  # Pillow's image mode before conversion to RGB: RGB, L, CMYK...
STATUS = Column("status", "string")  # FEATURIZED or FAILED
REASON = Column("reason", "string")  # why the image failed
FEATURIZED, FAILED = "featurized", "failed"

FEATURES_OUTPUT = ParquetOutput("features", (PATH, LABEL, FEATURES), rows_count="images_featurized")
PCA_OUTPUT = ParquetOutput("pca", (PATH, LABEL, PCA), rows_count="images_featurized")
METADATA_OUTPUT = ParquetOutput("metadata", (PATH, LABEL, SPLIT, WIDTH, HEIGHT, MODE, STATUS), rows_count="images_read")
ERRORS_OUTPUT = ParquetOutput("errors", (PATH, LABEL, REASON), rows_count="images_failed")
PARQUET_OUTPUTS = (FEATURES_OUTPUT, PCA_OUTPUT, METADATA_OUTPUT, ERRORS_OUTPUT)
