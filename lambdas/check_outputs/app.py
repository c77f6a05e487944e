"""Check outputs: fail the run, with the reason, unless the feature job's outputs are whole and consistent."""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.parser import BaseModel, event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from orchard_contract.paths import join
from orchard_functions import outputs, outputs_s3
from orchard_functions.plan_model import RunPlan

logger = Logger()
tracer = Tracer()
s3 = boto3.client("s3", config=Config(max_pool_connections=outputs_s3.FOOTER_READERS))


class CheckOutputsEvent(BaseModel):
    run: RunPlan


@tracer.capture_method
def check_outputs(*, output_uri: str, pca_components: int) -> dict[str, Any]:
    """The run's figures for `$.outputs`; raises one of `outputs`' errors when something is wrong."""
    marker = outputs_s3.read_json(s3, join(output_uri, outputs.SUCCESS_MARKER))
    model_info = outputs_s3.read_json(s3, join(output_uri, outputs.MODEL_INFO_KEY))
    outputs.require_documents(marker, model_info, output_uri)
    part_files = outputs_s3.read_part_files(s3, output_uri, outputs.PARQUET_FOLDERS)
    logger.info("Part files read", extra={folder: len(files) for folder, files in part_files.items()})
    return outputs.verified_figures(marker=marker, model_info=model_info, part_files=part_files,
                             pca_components=pca_components, output_uri=output_uri)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@event_parser(model=CheckOutputsEvent)
def handler(event: CheckOutputsEvent, context: LambdaContext) -> dict[str, Any]:
    logger.append_keys(run_id=event.run.run_id)
    return check_outputs(output_uri=event.run.output_uri, pca_components=event.run.pca_components)
