"""A small HTTP/1.1 server on asyncio, built for the emulator.

Why not WSGI: the emulator must misbehave at the transport level on demand (reset the connection,
declare a longer body than it sends, drip bytes slowly, stream a huge body) and still serve many
keep-alive clients quickly. One event loop in one thread does both: a slow or stalled response
costs a coroutine, not a thread, and the application code stays synchronous and simple.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl

logger = logging.getLogger("django_seeclickfix.testing.emulator")

MAX_HEAD = 64 * 1024
MAX_BODY = 10 * 1024 * 1024
KEEP_ALIVE_IDLE = 75.0
BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class Headers:
    """Case-insensitive request headers; repeated headers are joined with ``, ``."""

    def __init__(self, pairs: list[tuple[str, str]] | None = None) -> None:
        self._items: dict[str, str] = {}
        for name, value in pairs or []:
            key = name.lower()
            joiner = "; " if key == "cookie" else ", "
            self._items[key] = f"{self._items[key]}{joiner}{value}" if key in self._items else value

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._items.get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def items(self) -> Iterator[tuple[str, str]]:
        return iter(self._items.items())


@dataclass
class Request:
    method: str
    path: str
    query_string: str
    headers: Headers
    body: bytes
    client_address: str
    http_version: str = "HTTP/1.1"
    _query: dict[str, str] | None = field(default=None, repr=False)
    _form: dict[str, str] | None = field(default=None, repr=False)

    @property
    def query(self) -> dict[str, str]:
        """Query parameters; a repeated one keeps its last value (Rails does the same)."""
        if self._query is None:
            self._query = dict(parse_qsl(self.query_string, keep_blank_values=True))
        return self._query

    @property
    def content_type(self) -> str:
        return (self.headers.get("content-type") or "").split(";")[0].strip().lower()

    def form(self) -> dict[str, str]:
        """The body as form fields (urlencoded), or as a flat JSON object's string values."""
        if self._form is None:
            if self.content_type == "application/json":
                data = self.json()
                self._form = (
                    {
                        k: v if isinstance(v, str) else "" if v is None else json.dumps(v)
                        for k, v in data.items()
                    }
                    if isinstance(data, dict)
                    else {}
                )
            else:
                text = self.body.decode("utf-8", errors="replace")
                self._form = dict(parse_qsl(text, keep_blank_values=True))
        return self._form

    def json(self) -> Any:
        """The body parsed as JSON. Raises ``ValueError`` when it is not JSON."""
        return json.loads(self.body.decode("utf-8"))

    def cookie(self, name: str) -> str | None:
        raw = self.headers.get("cookie")
        if not raw:
            return None
        jar: SimpleCookie = SimpleCookie()
        with contextlib.suppress(Exception):  # a malformed cookie header is just no cookie
            jar.load(raw)
        morsel = jar.get(name)
        return morsel.value if morsel else None

    @property
    def host(self) -> str:
        return self.headers.get("host") or "127.0.0.1"


@dataclass
class Delivery:
    """How to put a response on the wire when it is not simply "send it"."""

    kind: str  # "reset", "truncate", "drip", "stream"
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    delay: float = 0.0
    delivery: Delivery | None = None
    close: bool = False

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return None

    def set_header(self, name: str, value: str) -> None:
        lowered = name.lower()
        self.headers = [(k, v) for k, v in self.headers if k.lower() != lowered]
        self.headers.append((name, value))


def json_response(
    data: Any, status: int = 200, headers: list[tuple[str, str]] | None = None
) -> Response:
    body = json.dumps(data, separators=(",", ":")).encode()
    return Response(
        status=status,
        body=body,
        headers=[("Content-Type", "application/json; charset=utf-8"), *(headers or [])],
    )


def html_response(html: str, status: int = 200) -> Response:
    return Response(
        status=status,
        body=html.encode(),
        headers=[("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store")],
    )


def redirect(location: str, status: int = 302) -> Response:
    return Response(
        status=status,
        headers=[("Location", location), ("Content-Type", "text/html; charset=utf-8")],
        body=b'<html><body>You are being <a href="redirect">redirected</a>.</body></html>',
    )


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class _BadRequest(Exception):
    pass


Handler = Callable[[Request], Response]


class HTTPServer:
    """Serves ``handler`` on ``host:port`` from an event loop in a daemon thread."""

    def __init__(self, handler: Handler, host: str = "127.0.0.1", port: int = 0) -> None:
        self.handler = handler
        self.host = host
        self.requested_port = port
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._ready = threading.Event()
        self._error: BaseException | None = None

    # lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._ready.clear()
        self._thread = threading.Thread(target=self._run, name="scf-emulator", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            error, self._error, self._thread = self._error, None, None
            raise error

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._server = loop.run_until_complete(
                asyncio.start_server(
                    self._serve_connection,
                    self.host,
                    self.requested_port,
                    limit=MAX_HEAD,
                    reuse_address=True,
                    backlog=512,
                )
            )
            self.port = int(self._server.sockets[0].getsockname()[1])
        except BaseException as err:  # a busy port: hand the error to start()
            self._error = err
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._shutdown())
            loop.close()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    def stop(self) -> None:
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._thread = None
        self._loop = None
        self._server = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # one connection --------------------------------------------------------------------------

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        peer = writer.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) else "127.0.0.1"
        with contextlib.suppress(Exception):
            writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while True:
                try:
                    request = await self._read_request(reader, writer, address)
                except _BadRequest:
                    writer.write(BAD_REQUEST)
                    break
                if request is None:
                    break
                try:
                    response = self.handler(request)
                except Exception:  # a bug in the emulator: answer like a crashed server
                    logger.exception("emulator error on %s %s", request.method, request.path)
                    response = Response(
                        status=500,
                        body=b"500 Server Error",
                        headers=[("Content-Type", "text/plain")],
                        close=True,
                    )
                keep_alive = await self._send(writer, request, response)
                if not keep_alive:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            self._connections.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    async def _read_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, address: str
    ) -> Request | None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), KEEP_ALIVE_IDLE)
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            return None
        except asyncio.LimitOverrunError as err:
            raise _BadRequest from err
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, version = lines[0].split(" ", 2)
        except ValueError as err:
            raise _BadRequest from err
        pairs: list[tuple[str, str]] = []
        for line in lines[1:]:
            if not line:
                continue
            name, sep, value = line.partition(":")
            if not sep:
                raise _BadRequest
            pairs.append((name.strip(), value.strip()))
        headers = Headers(pairs)
        path, _, query_string = target.partition("?")
        if (headers.get("expect") or "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = b""
        if "chunked" in (headers.get("transfer-encoding") or "").lower():
            body = await self._read_chunked(reader)
        else:
            try:
                length = int(headers.get("content-length") or 0)
            except ValueError as err:
                raise _BadRequest from err
            if length < 0 or length > MAX_BODY:
                raise _BadRequest
            if length:
                body = await reader.readexactly(length)
        return Request(
            method=method.upper(),
            path=path or "/",
            query_string=query_string,
            headers=headers,
            body=body,
            client_address=address,
            http_version=version.strip(),
        )

    async def _read_chunked(self, reader: asyncio.StreamReader) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            size_line = await reader.readuntil(b"\r\n")
            try:
                size = int(size_line.split(b";")[0].strip(), 16)
            except ValueError as err:
                raise _BadRequest from err
            if size == 0:
                # trailers, then the blank line
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                return b"".join(chunks)
            total += size
            if total > MAX_BODY:
                raise _BadRequest
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)

    def _keep_alive(self, request: Request, response: Response) -> bool:
        if response.close:
            return False
        connection = (request.headers.get("connection") or "").lower()
        if request.http_version == "HTTP/1.0":
            return "keep-alive" in connection
        return "close" not in connection

    def _head(self, response: Response, length: int | None, keep_alive: bool) -> bytes:
        """The status line and headers. ``length`` None means a chunked body follows; 204 and
        304 answers carry neither a length nor a body."""
        lines = [f"HTTP/1.1 {response.status} {_reason(response.status)}"]
        lines += [f"{name}: {value}" for name, value in response.headers]
        if response.status in (204, 304):
            pass
        elif length is not None:
            lines.append(f"Content-Length: {length}")
        else:
            lines.append("Transfer-Encoding: chunked")
        lines.append("Connection: keep-alive" if keep_alive else "Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def _send(
        self, writer: asyncio.StreamWriter, request: Request, response: Response
    ) -> bool:
        if response.delay > 0:
            await asyncio.sleep(response.delay)
        delivery = response.delivery
        if delivery is None:
            keep_alive = self._keep_alive(request, response)
            no_body = request.method == "HEAD" or response.status in (204, 304)
            writer.write(
                self._head(response, len(response.body), keep_alive)
                + (b"" if no_body else response.body)
            )
            await writer.drain()
            return keep_alive
        if delivery.kind == "reset":
            self._reset(writer)
            return False
        if delivery.kind == "truncate":
            # Promise the whole body, send part of it, then hang up: the client sees a short read.
            sent = int(delivery.params.get("send_bytes", len(response.body) // 2))
            writer.write(self._head(response, len(response.body), False) + response.body[:sent])
            await writer.drain()
            return False
        if delivery.kind == "drip":
            chunk = max(1, int(delivery.params.get("chunk_size", 1)))
            interval = float(delivery.params.get("interval", 0.1))
            writer.write(self._head(response, len(response.body), False))
            await writer.drain()
            for start in range(0, len(response.body), chunk):
                await asyncio.sleep(interval)
                writer.write(response.body[start : start + chunk])
                await writer.drain()
            return False
        if delivery.kind == "stream":
            await self._stream_oversized(writer, response, delivery)
            return False
        raise ValueError(f"unknown delivery {delivery.kind!r}")

    async def _stream_oversized(
        self, writer: asyncio.StreamWriter, response: Response, delivery: Delivery
    ) -> None:
        size = int(delivery.params["size"])
        chunked = bool(delivery.params.get("chunked", False))
        prefix, filler, suffix = b'{"padding":"', b"x" * 65536, b'"}'
        writer.write(self._head(response, None if chunked else size, False))
        remaining = size - len(prefix) - len(suffix)
        parts: list[bytes] = [prefix]
        while remaining > 0:
            piece = filler[: min(remaining, len(filler))]
            remaining -= len(piece)
            parts.append(piece)
            if remaining <= 0:
                parts.append(suffix)
            data = b"".join(parts)
            parts = []
            writer.write(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
            # The client is expected to give up part-way: stop writing when it does.
            await writer.drain()
        if chunked:
            writer.write(b"0\r\n\r\n")
            await writer.drain()

    @staticmethod
    def _reset(writer: asyncio.StreamWriter) -> None:
        # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
        sock = writer.get_extra_info("socket")
        with contextlib.suppress(Exception):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()
