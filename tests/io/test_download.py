"""End-to-end tests of checked downloads against a real HTTP server on 127.0.0.1."""

import hashlib
import http.server
import socket
import threading
import time
from typing import ClassVar

import pytest

from stgraph.io.download import ChecksumError, DownloadError, download, file_digest, verify_file

PAYLOAD = bytes(range(256)) * 40  # 10,240 bytes
SHA256 = hashlib.sha256(PAYLOAD).hexdigest()
GIT_BLOB = hashlib.sha1(b"blob %d\0" % len(PAYLOAD) + PAYLOAD).hexdigest()


class Handler(http.server.BaseHTTPRequestHandler):
    """/good: honours Range; /corrupt: one flipped byte; /cut: the first full request stops
    halfway; /norange: ignores Range (always 200)."""

    requests: ClassVar[list[tuple[str, str | None]]] = []
    cut_done = False

    def do_GET(self):
        Handler.requests.append((self.path, self.headers.get("Range")))
        body = PAYLOAD
        if self.path == "/corrupt":
            body = PAYLOAD[:-1] + b"\x00"
        elif self.path not in ("/good", "/cut", "/norange"):
            self.send_error(404)
            return
        start = 0
        range_header = self.headers.get("Range")
        if range_header and self.path != "/norange":
            start = int(range_header.removeprefix("bytes=").rstrip("-"))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        if self.path == "/cut" and not Handler.cut_done:
            Handler.cut_done = True
            self.wfile.write(body[: len(body) // 2])  # then the connection drops
            self.close_connection = True
            return
        self.wfile.write(body[start:])

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    """Serve on a free port until the test ends (at most 30 s, then it stops by itself)."""
    Handler.requests, Handler.cut_done = [], False
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.timeout = 0.05
    stop = threading.Event()
    deadline = time.monotonic() + 30

    def serve():
        while not stop.is_set() and time.monotonic() < deadline:
            httpd.handle_request()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    stop.set()
    thread.join(timeout=5)
    httpd.server_close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_digests_match_git_hash_object(tmp_path):
    path = tmp_path / "hello.txt"
    path.write_bytes(b"hello\n")
    assert file_digest(path, "git_blob") == "ce013625030ba8dba906f756967f9e9ca394464a"  # git hash-object
    assert file_digest(path) == hashlib.sha256(b"hello\n").hexdigest()
    assert verify_file(path) is None
    with pytest.raises(ValueError, match="unknown digest kind 'md5'"):
        file_digest(path, "md5")


def test_good_file_verified_by_sha256_and_by_git_blob(server, tmp_path):
    target = download(f"{server}/good", tmp_path / "a" / "readings.h5", sha256=SHA256, progress=False)
    assert target.read_bytes() == PAYLOAD
    assert not (tmp_path / "a" / "readings.h5.part").exists()
    assert file_digest(target, "git_blob") == GIT_BLOB
    second = download(f"{server}/good", tmp_path / "b.h5", git_blob=GIT_BLOB, progress=False)
    assert verify_file(second, git_blob=GIT_BLOB) == "git_blob"


def test_corrupted_file_is_never_put_in_place(server, tmp_path):
    target = tmp_path / "readings.h5"
    target.write_bytes(b"previous good copy")
    with pytest.raises(ChecksumError, match=f"expected {SHA256}, got [0-9a-f]{{64}}"):
        download(f"{server}/corrupt", target, sha256=SHA256, progress=False)
    assert target.read_bytes() == b"previous good copy"
    assert not (tmp_path / "readings.h5.part").exists()
    with pytest.raises(ChecksumError, match=f"git_blob mismatch: expected {GIT_BLOB}"):
        download(f"{server}/corrupt", tmp_path / "other.h5", git_blob=GIT_BLOB, progress=False)


def test_cut_connection_leaves_only_the_part_then_resumes_with_range(server, tmp_path):
    target = tmp_path / "readings.h5"
    part = tmp_path / "readings.h5.part"
    with pytest.raises(DownloadError, match=r"after 5120 of 10240 bytes.*readings\.h5\.part.*resume"):
        download(f"{server}/cut", target, sha256=SHA256, progress=False)
    assert not target.exists()
    assert part.read_bytes() == PAYLOAD[:5120]
    download(f"{server}/cut", target, sha256=SHA256, progress=False)
    assert target.read_bytes() == PAYLOAD and not part.exists()
    assert Handler.requests == [("/cut", None), ("/cut", "bytes=5120-")]


def test_server_without_range_support_restarts(server, tmp_path):
    (tmp_path / "f.part").write_bytes(b"stale bytes")
    download(f"{server}/norange", tmp_path / "f", sha256=SHA256, progress=False)
    assert (tmp_path / "f").read_bytes() == PAYLOAD


def test_http_error_names_the_file_to_place(server, tmp_path):
    with pytest.raises(DownloadError, match=r"HTTP 404.*place it at .*missing\.csv"):
        download(f"{server}/missing", tmp_path / "missing.csv", progress=False)


def test_no_network_says_which_file_to_place_where(tmp_path):
    target = tmp_path / "metr-la" / "metr-la.h5"
    url = f"http://127.0.0.1:{closed_port()}/metr-la.h5"
    with pytest.raises(DownloadError) as info:
        download(url, target, sha256=SHA256, progress=False, timeout=5)
    message = str(info.value)
    assert f"could not reach {url}" in message
    assert f"Download {url} by hand and place it at {target}; it should have sha256 {SHA256}" in message
    assert not target.exists()


def test_complete_part_of_known_size_is_verified_offline(tmp_path):
    (tmp_path / "f.part").write_bytes(PAYLOAD)
    url = f"http://127.0.0.1:{closed_port()}/f"
    download(url, tmp_path / "f", sha256=SHA256, size=len(PAYLOAD), progress=False)
    assert (tmp_path / "f").read_bytes() == PAYLOAD
