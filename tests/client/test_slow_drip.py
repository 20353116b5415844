"""The request deadline holds for the whole body, however slowly it arrives (issue 16, #11)."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from django_seeclickfix.client import BearerAuth, MemoryStore, RateBudget, SeeClickFixClient
from django_seeclickfix.exceptions import TransientError

BODY = b'{"emails": [' + b" " * 60 + b"]}"


class DrippingServer:
    """A one-connection HTTP server that sends a Content-Length body one byte every 0.1 s and
    counts how many body bytes it sent before the client hung up."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sent = 0
        self.hung_up = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        with conn:
            conn.recv(65536)
            head = (
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(BODY)}\r\n\r\n"
            )
            conn.sendall(head.encode())
            for byte in BODY:
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    break
                self.sent += 1
                time.sleep(0.1)
                if _peer_closed(conn):
                    break
        self.hung_up.set()
        self.listener.close()


def _peer_closed(conn: socket.socket) -> bool:
    conn.setblocking(False)
    try:
        return conn.recv(1, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        conn.setblocking(True)


def test_a_dripping_body_is_cut_at_the_deadline():
    server = DrippingServer()
    budget = RateBudget(100, 60, store=MemoryStore(), max_wait=0.5)
    scf = SeeClickFixClient(
        f"http://127.0.0.1:{server.port}",
        BearerAuth("t" * 32),
        budget=budget,
        deadline=1.0,
        read_timeout=5.0,
    )
    with pytest.raises(TransientError, match="deadline"):
        scf.list_emails()
    assert server.hung_up.wait(10)
    # Cut after about ten bytes; without the watchdog the client read all of them first.
    assert server.sent < len(BODY) // 2
