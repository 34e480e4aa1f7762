"""A connection that fails says why, and only an outage is retried.

A certificate the bridge does not trust, or ``https://`` aimed at a port that serves
plain http, is a configuration problem: no retry fixes it, so the command exits 1 at
once naming the host, what failed and what to do (the systemd unit does not restart
exit 1).  A refused or reset connection, or a name lookup that failed for now, stays
passing trouble (exit 3), with its cause in the log line and the error instead of a
bare "connection failed".

The TLS tests run the sandbox behind a real TLS listener on loopback, with a
self-signed certificate made for the test by ``openssl``.
"""

from __future__ import annotations

import http.client
import json
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from conftest import SANDBOX_NOW, Sandbox
from e2e_helpers import without_waiting
from test_exit_codes import config_for
from urllib3.exceptions import (
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    SSLError,
)

from bridge.cli import main
from bridge.jira.retry import (
    AmbiguousWrite,
    Retrier,
    RetryPolicy,
    TlsFailure,
    Transient,
    tls_failure,
)
from bridge.sandbox import seed as seeds
from bridge.sandbox.server import SandboxServer

NOW = SANDBOX_NOW.isoformat()


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JIRA_API_TOKEN", seeds.BRIDGE_TOKEN)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)


def run_once(config: Path) -> int:
    return main(["run", "--once", "--config", str(config), "--now", NOW])


def with_url(config: Path, url: str, *, verify_tls: bool | None = None) -> Path:
    text = config.read_text(encoding="utf-8")
    lines = []
    for line in text.splitlines():
        if line.startswith("  url: "):
            line = f"  url: {url}"
            if verify_tls is not None:
                line += f"\n  verify_tls: {str(verify_tls).lower()}"
        lines.append(line)
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config


# ------------------------------------------------------------------------------ TLS


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key (PEM files)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed: the TLS tests need it to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    made_for = ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
    files = ["-keyout", str(key), "-out", str(cert)]
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", *made_for, *files],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def tls_sandbox(certificate: tuple[Path, Path]) -> Iterator[tuple[Sandbox, str]]:
    """The demo sandbox served over TLS with the self-signed certificate; its https URL."""
    cert, key = certificate
    store = seeds.build("demo", now=SANDBOX_NOW, frozen=True)
    server = SandboxServer(store, "127.0.0.1", 0, flavour="cloud")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    # the listening socket swapped for a TLS one before serving (the sandbox speaks http)
    server._httpd.socket = context.wrap_socket(server._httpd.socket, server_side=True)
    server.start()
    try:
        yield Sandbox(server), f"https://127.0.0.1:{server.port}"
    finally:
        server.stop()


def test_an_untrusted_certificate_exits_1_at_once_saying_what_to_do(
    tls_sandbox: tuple[Sandbox, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sb, url = tls_sandbox
    without_waiting(monkeypatch)
    config = with_url(config_for(tmp_path, sb), url)
    assert run_once(config) == 1
    err = capsys.readouterr().err
    error = next(line for line in err.splitlines() if line.startswith("error:"))
    assert "127.0.0.1" in error
    assert "TLS certificate could not be verified: self-signed certificate" in error
    assert "REQUESTS_CA_BUNDLE" in error and "jira.verify_tls: false" in error
    assert "unavailable" not in error and "attempts" not in error
    assert "jira.retry" not in err  # not one retry
    assert seeds.BRIDGE_TOKEN not in err
    assert sb.requests.entries() == []  # nothing got through


@pytest.mark.parametrize("fix", ["ca-bundle", "verify_tls-false"])
def test_either_fix_the_error_names_lets_the_cycle_run(
    tls_sandbox: tuple[Sandbox, str],
    certificate: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    fix: str,
) -> None:
    """The advice works: the site's CA in REQUESTS_CA_BUNDLE, or (a test site) no checking."""
    sb, url = tls_sandbox
    without_waiting(monkeypatch)
    config = with_url(config_for(tmp_path, sb), url)
    assert run_once(config) == 1
    if fix == "ca-bundle":
        assert "point REQUESTS_CA_BUNDLE at it" in capsys.readouterr().err
        # a bundle without the site's CA: the error names it
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", requests.certs.where())
        assert run_once(config) == 1
        assert f"REQUESTS_CA_BUNDLE={requests.certs.where()} holds no CA" in capsys.readouterr().err
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate[0]))
    else:
        assert "jira.verify_tls: false" in capsys.readouterr().err
        config = with_url(config_for(tmp_path, sb), url, verify_tls=False)
    assert run_once(config) == 0
    assert sb.requests.count(kind="write") > 0


def test_a_certificate_for_another_host_name_says_to_use_the_name_it_names(
    tls_sandbox: tuple[Sandbox, str],
    certificate: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The CA is trusted, but the certificate is made for 127.0.0.1, not localhost."""
    sb, url = tls_sandbox
    without_waiting(monkeypatch)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate[0]))
    config = with_url(config_for(tmp_path, sb), url.replace("127.0.0.1", "localhost"))
    assert run_once(config) == 1
    error = next(line for line in capsys.readouterr().err.splitlines() if line.startswith("error:"))
    assert "localhost" in error and "not valid for 'localhost'" in error
    assert "the host name the site's certificate names" in error


def test_https_against_a_plain_http_port_exits_1_asking_whether_it_serves_https(
    sandbox: Sandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    without_waiting(monkeypatch)
    url = sandbox.url.replace("http://", "https://")
    assert run_once(with_url(config_for(tmp_path, sandbox), url)) == 1
    err = capsys.readouterr().err
    error = next(line for line in err.splitlines() if line.startswith("error:"))
    assert f"127.0.0.1:{sandbox.server.port}" in error
    assert "wrong version number" in error and "is the port serving https?" in error
    assert "jira.retry" not in err


def test_check_online_exits_1_for_an_untrusted_certificate(
    tls_sandbox: tuple[Sandbox, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sb, url = tls_sandbox
    without_waiting(monkeypatch)
    config = with_url(config_for(tmp_path, sb), url)
    assert main(["check", "--online", "--config", str(config)]) == 1
    assert "self-signed certificate" in capsys.readouterr().out


def test_setup_site_exits_1_for_an_untrusted_certificate(
    tls_sandbox: tuple[Sandbox, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sb, url = tls_sandbox
    without_waiting(monkeypatch)
    config = with_url(config_for(tmp_path, sb), url)
    assert main(["setup-site", "--config", str(config)]) == 1
    assert "self-signed certificate" in capsys.readouterr().err


# ------------------------------------------------------------- failures that pass


def closed_port() -> int:
    """A loopback port nothing listens on (bound, read back, closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_refused_connection_is_retried_and_exits_3_saying_refused(
    sandbox: Sandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    without_waiting(monkeypatch, max_attempts=2)
    config = with_url(config_for(tmp_path, sandbox), f"http://127.0.0.1:{closed_port()}")
    assert main(["-v", "run", "--once", "--config", str(config), "--now", NOW]) == 3
    err = capsys.readouterr().err
    retries = [json.loads(line) for line in err.splitlines() if '"jira.retry"' in line]
    assert [r["reason"] for r in retries] == ["connection refused"]
    error = next(line for line in err.splitlines() if line.startswith("error:"))
    assert "(connection refused)" in error and "the next cycle will try again" in error


def connection_error(inner: BaseException) -> requests.exceptions.ConnectionError:
    """What requests raises around urllib3's failure (as its adapter wraps it)."""
    return requests.exceptions.ConnectionError(MaxRetryError(None, "/rest/api/2/myself", inner))  # type: ignore[arg-type]


def unresolved() -> NameResolutionError:
    """urllib3's failed name lookup, raised from the resolver's error as urllib3 raises it."""
    lookup = socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
    try:
        raise NameResolutionError("jira.example", None, lookup) from lookup  # type: ignore[arg-type]
    except NameResolutionError as exc:
        return exc


@pytest.mark.parametrize(
    ("failure", "cause"),
    [
        (
            connection_error(unresolved()),
            "host name not resolved: temporary failure in name resolution",
        ),
        (
            connection_error(
                ProtocolError(
                    "Connection aborted.", ConnectionResetError(104, "Connection reset by peer")
                )
            ),
            "connection reset by peer",
        ),
        (
            connection_error(
                ProtocolError(
                    "Connection aborted.",
                    http.client.RemoteDisconnected("Remote end closed connection without response"),
                )
            ),
            "the server closed the connection without answering",
        ),
        (
            connection_error(
                NewConnectionError(
                    None,  # type: ignore[arg-type]
                    "Failed to establish a new connection: [Errno 101] Network is unreachable",
                )
            ),
            "network is unreachable",
        ),
    ],
    ids=["dns-temporary", "reset", "closed", "unreachable"],
)
def test_a_connection_failure_keeps_a_short_cause_and_stays_transient(
    failure: requests.exceptions.ConnectionError, cause: str
) -> None:
    def send() -> requests.Response:
        raise failure

    retrier = Retrier(RetryPolicy(max_attempts=2, sleep=lambda _s: None, jitter=0.0))
    with pytest.raises(Transient) as raised:
        retrier.run(send, idempotent=True, what="GET /rest/api/2/myself")
    assert raised.value.kind == "connection"
    assert raised.value.detail == cause


def as_urllib3(error: ssl.SSLError) -> requests.exceptions.SSLError:
    """requests' SSLError around OpenSSL's ``error``, as urllib3 2 wraps it: the same
    whether the handshake failed or a read of the answer did."""
    return requests.exceptions.SSLError(MaxRetryError(None, "/", SSLError(error)))  # type: ignore[arg-type]


def handshake_error(server_says: bytes) -> ssl.SSLError:
    """The error OpenSSL raises in a real client handshake to which the server answers
    ``server_says`` (in memory: no socket)."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = ssl.create_default_context().wrap_bio(incoming, outgoing, server_hostname="jira")
    with pytest.raises(ssl.SSLWantReadError):
        client.do_handshake()  # the ClientHello is out
    incoming.write(server_says)
    with pytest.raises(ssl.SSLError) as raised:
        client.do_handshake()
    return raised.value


#: a TLS record: fatal alert, handshake_failure (RFC 8446 §6)
ALERT_HANDSHAKE_FAILURE = bytes([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28])


def read_error(certificate: tuple[Path, Path], record: bytes) -> ssl.SSLError:
    """The error OpenSSL raises reading ``record`` after a real, completed handshake
    (in memory: the request would have been sent by then)."""
    cert, key = certificate
    client_context = ssl.create_default_context(cafile=str(cert))
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(str(cert), str(key))
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_context.wrap_bio(c_in, c_out, server_hostname="127.0.0.1")
    server = server_context.wrap_bio(s_in, s_out, server_side=True)
    done = [False, False]
    for _ in range(10):
        for i, end in enumerate((client, server)):
            if not done[i]:
                try:
                    end.do_handshake()
                    done[i] = True
                except ssl.SSLWantReadError:
                    pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if all(done):
            break
    assert all(done), "the in-memory handshake should have completed"
    c_in.write(record)
    with pytest.raises(ssl.SSLError) as raised:
        client.read(100)
    return raised.value


def test_a_handshake_the_site_refuses_is_not_retried_but_a_cut_one_is() -> None:
    """A refused handshake (no cipher or TLS version both ends accept) fails the same way
    every time; a TLS connection cut short (an EOF) may be a passing network fault."""
    sent: list[int] = []
    refusal = handshake_error(ALERT_HANDSHAKE_FAILURE)
    assert refusal.reason == "SSLV3_ALERT_HANDSHAKE_FAILURE"

    def refused() -> requests.Response:
        sent.append(1)
        raise as_urllib3(refusal)

    def cut() -> requests.Response:
        eof = ssl.SSLEOFError(8, "[SSL: UNEXPECTED_EOF_WHILE_READING] unexpected eof")
        eof.reason = "UNEXPECTED_EOF_WHILE_READING"
        raise as_urllib3(eof)

    retrier = Retrier(RetryPolicy(max_attempts=3, sleep=lambda _s: None, jitter=0.0))
    with pytest.raises(TlsFailure) as failure:
        retrier.run(refused, idempotent=True, what="GET /rest/api/2/myself")
    assert (failure.value.kind, failure.value.detail) == (
        "handshake",
        "sslv3 alert handshake failure",
    )
    assert len(sent) == 1
    with pytest.raises(Transient) as passing:
        retrier.run(cut, idempotent=True, what="GET /rest/api/2/myself")
    assert passing.value.detail == "TLS connection failed: unexpected eof while reading"


def by_hand(reason: str) -> ssl.SSLError:
    """An OpenSSL error with ``reason``, built by hand (no trace of where it was raised)."""
    error = ssl.SSLError(1, f"[SSL: {reason}] {reason.lower().replace('_', ' ')} (_ssl.c:2580)")
    error.reason = reason
    return error


@pytest.mark.parametrize(
    "make",
    [
        # real OpenSSL errors, reading a damaged record after the handshake
        pytest.param(
            lambda c: as_urllib3(read_error(c, bytes([23, 3, 3, 0x48, 0]) + bytes(0x4800))),
            id="packet-length-too-long",
        ),
        pytest.param(
            lambda c: as_urllib3(read_error(c, bytes([23, 3, 1, 0, 5]) + bytes(5))),
            id="wrong-version-mid-stream",
        ),
        # OpenSSL 3.2+'s word for a damaged record, as urllib3 2 wraps it and inside
        # "Connection aborted." as the reviewer saw it
        pytest.param(lambda _c: as_urllib3(by_hand("RECORD_LAYER_FAILURE")), id="record-layer"),
        pytest.param(
            lambda _c: requests.exceptions.ConnectionError(
                ProtocolError("Connection aborted.", by_hand("RECORD_LAYER_FAILURE"))
            ),
            id="record-layer-aborted",
        ),
    ],
)
def test_a_tls_error_reading_the_answer_is_a_lost_answer_not_a_config_error(
    certificate: tuple[Path, Path],
    make: Callable[[tuple[Path, Path]], requests.exceptions.ConnectionError],
) -> None:
    """A TLS error once the request may have been sent (the handshake was over, or urllib3
    says the exchange was under way) is a connection cut short: a read is retried, a
    comment or a transition is ambiguous (the next cycle checks the issue first)."""
    error = make(certificate)
    assert tls_failure(error) is None

    def send() -> requests.Response:
        raise error

    retrier = Retrier(RetryPolicy(max_attempts=2, sleep=lambda _s: None, jitter=0.0))
    with pytest.raises(Transient) as passing:
        retrier.run(send, idempotent=True, what="POST /rest/api/3/search/jql")
    assert passing.value.kind == "connection"
    assert passing.value.detail.startswith("TLS connection failed: ")
    with pytest.raises(AmbiguousWrite):
        retrier.run(send, idempotent=False, what="POST /rest/api/2/issue/SUP-1/comment")


def test_an_alert_met_after_the_handshake_refuses_a_read_and_leaves_a_write_in_doubt() -> None:
    """A site that requires a client certificate says so, in TLS 1.3, with an alert the
    client meets on its first read, its own handshake done (no ``do_handshake`` in the
    trace, inside urllib3's "Connection aborted.").  A read is refused at once, the site's
    own refusal (a config error, exit 1); a comment so refused stays in doubt, and the
    next read meets the alert.  (A damaged record is never an alert: that stays a
    connection cut short, above.)"""
    error = requests.exceptions.ConnectionError(
        ProtocolError("Connection aborted.", by_hand("TLSV13_ALERT_CERTIFICATE_REQUIRED"))
    )

    def send() -> requests.Response:
        raise error

    retrier = Retrier(RetryPolicy(max_attempts=3, sleep=lambda _s: None, jitter=0.0))
    with pytest.raises(TlsFailure) as refused:
        retrier.run(send, idempotent=True, what="GET /rest/api/2/myself")
    assert refused.value.detail == "tlsv13 alert certificate required"
    with pytest.raises(AmbiguousWrite):
        retrier.run(send, idempotent=False, what="POST /rest/api/2/issue/SUP-1/comment")


# ------------------------------------------------------------- not Jira at all


class LoginPage(BaseHTTPRequestHandler):
    """An SSO proxy in front of Jira: every path answers 200 with its login page."""

    def do_GET(self) -> None:
        body = b"<!doctype html><html><body><form>Sign in</form></body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def login_page() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), LoginPage)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("command", ["run", "check"])
def test_a_login_page_instead_of_jira_exits_1_naming_the_url(
    login_page: str,
    sandbox: Sandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    command: str,
) -> None:
    without_waiting(monkeypatch)
    config = with_url(config_for(tmp_path, sandbox), login_page)
    if command == "run":
        assert run_once(config) == 1
        shown = capsys.readouterr().err
    else:
        assert main(["check", "--online", "--config", str(config)]) == 1
        shown = capsys.readouterr().out
    assert "not JSON" in shown and "jira.url" in shown
    assert "jira.retry" not in shown
