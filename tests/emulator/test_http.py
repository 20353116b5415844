"""The HTTP/1.1 server under the emulator: keep-alive, framing, and malformed requests."""

from __future__ import annotations

import dataclasses
import http.client
import socket

import pytest
import requests

from django_seeclickfix.testing.emulator import Emulator

UA = {"User-Agent": "http-tests/1.0"}


def raw(emulator, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", emulator.port), timeout=5) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def test_keep_alive_serves_many_requests_on_one_connection(scf_emulator):
    connection = http.client.HTTPConnection("127.0.0.1", scf_emulator.port, timeout=5)
    ports = set()
    for _ in range(5):
        connection.request("GET", "/api/v2/profile", headers=UA)
        response = connection.getresponse()
        assert response.read() == b'{"id":null}'
        assert response.getheader("Connection") == "keep-alive"
        ports.add(connection.sock.getsockname()[1])
    assert len(ports) == 1
    connection.close()


def test_http_1_0_closes(scf_emulator):
    answer = raw(scf_emulator, b"GET /api/v2/profile HTTP/1.0\r\nUser-Agent: t\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 OK")
    assert b"Connection: close" in answer
    assert answer.endswith(b'{"id":null}')


def test_head_has_the_length_but_no_body(scf_emulator):
    response = requests.head(f"{scf_emulator.api_url}/issues", headers=UA, timeout=5)
    assert response.status_code == 200
    assert int(response.headers["Content-Length"]) > 1000
    assert response.content == b""


def test_chunked_request_bodies_and_expect_continue(scf_emulator):
    token = scf_emulator.issue_token("resident").access_token
    issue_id = min(scf_emulator.state.issues)

    def body():
        yield b"comment=chunked"
        yield b"+hello"

    response = requests.post(
        f"{scf_emulator.api_url}/issues/{issue_id}/comments",
        data=body(),
        headers={
            **UA,
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
        timeout=5,
    )
    assert response.status_code == 201
    assert response.json()["comment"] == "chunked hello"
    answer = raw(
        scf_emulator,
        b"POST /_emulator/reset HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
        b"Content-Length: 2\r\nConnection: close\r\n\r\n{}",
    )
    assert answer.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK")


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"NONSENSE\r\n\r\n",
        b"GET / HTTP/1.1\r\nno colon here\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: lots\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GET / HTTP/1.1\r\nX: " + b"a" * 70000 + b"\r\n\r\n",
    ],
)
def test_malformed_requests_get_400(scf_emulator, request_bytes):
    assert raw(scf_emulator, request_bytes).startswith(b"HTTP/1.1 400 Bad Request")


def test_start_stop_and_busy_ports():
    with Emulator(port=0, seed="empty") as emulator:
        assert emulator.server.running
        assert "running" in repr(emulator)
        with pytest.raises(OSError):  # noqa: PT011  (the OS picks the errno)
            Emulator(port=emulator.port, seed="empty").start()
        emulator.start()  # a second start is a no-op
    assert not emulator.server.running
    assert "stopped" in repr(emulator)
    emulator.stop()  # and so is a second stop


def test_public_host_shapes_the_urls():
    emulator = Emulator(host="0.0.0.0", port=0, seed="empty")
    assert emulator.url.startswith("http://127.0.0.1:")
    named = Emulator(port=0, seed="empty", public_host="emulator.test")
    assert named.url.startswith("http://emulator.test:")


def test_a_crash_in_a_handler_is_a_500_not_a_hang(scf_emulator, monkeypatch, caplog):
    def explode(ctx):
        raise RuntimeError("bug")

    routes = [
        dataclasses.replace(r, handler=explode) if r.pattern.pattern == "^/api/v2/emails$" else r
        for r in scf_emulator.application.routes
    ]
    monkeypatch.setattr(scf_emulator.application, "routes", routes)
    response = requests.get(f"{scf_emulator.api_url}/emails", headers=UA, timeout=5)
    assert response.status_code == 500
    assert "emulator error on GET /api/v2/emails" in caplog.text
    assert requests.get(f"{scf_emulator.api_url}/profile", headers=UA, timeout=5).ok
