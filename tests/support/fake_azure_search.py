"""A loopback HTTP(S) server speaking the Azure AI Search REST query protocol, for tests.

It serves `POST /indexes('{index}')/docs/search.post.search?api-version=...` (the path
azure-search-documents 12 uses; the older `/indexes/{index}/docs/search.post.search` form is
accepted too), answers with the documents scripted per index (each carrying
`@search.score` / `@search.rerankerScore`), records every request (path, query, headers,
JSON body) for assertions, and returns the service's error shape for an unknown index or a
wrong api-key. With `tls=True` it serves HTTPS with a throwaway self-signed certificate for
127.0.0.1 (`ca_file` to trust it), so bearer-token auth, which azure-core only sends over
TLS, can be exercised over the wire too.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import ssl
import tempfile
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

_PATHS = (
    re.compile(r"^/indexes\('(?P<index>[^']+)'\)/docs/search\.post\.search$"),
    re.compile(r"^/indexes/(?P<index>[^/]+)/docs/search\.post\.search$"),
)


@dataclass
class RecordedRequest:
    """One request the fake received."""

    method: str
    path: str
    index: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class FakeAzureSearch:
    """Scripted Azure AI Search service on 127.0.0.1 (use as a context manager)."""

    documents: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    api_key: str | None = None
    tls: bool = False
    requests: list[RecordedRequest] = field(default_factory=list)
    ca_file: Path | None = None
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _tmp: tempfile.TemporaryDirectory[str] | None = None

    @property
    def endpoint(self) -> str:
        assert self._server is not None, "server not started"
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeAzureSearch:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                fake._handle(self)

            def do_GET(self) -> None:
                fake._handle(self)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if self.tls:
            self._tmp = tempfile.TemporaryDirectory()
            cert, key = _self_signed_cert(Path(self._tmp.name))
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            self.ca_file = cert
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        if self._tmp is not None:
            self._tmp.cleanup()

    # --- protocol ---------------------------------------------------------------------
    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else {}
        match = next((m for p in _PATHS if (m := p.match(unquote(parts.path)))), None)
        index = match.group("index") if match else ""
        self.requests.append(RecordedRequest(
            method=handler.command, path=unquote(parts.path), index=index,
            query=parse_qs(parts.query), headers={k.lower(): v for k, v in handler.headers.items()},
            body=body,
        ))
        if handler.command != "POST" or match is None:
            return _send(handler, 404, _error("ResourceNotFound", "No such resource."))
        if "api-version" not in parse_qs(parts.query):
            return _send(handler, 400, _error("MissingApiVersionParameter", "api-version?"))
        if self.api_key is not None and handler.headers.get("api-key") != self.api_key:
            return _send(handler, 403, _error("Forbidden", "Invalid api-key."))
        if index not in self.documents:
            return _send(handler, 404, _error("ResourceNotFound",
                                              f"The index '{index}' was not found."))
        top = int(body.get("top") or 50)
        value = self.documents[index][:top]
        return _send(handler, 200, {"@odata.context": f"{self.endpoint}/indexes('{index}')",
                                    "value": value})


def _send(handler: BaseHTTPRequestHandler, status: int, payload: dict[str, Any]) -> None:
    data = json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json; odata.metadata=none")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def _self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A throwaway certificate and key for 127.0.0.1 (written to `directory`)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return cert_path, key_path
