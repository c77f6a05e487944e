"""The cluster slots: a counting semaphore in DynamoDB, as in AWS's sample "Controlling concurrency in distributed
systems using AWS Step Functions" (aws-samples/aws-stepfunctions-examples, sam/app-control-concurrency-with-dynamodb).

One item, `SLOTS_KEY`, holds the number of slots taken (`HELD`) and one attribute per holding execution: its name is
the execution's ARN, its value the time it took the slot. The state machine takes and releases slots itself
("Take a cluster slot", "Release the cluster slot", statemachine/pipeline.asl.json, with these same names); the clean-up
function releases the slot of an execution that ended without releasing it (aborted, timed out: no Catch runs then).
"""

from __future__ import annotations

from typing import Any, Final

SLOTS_KEY: Final = {"slots": {"S": "clusters"}}
HELD: Final = "held"
# Give the slot back: one less held, the holder's attribute gone; only if the execution holds one (DynamoDB API
# Reference, UpdateItem: "an update will only succeed if the condition is met"; a failed condition changes nothing).
RELEASE_EXPRESSION: Final = "SET #held = #held - :one REMOVE #holder"
RELEASE_CONDITION: Final = "attribute_exists(#holder)"


def release_slot(dynamodb: Any, table: str, execution_arn: str) -> bool:
    """Release the slot `execution_arn` holds in `table` (`dynamodb`: a boto3 DynamoDB client); whether it held one.

    Idempotent: an execution that holds no slot (never took one, or released it already) fails the condition, and
    nothing changes.
    """
    try:
        dynamodb.update_item(
            TableName=table,
            Key=SLOTS_KEY,
            UpdateExpression=RELEASE_EXPRESSION,
            ConditionExpression=RELEASE_CONDITION,
            ExpressionAttributeNames={"#held": HELD, "#holder": execution_arn},
            ExpressionAttributeValues={":one": {"N": "1"}},
        )
    except dynamodb.exceptions.ConditionalCheckFailedException:
        return False
    return True
