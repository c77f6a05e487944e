"""S3's events to EventBridge, delivered as S3 delivers them: every object created in a bucket that sends its events to
EventBridge (template.yaml's `NotificationConfiguration.EventBridgeConfiguration`: the inputs bucket) becomes an
"Object Created" event on EventBridge, whoever wrote it (Amazon S3 User Guide, "Using EventBridge").

moto's S3 sends a bucket's event notifications through `moto.s3.notifications.send_event(account, event name, bucket,
key)` (moto 5.2.5, called by the bucket's backend for every PutObject, CopyObject and completed multipart upload);
for the block, it is wrapped to also publish the event through the local stack's EventBridge (orchard_local.stack).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

from moto.s3 import notifications

from orchard_local import template as t
from orchard_local.events import object_created_event

CREATED = "s3:ObjectCreated:"


def eventbridge_buckets(names: dict[str, str]) -> set[str]:
    """The buckets of the stack that send their events to EventBridge."""
    return {names[logical] for logical, bucket in t.resources("AWS::S3::Bucket").items()
            if bucket["Properties"].get("NotificationConfiguration", {}).get("EventBridgeConfiguration",
                                                                             {}).get("EventBridgeEnabled")}


@contextlib.contextmanager
def objects_created_published(names: dict[str, str], publish: Callable[[dict[str, Any]], Any]) -> Iterator[None]:
    """For the block, `publish` the Object Created event of each object created in those buckets."""
    buckets = eventbridge_buckets(names)
    original = notifications.send_event

    def send_event(account_id: str, event_name: Any, bucket: Any, key: Any) -> None:
        original(account_id, event_name, bucket, key)
        if bucket.name in buckets and event_name.startswith(CREATED):
            publish(object_created_event(bucket.name, key.name, {"ETag": key.etag, "VersionId": key.version_id},
                                         key.size))

    with mock.patch.object(notifications, "send_event", send_event):
        yield
