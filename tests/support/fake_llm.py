"""A real local HTTP server speaking the Chat Completions protocol, with scripted behaviours.

Tests start it on a free 127.0.0.1 port and point ASSISTANT_BASE_URL at it. Streaming requests
get Server-Sent Events (`data: {chunk}` ... `data: [DONE]`) over chunked HTTP/1.1, the way
vLLM and Ollama answer; `"stream": false` gets one JSON body. `script(...)` sets how the next
requests are answered; `requests` records every request body received.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .databases import free_port

DEFAULT_DELTAS = ["Hello", ", ", "world", "!"]


class QuietServer(ThreadingHTTPServer):
    """Clients dropping idle keep-alive connections is expected here, not worth a traceback."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


@dataclass
class Behaviour:
    """How to answer: `kind` is reply, drop, status, hang, hang_midstream, malformed or slow."""

    kind: str = "reply"
    deltas: list[str] = field(default_factory=lambda: list(DEFAULT_DELTAS))
    usage: dict[str, int] | None = field(
        default_factory=lambda: {"prompt_tokens": 11, "completion_tokens": 4, "total_tokens": 15}
    )
    status: int = 500
    finish_reason: str = "stop"
    extra: dict[str, Any] = field(default_factory=dict)  # added to the last chunk (RAG fields)
    delay: float = 0.0  # seconds between deltas


class FakeLLM:
    def __init__(self, port: int | None = None) -> None:
        self.behaviour = Behaviour()
        self.requests: list[dict[str, Any]] = []
        self.stopping = threading.Event()
        self.finished = threading.Event()  # set when a streamed answer ends (any way)
        self.client_gone = threading.Event()  # set when the client closed a stream midway
        self.server = QuietServer(("127.0.0.1", port or free_port()), self._handler())
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def script(self, kind: str = "reply", **options: Any) -> Behaviour:
        self.behaviour = Behaviour(kind, **options)
        self.finished.clear()
        self.client_gone.clear()
        return self.behaviour

    def start(self) -> FakeLLM:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                return

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                fake.requests.append({"path": self.path, "body": body, "headers": {key.lower(): value for key, value in self.headers.items()}})
                behaviour = fake.behaviour
                if self.path != "/v1/chat/completions":
                    return self._json(404, {"error": {"message": f"no route {self.path}"}})
                if behaviour.kind == "status":
                    return self._json(
                        behaviour.status,
                        {"error": {"message": "the model crashed", "type": "server_error"}},
                    )
                if behaviour.kind == "hang":
                    fake.stopping.wait(60)
                    self.close_connection = True
                    return
                if not body.get("stream"):
                    return self._json(200, completion_body(body["model"], behaviour))
                self._stream(body["model"], behaviour)

            def _json(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _chunk(self, text: str) -> None:
                data = text.encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()

            def _event(self, payload: Any) -> None:
                self._chunk(f"data: {payload if isinstance(payload, str) else json.dumps(payload)}\n\n")

            def _stream(self, model: str, behaviour: Behaviour) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    self._stream_body(model, behaviour)
                except (BrokenPipeError, ConnectionResetError):
                    fake.client_gone.set()
                    self.close_connection = True
                finally:
                    fake.finished.set()

            def _stream_body(self, model: str, behaviour: Behaviour) -> None:
                kind, deltas = behaviour.kind, behaviour.deltas
                if kind == "malformed":
                    self._event(chunk(model, {"content": deltas[0]}))
                    self._event("{this is not json")
                    return self._end()
                for index, text in enumerate(deltas):
                    if kind == "drop" and index == len(deltas) // 2:
                        # Cut the connection mid-stream: no finish_reason, no [DONE], no last chunk.
                        self.close_connection = True
                        self.connection.shutdown(2)
                        return
                    if kind == "hang_midstream" and index == 1:
                        fake.stopping.wait(60)
                        self.close_connection = True
                        return
                    self._event(chunk(model, {"content": text}))
                    if behaviour.delay:
                        time.sleep(behaviour.delay)
                last = chunk(model, {}, finish_reason=behaviour.finish_reason)
                last.update(behaviour.extra)
                self._event(last)
                if behaviour.usage is not None:
                    usage_chunk = chunk(model, None)
                    usage_chunk["usage"] = behaviour.usage
                    self._event(usage_chunk)
                self._event("[DONE]")
                self._end()

            def _end(self) -> None:
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

        return Handler


def chunk(model: str, delta: dict[str, Any] | None, finish_reason: str | None = None) -> dict[str, Any]:
    """One chat.completion.chunk; delta None gives the usage-only chunk (no choices)."""
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": []
        if delta is None
        else [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
    }


def completion_body(model: str, behaviour: Behaviour) -> dict[str, Any]:
    """The non-streaming answer: one chat.completion object."""
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "".join(behaviour.deltas)},
                "finish_reason": behaviour.finish_reason,
                "logprobs": None,
            }
        ],
        "usage": behaviour.usage,
        **behaviour.extra,
    }


@contextmanager
def fake_llm(port: int | None = None) -> Iterator[FakeLLM]:
    server = FakeLLM(port).start()
    try:
        yield server
    finally:
        server.stop()
