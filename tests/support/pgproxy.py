"""A TCP proxy in front of PostgreSQL that counts round trips and can add network delay.

Clients connect to the proxy's port instead of the server's. The proxy refuses SSL (it answers
the client's SSLRequest with 'N' itself), so the protocol stays readable, and it counts the
client's frontend messages by type. A round trip is a message the client must wait on the
server for: a simple query ('Q') or the Sync that ends an extended-protocol batch ('S').
A pool's `SELECT 1` ping, a BEGIN, a COMMIT and a ROLLBACK are each a 'Q', so they all count.

`delay_ms` holds every chunk, in each direction, for that long before passing it on (in order):
1 ms each way is a 2 ms round trip, about what a client in the same cloud region sees of Neon.
The proxy runs an asyncio loop on a thread of its own; use it as a context manager.

`lose_next_answer()` injects the nastiest fault a client can meet: the next query reaches the
server and runs (and, on an autocommit connection, commits), but its answer never comes back;
the connection is cut instead.

    with PgProxy("127.0.0.1", 5432, delay_ms=1.0) as proxy:
        url = f"postgresql://postgres@127.0.0.1:{proxy.port}/test"
        ...
        before = proxy.round_trips
"""

from __future__ import annotations

import asyncio
import collections
import struct
import threading

SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
CANCEL_REQUEST = 80877102
ROUND_TRIP_TYPES = (b"Q", b"S")


class PgProxy:
    """Forwards localhost connections to one PostgreSQL server, counting and delaying (see module doc)."""

    def __init__(self, target_host: str, target_port: int, *, delay_ms: float = 0.0, listen_host: str = "127.0.0.1"):
        self.target_host = target_host
        self.target_port = target_port
        self.delay = delay_ms / 1000.0
        self.listen_host = listen_host
        self.port = 0
        self.messages: collections.Counter[bytes] = collections.Counter()
        self.statements: list[str] = []  # the text of each simple query since the last reset()
        self.connections = 0
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._ready = threading.Event()
        self._tasks: set[asyncio.Task] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._lose_next_answer = False

    # -- counts ------------------------------------------------------------------------------

    @property
    def round_trips(self) -> int:
        with self._lock:
            return sum(self.messages[kind] for kind in ROUND_TRIP_TYPES)

    def queries(self) -> int:
        with self._lock:
            return self.messages[b"Q"]

    def reset(self) -> None:
        with self._lock:
            self.messages.clear()
            self.statements.clear()
            self.connections = 0

    def round_trips_per_call(self, call, count: int = 10) -> float:
        """Round trips per call of `call`, after one warm-up call (connection, token cache); each
        call must cost the same."""
        call()
        self.reset()
        for _ in range(count):
            call()
        assert self.round_trips % count == 0, self.statements
        return self.round_trips / count

    def _count(self, kind: bytes) -> None:
        with self._lock:
            self.messages[kind] += 1

    def lose_next_answer(self) -> None:
        """Let the next query through to the server, then cut its connection before the answer."""
        with self._lock:
            self._lose_next_answer = True

    def _take_lose_next_answer(self) -> bool:
        with self._lock:
            armed, self._lose_next_answer = self._lose_next_answer, False
            return armed

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> PgProxy:
        self._thread = threading.Thread(target=self._run, name="pgproxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the proxy did not start")
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
        future.result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop = None

    def __enter__(self) -> PgProxy:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        self._server = loop.run_until_complete(asyncio.start_server(self._accept, self.listen_host, 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        loop.run_forever()
        loop.close()

    async def _shutdown(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):  # ends every pump; the handlers then finish by themselves
            writer.close()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)

    # -- forwarding --------------------------------------------------------------------------

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        with self._lock:
            self.connections += 1
        server_writer = None
        self._writers.add(client_writer)
        try:
            first = await self._startup(client_reader, client_writer)
            if first is None:
                return
            server_reader, server_writer = await asyncio.open_connection(self.target_host, self.target_port)
            self._writers.update((client_writer, server_writer))
            server_writer.write(first)
            await server_writer.drain()
            link = _Link(client_writer, server_writer)
            upstream = asyncio.create_task(self._pump(client_reader, server_writer, link, upstream=True))
            downstream = asyncio.create_task(self._pump(server_reader, client_writer, link, upstream=False))
            _done, pending = await asyncio.wait({upstream, downstream}, return_when=asyncio.FIRST_COMPLETED)
            for other in pending:
                other.cancel()
            # A reset on either side simply ends the connection: collect, don't re-raise.
            await asyncio.gather(upstream, downstream, return_exceptions=True)
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            pass  # either side went away: close both (below)
        finally:
            for writer in (client_writer, server_writer):
                if writer is not None:
                    writer.close()
                    self._writers.discard(writer)
            self._tasks.discard(task)

    async def _startup(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes | None:
        """Answer SSL/GSS requests with 'N'; return the StartupMessage (or CancelRequest) to forward."""
        while True:
            header = await reader.readexactly(8)
            length, code = struct.unpack("!ii", header)
            if code in (SSL_REQUEST, GSSENC_REQUEST):
                writer.write(b"N")
                await writer.drain()
                continue
            rest = await reader.readexactly(length - 8)
            return header + rest

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: _Link, *, upstream: bool) -> None:
        """Copy one direction, holding each chunk `delay` seconds; count frontend messages."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        def on_message(kind: bytes, body: bytes) -> None:
            self._count(kind)
            if kind == b"Q":
                with self._lock:
                    self.statements.append(body.rstrip(b"\0").decode(errors="replace"))
            if kind == b"Q" and self._take_lose_next_answer():
                link.muted = True

        parser = _MessageSplitter(on_message) if upstream else None

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                if not data:
                    return
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if link.muted and not upstream:
                    # The query went through; give the server time to run it, then cut the line.
                    await asyncio.sleep(0.3)
                    link.cut()
                    return
                writer.write(data)
                await writer.drain()

        sender = asyncio.create_task(deliver())
        try:
            while True:
                data = await reader.read(65536)
                if parser is not None and data:
                    parser.feed(data)
                await queue.put((loop.time() + self.delay, data))
                if not data:
                    break
            await sender
        finally:
            sender.cancel()


class _Link:
    """State shared by the two directions of one proxied connection."""

    def __init__(self, *writers: asyncio.StreamWriter) -> None:
        self.writers = writers
        self.muted = False

    def cut(self) -> None:
        for writer in self.writers:
            writer.close()


class _MessageSplitter:
    """Splits the frontend byte stream (after startup) into typed messages and counts each type."""

    def __init__(self, on_message) -> None:
        self.on_message = on_message
        self.buffer = bytearray()

    def feed(self, data: bytes) -> None:
        self.buffer += data
        while len(self.buffer) >= 5:
            kind = bytes(self.buffer[:1])
            (length,) = struct.unpack("!i", self.buffer[1:5])
            if len(self.buffer) < 1 + length:
                return
            body = bytes(self.buffer[5 : 1 + length])
            del self.buffer[: 1 + length]
            self.on_message(kind, body)
