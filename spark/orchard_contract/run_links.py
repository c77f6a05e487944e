"""Where a person looks at a run next, declared once for the function that records the run summary and the `orchard`
command that shows runs: the execution and the cluster in the console, the cluster's and the step's logs in S3."""

from __future__ import annotations


def run_links(*, region: str, execution_arn: str, log_uri: str | None, cluster_id: str | None,
              step_id: str | None) -> dict[str, str | None]:
    """The run's links, each None until the run has what it needs. EMR archives a cluster's logs under
    `<LogUri>/<cluster id>/`, a step's (stderr, stdout, controller) under `steps/<step id>/` there (EMR Management
    Guide, "View log files archived to Amazon S3")."""
    console = f"https://{region}.console.aws.amazon.com"
    cluster_logs = f"{log_uri.rstrip('/')}/{cluster_id}/" if log_uri and cluster_id else None
    return {
        "execution_console": f"{console}/states/home?region={region}#/v2/executions/details/{execution_arn}",
        "cluster_console": f"{console}/emr/home?region={region}#/clusterDetails/{cluster_id}" if cluster_id else None,
        "cluster_logs": cluster_logs,
        "step_logs": f"{cluster_logs}steps/{step_id}/" if cluster_logs and step_id else None,
    }
