"""The EMR side of the feature job, defined once: what is published for the cluster, the nodes' Python, the Spark
configuration, the bootstrap action and the step's command line.

Free of Spark imports: the function that plans a run imports it (as it imports the rest of this contract) and puts
these blocks in its CreateCluster and AddStep requests.
"""

from __future__ import annotations

import posixpath
from typing import Any

from orchard_contract.paths import join

# What the cluster reads, relative to the artifacts prefix, and where each file is in this repository (a bundle laid
# out as the repository is: `lambdas/publish_artifacts/Makefile` copies spark/ and bootstrap/ into its payload).
ENTRY_POINT = "run_job.py"
BOOTSTRAP_SCRIPT = "bootstrap/install.sh"
JOB_REQUIREMENTS = "requirements/job.txt"
MODEL_REQUIREMENTS = "requirements/model.txt"
CONSTRAINTS = "requirements/constraints.txt"
PUBLISHED_FILES = {
    ENTRY_POINT: "spark/run_job.py",
    BOOTSTRAP_SCRIPT: "bootstrap/install.sh",
    JOB_REQUIREMENTS: "spark/requirements.txt",
    MODEL_REQUIREMENTS: "spark/requirements-model.txt",
    CONSTRAINTS: "requirements/constraints.txt",
}
# The job and the contract it shares with the functions, zipped for `spark-submit --py-files`: all the job's own
# code, and nothing else (no demo, no sample maker).
JOB_ARCHIVE = "orchard_job.zip"
JOB_PACKAGES = ("orchard_features", "orchard_contract")
PACKAGES_FOLDER = "spark"

# Where the bootstrap action puts the job's Python (3.11) on every node.
NODE_VENV = "/opt/orchard/venv"
NODE_PYTHON = f"{NODE_VENV}/bin/python"
# Where it stages, on the primary node only, what the job needs to install the model tools (TensorFlow, tf2onnx, ...)
# itself when it must build the model, the model store not holding it: the installer (the bootstrap script), the model
# tools' pins and the constraints, each under the last part of its published name.
NODE_MODEL_TOOLS = "/opt/orchard/model-tools"
STAGED_FILES = (BOOTSTRAP_SCRIPT, MODEL_REQUIREMENTS, CONSTRAINTS)
STEP_NAME = "Extract features and PCA"


def staged_path(published_name: str, folder: str = NODE_MODEL_TOOLS) -> str:
    """Where the bootstrap action stages the published file `published_name` (one of STAGED_FILES) in `folder`."""
    return posixpath.join(folder, posixpath.basename(published_name))


def spark_configurations(region: str) -> list[dict[str, Any]]:
    """Spark on the job's Python 3.11 environment, one executor per node with all its cores and memory.

    The job reads the images with boto3, which takes its region from `AWS_DEFAULT_REGION` and nothing an EC2
    node provides ("Configuration", https://boto3.amazonaws.com/v1/documentation/api/latest/guide/configuration.html):
    the stack's region is set for the driver (the `spark-env` classification's `export`, "Configure Spark",
    https://docs.aws.amazon.com/emr/latest/ReleaseGuide/emr-spark-configure.html; client mode) and the executors
    (`spark.executorEnv.*`, https://spark.apache.org/docs/3.5.6/configuration.html#runtime-environment), so that
    requests go to the regional endpoint, through the subnet's S3 gateway endpoint.
    """
    return [
        {"Classification": "spark", "Properties": {"maximizeResourceAllocation": "true"}},
        {"Classification": "spark-defaults", "Properties": {
            "spark.pyspark.python": NODE_PYTHON,
            "spark.pyspark.driver.python": NODE_PYTHON,
            "spark.dynamicAllocation.enabled": "false",
            "spark.python.worker.reuse": "true",
            "spark.sql.execution.arrow.pyspark.enabled": "true",
            "spark.executorEnv.AWS_DEFAULT_REGION": region,
        }},
        {"Classification": "spark-env", "Configurations": [
            {"Classification": "export", "Properties": {"PYSPARK_PYTHON": NODE_PYTHON,
                                                        "PYSPARK_DRIVER_PYTHON": NODE_PYTHON,
                                                        "AWS_DEFAULT_REGION": region}},
        ]},
    ]


def bootstrap_actions(artifacts_uri: str) -> list[dict[str, Any]]:
    """The node set-up: the job's pinned packages (every dependency frozen) in a Python 3.11 environment, the same on
    every node; on the primary node, the model tools' installer, pins and constraints staged for the job.

    Bootstrap actions run on every node, as the hadoop user, before EMR installs the applications ("Create bootstrap
    actions to install additional software with an Amazon EMR cluster",
    https://docs.aws.amazon.com/emr/latest/ManagementGuide/emr-plan-bootstrap.html): each node waits for the slowest,
    so the primary installs no more than a core node does.
    """
    return [{
        "Name": "Install the feature job's Python packages",
        "ScriptBootstrapAction": {
            "Path": join(artifacts_uri, BOOTSTRAP_SCRIPT),
            "Args": ["--requirements", join(artifacts_uri, JOB_REQUIREMENTS),
                     "--constraints", join(artifacts_uri, CONSTRAINTS),
                     "--venv", NODE_VENV,
                     "--model-requirements", join(artifacts_uri, MODEL_REQUIREMENTS),
                     "--stage-model-tools", NODE_MODEL_TOOLS],
        },
    }]


def feature_step(artifacts_uri: str, job_arguments: list[str]) -> dict[str, Any]:
    """The EMR step: spark-submit of the job with `job_arguments` (its command line), driver on the primary node
    (client mode: "Client mode launches the driver program on the cluster's primary instance", "Add a Spark step",
    https://docs.aws.amazon.com/emr/latest/ReleaseGuide/emr-spark-submit-step.html), told where the bootstrap action
    staged the model tools there (`--model-tools`), which it installs only if it must build the model."""
    return {
        "Name": STEP_NAME,
        "ActionOnFailure": "CONTINUE",
        "HadoopJarStep": {
            "Jar": "command-runner.jar",
            "Args": ["spark-submit", "--deploy-mode", "client",
                     "--py-files", join(artifacts_uri, JOB_ARCHIVE),
                     join(artifacts_uri, ENTRY_POINT),
                     *job_arguments, "--model-tools", NODE_MODEL_TOOLS],
        },
    }
