"""A minimal Mesos v1 HTTP API client, written from the Mesos documentation
with only the standard library: what an existing Mesos framework does."""

from __future__ import annotations

import http.client
import json
import queue
import socket
import ssl
import threading
import time
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from corral.v1 import scheduler_pb2

JSON = "application/json"
PROTOBUF = "application/x-protobuf"


class RecordIO:
    """Splits a RecordIO byte stream ("<length>\\n<record>") into records."""

    def __init__(self) -> None:
        self.buffer = b""

    def feed(self, data: bytes) -> list[bytes]:
        self.buffer += data
        records = []
        while True:
            newline = self.buffer.find(b"\n")
            if newline < 0:
                return records
            length = int(self.buffer[:newline])
            if len(self.buffer) - newline - 1 < length:
                return records
            records.append(self.buffer[newline + 1:newline + 1 + length])
            self.buffer = self.buffer[newline + 1 + length:]


class Subscription:
    """One SUBSCRIBE connection: its response headers and a queue of decoded events."""

    def __init__(self, master: str, body: bytes, content_type: str, accept: str,
                 path: str = "/api/v1/scheduler", event: type[Message] = scheduler_pb2.Event,
                 headers: dict[str, str] | None = None, tls: ssl.SSLContext | None = None) -> None:
        self.format = accept
        self.event_type = event
        self.conn = connection(master, tls)
        self.conn.request("POST", path, body=body,
                          headers={"Content-Type": content_type, "Accept": accept, **(headers or {})})
        self.response = self.conn.getresponse()
        self.status = self.response.status
        self.stream_id = self.response.getheader("Mesos-Stream-Id")
        self.events: queue.Queue[Any] = queue.Queue()
        self.closed = threading.Event()
        if self.status == 200:
            threading.Thread(target=self._read, daemon=True).start()
        else:
            self.error = self.response.read().decode()

    def _read(self) -> None:
        # Chunked transfer coding, read off the connection as it arrives (one
        # chunk may hold part of a record, or several).
        reader = RecordIO()
        fp = self.response.fp
        try:
            while True:
                size = int(fp.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    break
                data = fp.read(size)
                fp.read(2)
                for record in reader.feed(data):
                    if self.format == JSON:
                        self.events.put(json.loads(record))
                    else:
                        self.events.put(json_format.MessageToDict(self.event_type.FromString(record),
                                                                  preserving_proto_field_name=True))
        except (OSError, ValueError):
            pass
        self.closed.set()

    def next(self, event_type: str, timeout: float = 30.0) -> dict[str, Any]:
        """The next event of `event_type`, skipping heartbeats and others."""
        return self.next_of({event_type}, timeout)

    def next_of(self, event_types: set[str], timeout: float = 30.0) -> dict[str, Any]:
        """The next event of one of `event_types`, skipping heartbeats and others."""
        event_type = "/".join(sorted(event_types))
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {event_type} event within {timeout} s")
            try:
                event = self.events.get(timeout=left)
            except queue.Empty:
                raise TimeoutError(f"no {event_type} event within {timeout} s") from None
            if event["type"] in event_types:
                return event

    def close(self) -> None:
        # Shut the socket first: closing the stream under the reader thread
        # would wait for its read to return (the next heartbeat).
        if self.conn.sock is not None:
            try:
                self.conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.closed.wait(5)
        self.conn.close()


def connection(address: str, tls: ssl.SSLContext | None = None) -> http.client.HTTPConnection:
    """A connection to ``host:port``: HTTPS with ``tls``, else plain HTTP."""
    host, port = address.rsplit(":", 1)
    if tls is not None:
        return http.client.HTTPSConnection(host, int(port), timeout=60, context=tls)
    return http.client.HTTPConnection(host, int(port), timeout=60)


def post(master: str, path: str, body: bytes, headers: dict[str, str],
         tls: ssl.SSLContext | None = None) -> tuple[int, bytes, dict[str, str]]:
    conn = connection(master, tls)
    try:
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read(), {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()


def get(master: str, path: str, headers: dict[str, str] | None = None,
        tls: ssl.SSLContext | None = None) -> tuple[int, bytes, dict[str, str]]:
    conn = connection(master, tls)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read(), {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()


def get_json(master: str, path: str) -> Any:
    status, body, _ = get(master, path)
    assert status == 200, (path, status, body)
    return json.loads(body)


def encode(call: dict[str, Any], fmt: str) -> bytes:
    """A scheduler Call written as JSON, sent as JSON or as protobuf."""
    if fmt == JSON:
        return json.dumps(call).encode()
    return json_format.ParseDict(call, scheduler_pb2.Call()).SerializeToString()


def operator_call(master: str, call: dict[str, Any], message: type[Message] | None = None,
                  fmt: str = JSON, call_type: type[Message] | None = None) -> tuple[int, Any]:
    """POST /api/v1 (of a master, or of an agent with agent_pb2.Call as
    `call_type`); the answer decoded from JSON, or from protobuf into `message`."""
    if fmt == JSON:
        body = json.dumps(call).encode()
    else:
        from corral.v1 import master_pb2
        body = json_format.ParseDict(call, (call_type or master_pb2.Call)()).SerializeToString()
    status, data, _ = post(master, "/api/v1", body, {"Content-Type": fmt, "Accept": fmt})
    if status != 200 or not data:
        return status, data.decode()
    if fmt == JSON:
        return status, json.loads(data)
    assert message is not None
    return status, json_format.MessageToDict(message.FromString(data), preserving_proto_field_name=True)


def free_port() -> int:
    """A loopback port nobody listens on now, for a daemon a test starts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_health(address: str, log: Path, timeout: float = 30, tls: ssl.SSLContext | None = None) -> None:
    """Waits until a daemon a test started answers /health; fails with its log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if get(address, "/health", tls=tls)[0] == 200:
                return
        except OSError:
            time.sleep(0.02)  # polling the port, bounded by the deadline
    raise AssertionError(log.read_text())
