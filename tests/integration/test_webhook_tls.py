"""An https delivery goes to the address the target check resolved, while TLS is the
name's: the receiver is told the name (SNI and ``Host``) and its certificate must be for
it. A real TLS server on 127.0.0.1, with a certificate made for the test."""

import datetime
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from service.webhooks.sender import Sender, SendLimits, Sent
from service.webhooks.targets import TargetPolicy

#: localhost, because the target check resolves the name (allowed here as a private target).
NAME = "localhost"


def _certificate(folder: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert, private = folder / f"{name}.pem", folder / f"{name}.key"
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert, private


class _Receiver(BaseHTTPRequestHandler):
    #: The Host header of each request received.
    seen: list[str | None] = []
    #: The name each TLS handshake asked for (SNI).
    asked: list[str | None] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append(self.headers["Host"])
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def tls_receiver(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[int, Path]]:
    """A TLS receiver whose certificate is for ``request.param``; yields its port and the
    certificate (which the sender is made to trust)."""
    cert, key = _certificate(tmp_path, request.param)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda _socket, name, _context: _Receiver.asked.append(name)
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Receiver.seen, _Receiver.asked = [], []
    try:
        yield server.server_address[1], cert
    finally:
        server.shutdown()
        server.server_close()


async def _send_to(receiver: tuple[int, Path]) -> Sent:
    """One notification to ``https://localhost:PORT/hook`` by a sender trusting the test's
    certificate, private targets (127.0.0.1) allowed."""
    port, certificate = receiver
    sender = Sender(
        TargetPolicy(allow_private=True),
        SendLimits(connect_seconds=3, read_seconds=3),
        ssl.create_default_context(cafile=str(certificate)),
    )
    try:
        return await sender.send(
            f"https://{NAME}:{port}/hook", "s", "d1", "referral-created", b"{}"
        )
    finally:
        await sender.close()


@pytest.mark.parametrize("tls_receiver", [NAME], indirect=True)
async def test_a_receiver_whose_certificate_is_the_names_gets_the_notification(
    tls_receiver: tuple[int, Path],
) -> None:
    sent = await _send_to(tls_receiver)
    assert sent.ok, sent.error
    assert _Receiver.asked == [NAME]
    assert _Receiver.seen == [f"{NAME}:{tls_receiver[0]}"]


@pytest.mark.parametrize("tls_receiver", ["other.example"], indirect=True)
async def test_a_certificate_for_another_name_is_refused(tls_receiver: tuple[int, Path]) -> None:
    sent = await _send_to(tls_receiver)
    assert not sent.ok
    assert sent.error == "ConnectError"
    assert _Receiver.asked == [NAME]  # the name was asked for, and its certificate refused
    assert _Receiver.seen == []
