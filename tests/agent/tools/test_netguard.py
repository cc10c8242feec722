"""SSRF-safe outbound HTTP: every refusal, pinning, redirects, size and time limits."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from agent.tools import netguard
from agent.tools.netguard import OutboundError, OutboundPolicy, OutboundRefused, fetch, origin
from standins.loopback_http import serve_app

PRIVATE_OK = OutboundPolicy(allow_private=True, timeout_seconds=5.0, max_bytes=10_000)
STRICT = OutboundPolicy(allow_private=False, timeout_seconds=5.0, max_bytes=10_000)


def _app() -> Starlette:
    seen: list[dict[str, str]] = []

    async def ok(request: Request) -> Response:
        seen.append({"host": request.headers.get("host", ""), "auth": request.headers.get(
            "authorization", ""), "client": request.client.host if request.client else ""})
        return PlainTextResponse("hello")

    async def redirect(request: Request) -> Response:
        return RedirectResponse(request.query_params["to"], status_code=302)

    async def loop(request: Request) -> Response:
        return RedirectResponse("/loop", status_code=307)

    async def big(request: Request) -> Response:
        async def chunks() -> object:
            for _ in range(100):
                yield b"x" * 1000

        return StreamingResponse(chunks(), media_type="text/plain")  # no content-length

    async def slow(request: Request) -> Response:
        # Stall until the client gives up (its deadline must fire) and disconnects.
        while not await request.is_disconnected():
            await asyncio.sleep(0.05)
        return PlainTextResponse("late")

    app = Starlette(routes=[Route("/ok", ok), Route("/redirect", redirect), Route("/loop", loop),
                            Route("/big", big), Route("/slow", slow)])
    app.state.seen = seen
    return app


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, Starlette]]:
    app = _app()
    with serve_app(app) as base:
        yield base, app


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("10.0.0.5", "a private address"),
        ("172.16.3.4", "a private address"),
        ("192.168.1.1", "a private address"),
        ("fc00::1", "a private address"),
        ("127.0.0.1", "a loopback address"),
        ("::1", "a loopback address"),
        ("169.254.169.254", "a cloud metadata address"),
        ("169.254.10.10", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("0.0.0.0", "an unspecified address"),
        ("224.0.0.1", "a multicast address"),
        ("100.64.1.2", "a shared (CGNAT) address"),
        ("::ffff:10.0.0.5", "a private address"),
        ("::ffff:169.254.169.254", "a cloud metadata address"),
        ("64:ff9b::7f00:1", "a loopback address"),
        ("168.63.129.16", "an Azure platform (wireserver) address"),
    ],
)
def test_address_rules_refuse_non_public_addresses(address: str, reason: str) -> None:
    assert netguard.address_refusal(ipaddress.ip_address(address), False) == reason


def test_public_addresses_are_allowed() -> None:
    for address in ("93.184.215.14", "2606:4700::6810:85e5", "8.8.8.8"):
        assert netguard.address_refusal(ipaddress.ip_address(address), False) is None


def test_allow_private_still_refuses_metadata_and_link_local() -> None:
    assert netguard.address_refusal(ipaddress.ip_address("127.0.0.1"), True) is None
    assert netguard.address_refusal(ipaddress.ip_address("10.1.2.3"), True) is None
    assert netguard.address_refusal(ipaddress.ip_address("169.254.169.254"), True) == (
        "a cloud metadata address")
    assert netguard.address_refusal(ipaddress.ip_address("fe80::1"), True) == "a link-local address"


async def test_loopback_refused_when_private_not_allowed(server: tuple[str, Starlette]) -> None:
    base, app = server
    before = len(app.state.seen)
    with pytest.raises(OutboundRefused, match=r"refused: 127\.0\.0\.1 is a loopback address"):
        await fetch("GET", f"{base}/ok", STRICT)
    assert len(app.state.seen) == before  # nothing was sent


async def test_hostname_resolving_to_loopback_refused(server: tuple[str, Starlette]) -> None:
    base, _ = server
    url = base.replace("127.0.0.1", "localhost")
    with pytest.raises(OutboundRefused, match=r"refused: localhost \(.+\) is a loopback address"):
        await fetch("GET", f"{url}/ok", STRICT)


async def test_hostname_resolving_to_private_address_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def fake_resolve(host: str, port: int) -> list[netguard.IPAddress]:
        # One public and one private answer: any bad address refuses the whole name.
        return [ipaddress.ip_address("93.184.215.14"), ipaddress.ip_address("10.0.0.5")]

    monkeypatch.setattr(netguard, "resolve_host", fake_resolve)
    with pytest.raises(OutboundRefused, match=r"refused: api\.example\.com \(10\.0\.0\.5\) is a "
                       r"private address"):
        await fetch("GET", "https://api.example.com/x", STRICT)


async def test_connection_is_pinned_to_checked_address(
    server: tuple[str, Starlette], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name is resolved once, by us; the connection goes to that IP with the name as Host."""
    base, app = server
    port = int(base.rsplit(":", 1)[1])
    calls: list[str] = []

    async def fake_resolve(host: str, port_: int) -> list[netguard.IPAddress]:
        calls.append(host)
        return [ipaddress.ip_address("127.0.0.1")]

    monkeypatch.setattr(netguard, "resolve_host", fake_resolve)
    # The name does not exist in any DNS: only the pinned address can make this work.
    response = await fetch("GET", f"http://api.sample.invalid:{port}/ok", PRIVATE_OK)
    assert response.text == "hello"
    assert response.url == f"http://api.sample.invalid:{port}/ok"
    assert calls == ["api.sample.invalid"]
    assert app.state.seen[-1]["host"] == f"api.sample.invalid:{port}"


async def test_metadata_refused_even_with_allow_private() -> None:
    with pytest.raises(OutboundRefused, match=r"169\.254\.169\.254 is a cloud metadata address"):
        await fetch("GET", "http://169.254.169.254/metadata/instance", PRIVATE_OK)


async def test_redirect_to_metadata_refused(server: tuple[str, Starlette]) -> None:
    base, _ = server
    with pytest.raises(OutboundRefused, match=r"169\.254\.169\.254 is a cloud metadata address"):
        await fetch("GET", f"{base}/redirect?to=http://169.254.169.254/latest/meta-data/",
                    PRIVATE_OK)


async def test_redirect_outside_allow_list_refused(server: tuple[str, Starlette]) -> None:
    base, _ = server
    policy = OutboundPolicy(allow_private=True, allowed_origins=frozenset({origin(base)}))
    port = base.rsplit(":", 1)[1]
    target = base.replace("127.0.0.1", "localhost") + "/ok"
    with pytest.raises(OutboundRefused,
                       match=f"http://localhost:{port} is not one of the allowed origins"):
        await fetch("GET", f"{base}/redirect?to={target}", policy)
    other_port = f"http://127.0.0.1:{int(port) + 1}/ok"  # same host, another port
    with pytest.raises(OutboundRefused, match="is not one of the allowed origins"):
        await fetch("GET", f"{base}/redirect?to={other_port}", policy)


async def test_redirect_within_rules_is_followed_without_foreign_credentials(
    server: tuple[str, Starlette],
) -> None:
    base, app = server
    same = await fetch("GET", f"{base}/redirect?to=/ok", PRIVATE_OK,
                       headers={"Authorization": "Bearer s3cret"})
    assert same.text == "hello"
    assert app.state.seen[-1]["auth"] == "Bearer s3cret"
    other = base.replace("127.0.0.1", "localhost") + "/ok"
    moved = await fetch("GET", f"{base}/redirect?to={other}", PRIVATE_OK,
                        headers={"Authorization": "Bearer s3cret"})
    assert moved.url == other
    assert app.state.seen[-1]["auth"] == ""  # not forwarded to another origin


async def test_redirect_loop_is_bounded(server: tuple[str, Starlette]) -> None:
    base, _ = server
    with pytest.raises(OutboundRefused, match="more than 5 redirects"):
        await fetch("GET", f"{base}/loop", PRIVATE_OK)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x",
                                 "gopher://127.0.0.1:70/", "javascript:alert(1)"])
async def test_non_http_scheme_refused(url: str) -> None:
    with pytest.raises(OutboundRefused, match="is not http or https"):
        await fetch("GET", url, PRIVATE_OK)


async def test_credentials_in_url_refused() -> None:
    with pytest.raises(OutboundRefused, match="credentials in URLs"):
        await fetch("GET", "http://user:pw@127.0.0.1/", PRIVATE_OK)


async def test_oversized_response_aborted(server: tuple[str, Starlette]) -> None:
    base, _ = server
    with pytest.raises(OutboundError, match="larger than 10000 bytes"):
        await fetch("GET", f"{base}/big", PRIVATE_OK)
    roomy = OutboundPolicy(allow_private=True, max_bytes=200_000)
    assert len((await fetch("GET", f"{base}/big", roomy)).content) == 100_000


async def test_timeout(server: tuple[str, Starlette]) -> None:
    base, _ = server
    policy = OutboundPolicy(allow_private=True, timeout_seconds=0.3)
    with pytest.raises(OutboundError, match=r"timed out after 0\.3s fetching .*/slow"):
        await fetch("GET", f"{base}/slow", policy)


async def test_policy_from_settings() -> None:
    from agent.settings import Settings

    settings = Settings(outbound_allow_private=True, outbound_timeout_seconds=3,
                        outbound_max_bytes=1234)
    policy = OutboundPolicy.from_settings(settings, frozenset({origin("https://A.example/x")}))
    assert (policy.allow_private, policy.timeout_seconds, policy.max_bytes) == (True, 3, 1234)
    assert policy.allowed_origins == frozenset({"https://a.example:443"})
