"""What a finished run leaves under its output prefix, declared once for the job that writes it and the functions
that check it: the folders, the Parquet outputs' columns and the JSON documents with their schemas.

Free of Spark and numpy. A column's type is Spark SQL's name for it, as a DDL schema string writes it. The job
selects these columns and checks each document before writing it; the check-outputs function expects the columns
in every part file, as many rows in each folder as a count of model_info.json says, and checks each document after
reading it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from orchard_contract.json_schemas import document_problems, problems_message

SUCCESS_MARKER = "_SUCCESS"
MODEL_INFO_FILE = "model_info.json"  # under model_info/
OUTPUT_FOLDERS = (
    "features",
    "pca",
    "metadata",
    "model_info",
    "errors",
    "features_csv",
    "pca_csv",
    "report",
)
REPORT_PAGE = "report/index.html"  # the run's HTML report, under its output prefix (orchard_features.report)
FEATURE_DIMENSION = 1280  # MobileNetV2, no top, average pooling


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
    """An output folder of Parquet part files: its columns, and the model_info.json counts its rows add up to."""

    folder: str
    columns: tuple[Column, ...]
    rows_counts: tuple[str, ...]  # fields of model_info.json's counts, whose sum is its rows

    @property
    def names(self) -> list[str]:
        """The column names, in order."""
        return [column.name for column in self.columns]

    def rows(self, counts: Mapping[str, int]) -> int:
        """How many rows it holds, by model_info.json's `counts`."""
        return sum(counts[name] for name in self.rows_counts)


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

WITH_FEATURES = ("images_featurized", "images_reused")  # computed by the run, or read back from the feature store
FEATURES_OUTPUT = ParquetOutput("features", (PATH, LABEL, FEATURES), rows_counts=WITH_FEATURES)
PCA_OUTPUT = ParquetOutput("pca", (PATH, LABEL, PCA), rows_counts=WITH_FEATURES)
METADATA_OUTPUT = ParquetOutput("metadata", (PATH, LABEL, SPLIT, WIDTH, HEIGHT, MODE, STATUS),
                                rows_counts=("images_read",))
ERRORS_OUTPUT = ParquetOutput("errors", (PATH, LABEL, REASON), rows_counts=("images_failed",))
PARQUET_OUTPUTS = (FEATURES_OUTPUT, PCA_OUTPUT, METADATA_OUTPUT, ERRORS_OUTPUT)


class OutputDocumentInvalid(ValueError):
    """A run document is not JSON or breaks its schema (a field missing, of the wrong type, or unexpected); the message
    names the document and every field at fault. Its class name is the error the state machine sees."""


@dataclass(frozen=True)
class RunDocument:
    """One of a run's JSON documents: its key under the output prefix and its schema, `<name>-v<version>`."""

    key: str
    name: str
    version: int

    @property
    def schema(self) -> str:
        """The file of its schema in orchard_contract/schemas."""
        return f"{self.name}-v{self.version}.schema.json"

    def problems(self, document: Any) -> list[str]:
        """Every way `document` breaks the schema, each naming the field by JSON path, in document order."""
        return document_problems(document, self.schema, root="$")

    def invalid(self, problems: list[str]) -> str:
        """The message saying that this document has `problems`."""
        return problems_message(f"{self.key} does not follow {self.schema}", problems)

    def check(self, document: Any) -> None:
        """Raise OutputDocumentInvalid unless `document` follows the schema."""
        if problems := self.problems(document):
            raise OutputDocumentInvalid(self.invalid(problems))


MODEL_INFO_DOCUMENT = RunDocument(key=f"model_info/{MODEL_INFO_FILE}", name="model-info", version=1)
SUCCESS_MARKER_DOCUMENT = RunDocument(key=SUCCESS_MARKER, name="success-marker", version=1)
