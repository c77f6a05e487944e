"""An AWS service answering a client's next requests with an error, as the service would (throttling, access
denied), before moto sees them. The answer is an HTTP response to botocore's `before-send` event, parsed as the
service's own, so the client's retries run as against AWS (unlike an answer at `before-call`, which skips them, as
the EMR adapter's `fail_next` does for the state machine's tasks)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.client import BaseClient


class Body:
    """A raw HTTP body botocore can read."""

    def __init__(self, content: bytes) -> None:
        self.content = content

    def stream(self, **_: object) -> Iterator[bytes]:
        yield self.content


class Faults:
    """The operations a client sent, in order, and the error answers still pending for each (JSON protocols:
    EMR, Service Quotas)."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.pending: dict[str, list[tuple[int, str]]] = {}

    def answer(self, operation: str, code: str, times: int = 1, status: int = 400) -> None:
        """The next `times` requests of `operation` (`ListClusters`...) get the error `code`, HTTP `status`."""
        self.pending.setdefault(operation, []).extend([(status, code)] * times)

    def __call__(self, request: Any, event_name: str, **_: object) -> AWSResponse | None:
        operation = event_name.rsplit(".", 1)[1]
        self.sent.append(operation)
        if not self.pending.get(operation):
            return None
        status, code = self.pending[operation].pop(0)
        body = json.dumps({"__type": code, "message": f"{code} (injected)"}).encode()
        headers = HTTPHeaders()
        headers["Content-Type"] = "application/x-amz-json-1.1"
        return AWSResponse(request.url, status, headers, Body(body))


@contextmanager
def faults_of(client: BaseClient) -> Iterator[Faults]:
    """Inject error answers into `client`'s requests, for the block."""
    faults = Faults()
    event = f"before-send.{client.meta.service_model.service_id.hyphenize()}"
    # botocore-stubs type handlers as returning None; a before-send handler's response is the HTTP answer
    client.meta.events.register_first(event, faults)  # type: ignore[arg-type]
    try:
        yield faults
    finally:
        client.meta.events.unregister(event, faults)  # type: ignore[arg-type]
