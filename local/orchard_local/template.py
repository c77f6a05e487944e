"""template.yaml and statemachine/ as the tests read them: resources, substitutions, the rendered definition."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from cfnlint.decode import cfn_yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
DEFINITION = ROOT / "statemachine" / "pipeline.asl.json"
LAMBDAS = ROOT / "lambdas"
LAYER_PACKAGES_FILE = LAMBDAS / "shared" / "packages.txt"  # the folders lambdas/shared/Makefile puts in the layer
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


@cache
def template() -> dict[str, Any]:
    """template.yaml with its intrinsic functions as CloudFormation's JSON form ({"Ref": ...})."""
    return cfn_yaml.load(str(TEMPLATE))


def resources(kind: str | None = None) -> dict[str, dict[str, Any]]:
    """The template's resources, of one type when `kind` is given."""
    return {name: r for name, r in template()["Resources"].items() if kind is None or r["Type"] == kind}


def functions() -> dict[str, dict[str, Any]]:
    return resources("AWS::Serverless::Function")


def state_machine() -> dict[str, Any]:
    (machine,) = resources("AWS::Serverless::StateMachine").values()
    return machine


def substitutions() -> dict[str, Any]:
    return state_machine()["Properties"]["DefinitionSubstitutions"]


def placeholders() -> set[str]:
    """Every ${Name} in the definition."""
    return set(PLACEHOLDER.findall(DEFINITION.read_text()))


def render_definition(values: dict[str, str]) -> dict[str, Any]:
    """The definition as deployed: each ${Name} replaced by values[Name]."""
    return json.loads(PLACEHOLDER.sub(lambda match: values[match.group(1)], DEFINITION.read_text()))


PSEUDO_PARAMETERS = {"AWS::Partition": "aws", "AWS::Region": "eu-west-1", "AWS::AccountId": "123456789012"}


def resolve(value: Any, names: dict[str, str], parameters: Mapping[str, str] | None = None) -> str:
    """A value as CloudFormation would give it, parameters at their defaults unless `parameters` gives them (as
    `sam deploy --parameter-overrides` does).

    `names` holds each resource's physical name or ARN by logical id (what Ref gives, and GetAtt
    unless `names` has an entry "Logical.Attribute").
    """
    if isinstance(value, str | int | float):
        return str(value)
    if "Ref" in value:
        return reference(value["Ref"], names, parameters)
    if "Fn::GetAtt" in value:
        logical, attribute = value["Fn::GetAtt"]
        return names.get(f"{logical}.{attribute}") or names[logical]
    if "Fn::Sub" in value:
        return re.sub(r"\$\{([^}]+)\}", lambda match: reference(match.group(1), names, parameters),
                      value["Fn::Sub"])
    raise ValueError(f"cannot resolve {value!r}")


def reference(name: str, names: dict[str, str], parameters: Mapping[str, str] | None = None) -> str:
    """What ${name} or Ref name stands for: a pseudo parameter, a parameter (given, else its default), a resource."""
    if name in PSEUDO_PARAMETERS:
        return PSEUDO_PARAMETERS[name]
    parameter = template().get("Parameters", {}).get(name)
    if parameter is not None:
        return str((parameters or {}).get(name, parameter["Default"]))
    return names[name]


def referenced_names(value: Any) -> set[str]:
    """The parameters and resources a template value refers to (Ref, ${...} in Fn::Sub, Fn::GetAtt), at any depth."""
    if isinstance(value, list):
        return set().union(*map(referenced_names, value))
    if not isinstance(value, dict):
        return set()
    found = set().union(*map(referenced_names, value.values()))
    if isinstance(value.get("Ref"), str):
        found.add(value["Ref"])
    if isinstance(value.get("Fn::GetAtt"), list):
        found.add(value["Fn::GetAtt"][0])
    if isinstance(value.get("Fn::Sub"), str):
        found |= {name.split(".")[0] for name in re.findall(r"\$\{([^}]+)\}", value["Fn::Sub"])}
    return found


def function_directory(function: dict[str, Any]) -> Path:
    return ROOT / function["Properties"]["CodeUri"]


def environment_reads(module: Path) -> set[str]:
    """Environment variables a module reads: os.environ[...], os.environ.get(...), os.getenv(...)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(module.read_text())):
        target = None
        if isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
            target = node.slice
        elif isinstance(node, ast.Call) and ast.unparse(node.func) in ("os.environ.get", "os.getenv"):
            target = node.args[0]
        if isinstance(target, ast.Constant) and isinstance(target.value, str):
            names.add(target.value)
    return names


@cache
def layer_packages() -> dict[str, Path]:
    """The repository's packages the shared layer ships, each name with its folder."""
    folders = [ROOT / line for line in LAYER_PACKAGES_FILE.read_text().split()]
    return {folder.name: folder for folder in folders}


def imported_shared_modules(module: Path) -> set[Path]:
    """The layer's modules `module` imports (of the packages in packages.txt), and theirs, transitively:
    `from orchard_functions.costs import x` and `from orchard_functions import costs` alike."""
    packages = layer_packages()
    found: set[Path] = set()
    pending = [module]
    while pending:
        for node in ast.walk(ast.parse(pending.pop().read_text())):
            if not isinstance(node, ast.ImportFrom) or not node.module or node.module.split(".")[0] not in packages:
                continue
            base = packages[node.module.split(".")[0]].parent / node.module.replace(".", "/")
            candidates = [base.with_suffix(".py"), *(base / f"{alias.name}.py" for alias in node.names)]
            for path in candidates:
                if path.is_file() and path not in found:
                    found.add(path)
                    pending.append(path)
    return found
