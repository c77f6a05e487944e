"""`make validate`, after `sam build`: each function's unzipped size, its layers included, against Lambda's limit.

Lambda takes at most 250 MB unzipped for a function's deployment package and all its layers (AWS Lambda
Developer Guide, "Lambda quotas": https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
A build above half of that fails here, so that one dependency bump cannot fail a deploy.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from cfnlint.decode import cfn_yaml

LIMIT_BYTES = 250 * 1024 * 1024
MARGIN = 0.5  # what a build may use of the limit


def tree_bytes(folder: Path) -> int:
    """The size of every file below `folder`."""
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file() and not path.is_symlink())


def function_sizes(build: Path) -> dict[str, int]:
    """Each function of a `sam build` output (its template.yaml) and its layers' unzipped size, in bytes."""
    template: dict[str, Any] = cfn_yaml.load(str(build / "template.yaml"))
    resources = template["Resources"]
    global_layers = template.get("Globals", {}).get("Function", {}).get("Layers", [])  # SAM appends a function's own
    layers = {name: tree_bytes(build / resource["Properties"]["ContentUri"])
              for name, resource in resources.items() if resource["Type"] == "AWS::Serverless::LayerVersion"}
    sizes = {}
    for name, resource in resources.items():
        if resource["Type"] == "AWS::Serverless::Function":
            properties = resource["Properties"]
            used = [layer["Ref"] for layer in global_layers + properties.get("Layers", []) if isinstance(layer, dict)]
            sizes[name] = tree_bytes(build / properties["CodeUri"]) + sum(layers[layer] for layer in used)
    return sizes


def oversized(sizes: dict[str, int], allowed: float = MARGIN * LIMIT_BYTES) -> list[str]:
    """A message for each function above `allowed` bytes."""
    return [f"{name}: {size / 2**20:.1f} MB unzipped with its layers, more than {allowed / 2**20:.0f} MB "
            f"({MARGIN:.0%} of Lambda's {LIMIT_BYTES / 2**20:.0f} MB)" for name, size in sorted(sizes.items())
            if size > allowed]


def main(build: str = ".aws-sam/build") -> int:
    sizes = function_sizes(Path(build))
    for name, size in sorted(sizes.items()):
        print(f"{name:<28} {size / 2**20:7.1f} MB unzipped, layers included")
    problems = oversized(sizes)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
