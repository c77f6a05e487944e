"""The built-size check of `make validate`: each function with its layers, against half of Lambda's limit."""

from __future__ import annotations

import os
from pathlib import Path

from orchard_local.lambda_sizes import LIMIT_BYTES, function_sizes, oversized

MB = 2**20
BUILT_TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Layers: [!Ref SharedLayer]
Resources:
  SharedLayer:
    Type: AWS::Serverless::LayerVersion
    Properties: {ContentUri: SharedLayer}
  ExtraLayer:
    Type: AWS::Serverless::LayerVersion
    Properties: {ContentUri: ExtraLayer}
  Small:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: Small, Handler: app.handler}
  Heavy:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: Heavy, Handler: app.handler, Layers: [!Ref ExtraLayer]}
"""


def sized_file(path: Path, size: int) -> None:
    """A file of `size` bytes that takes no room (sparse)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    os.truncate(path, size)


def test_each_function_counts_its_code_and_every_layer_it_uses(tmp_path):
    (tmp_path / "template.yaml").write_text(BUILT_TEMPLATE)
    sized_file(tmp_path / "SharedLayer" / "python" / "powertools.py", 40 * MB)
    sized_file(tmp_path / "ExtraLayer" / "python" / "big.so", 80 * MB)
    sized_file(tmp_path / "Small" / "app.py", 1 * MB)
    sized_file(tmp_path / "Heavy" / "app.py", 10 * MB)
    sized_file(tmp_path / "Heavy" / "lib" / "pyarrow.so", 5 * MB)

    sizes = function_sizes(tmp_path)

    assert sizes == {"Small": 41 * MB, "Heavy": 135 * MB}
    assert oversized(sizes) == ["Heavy: 135.0 MB unzipped with its layers, more than 125 MB (50% of Lambda's 250 MB)"]
    assert oversized(sizes, allowed=LIMIT_BYTES) == []
