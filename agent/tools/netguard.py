"""SSRF-safe outbound HTTP for tools that call URLs a model (or a spec) chose.

`fetch()` resolves the host itself, refuses the request unless every resolved address is a
public one (private, loopback, link-local, CGNAT, multicast, reserved and unspecified ranges,
and their IPv4-mapped / NAT64 / 6to4 IPv6 forms, are refused), then connects to the checked
address itself — the URL's host is swapped for the IP, with the original name kept in the
`Host` header and as the TLS SNI/certificate name — so a DNS answer that changes between
check and connect (DNS rebinding) cannot redirect the call. Redirects are followed by hand, at
most `max_redirects` times, and every hop is checked again (scheme, allow-list, addresses).
The whole exchange has one deadline, and the body is streamed and abandoned past `max_bytes`.

`allow_private` lets tests and local development reach loopback/private servers; cloud
metadata and platform addresses (169.254.169.254, fd00:ec2::254, Azure's 168.63.129.16) and the
rest of link-local stay refused even then.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from agent.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALWAYS_REFUSED: dict[IPAddress, str] = {
    ipaddress.ip_address("169.254.169.254"): "a cloud metadata address",
    ipaddress.ip_address("fd00:ec2::254"): "a cloud metadata address",
    ipaddress.ip_address("168.63.129.16"): "an Azure platform (wireserver) address",
}
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PORTS = {"http": 80, "https": 443}
USER_AGENT = "smartbot-tools/1.0"


class OutboundError(Exception):
    """An outbound request failed; the message is safe to show to the model and the user."""


class OutboundRefused(OutboundError):
    """The request was refused by policy before (or instead of) being sent."""


@dataclass(frozen=True)
class OutboundPolicy:
    """What an outbound request may reach, and its limits."""

    allow_private: bool = False
    timeout_seconds: float = 15.0
    max_bytes: int = 1_000_000
    max_redirects: int = 5
    allowed_origins: frozenset[str] | None = None  # "scheme://host:port", see `origin()`

    @classmethod
    def from_settings(
        cls, settings: Settings, allowed_origins: frozenset[str] | None = None
    ) -> OutboundPolicy:
        """The policy the settings describe, optionally limited to some origins."""
        return cls(
            allow_private=settings.outbound_allow_private,
            timeout_seconds=settings.outbound_timeout_seconds,
            max_bytes=settings.outbound_max_bytes,
            allowed_origins=allowed_origins,
        )


def origin(url: str | httpx.URL) -> str:
    """A URL's origin as `scheme://host:port` (default port filled in, host lower-cased)."""
    parsed = httpx.URL(url) if isinstance(url, str) else url
    host = parsed.host.lower().rstrip(".")
    port = parsed.port or _DEFAULT_PORTS.get(parsed.scheme, 0)
    return f"{parsed.scheme}://{host}:{port}"


@dataclass(frozen=True)
class FetchedResponse:
    """A completed (size-bounded) response; `url` is the final URL with its real host name."""

    url: str
    status_code: int
    headers: httpx.Headers
    content: bytes = field(repr=False)

    @property
    def content_type(self) -> str:
        """The media type, lower case, without parameters."""
        value = str(self.headers.get("content-type", ""))
        return value.split(";")[0].strip().lower()

    @property
    def text(self) -> str:
        """The body decoded with the declared charset (UTF-8 if none or unknown)."""
        return httpx.Response(200, headers=self.headers, content=self.content).text


def address_refusal(ip: IPAddress, allow_private: bool) -> str | None:
    """Why a connection to `ip` is refused (e.g. "a private address"), or None if allowed."""
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        return address_refusal(embedded, allow_private)
    if ip in ALWAYS_REFUSED:
        return ALWAYS_REFUSED[ip]
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_loopback:
        return None if allow_private else "a loopback address"
    if ip.version == 4 and ip in _CGNAT:
        return None if allow_private else "a shared (CGNAT) address"
    if ip.is_private:
        return None if allow_private else "a private address"
    if ip.is_reserved:
        return "a reserved address"
    if not ip.is_global:
        return "a non-public address"
    return None


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, NAT64, 6to4), if any."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


async def resolve_host(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to (an IP literal resolves to itself)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OutboundError(f"cannot resolve host {host}") from exc
    addresses: list[IPAddress] = []
    for info in infos:
        text = str(info[4][0]).split("%", 1)[0]  # drop an IPv6 zone id
        address = ipaddress.ip_address(text)
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise OutboundError(f"cannot resolve host {host}")
    return addresses


def check_url_form(url: str | httpx.URL, policy: OutboundPolicy) -> httpx.URL:
    """What can be refused without DNS: a URL that doesn't parse, a scheme other than http(s),
    no host, credentials, an origin off the allow-list, an IP-literal host `policy` refuses.
    Returns the parsed URL; raises OutboundRefused."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise OutboundRefused(f"refused: invalid URL {str(url)!r}") from exc
    _check_form(parsed, policy)
    host = parsed.host.lower().rstrip(".")
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        return parsed
    reason = address_refusal(literal, policy.allow_private)
    if reason is not None:
        raise OutboundRefused(f"refused: {host} is {reason}")
    return parsed


def _check_form(url: httpx.URL, policy: OutboundPolicy) -> None:
    if url.scheme not in _DEFAULT_PORTS:
        raise OutboundRefused(f"refused: scheme {url.scheme or '(none)'!r} is not http or https")
    host = url.host.lower().rstrip(".")
    if not host:
        raise OutboundRefused("refused: the URL has no host")
    if url.userinfo:
        raise OutboundRefused("refused: credentials in URLs are not allowed")
    if policy.allowed_origins is not None and origin(url) not in policy.allowed_origins:
        raise OutboundRefused(f"refused: {origin(url)} is not one of the allowed origins")


async def check_url(url: httpx.URL, policy: OutboundPolicy) -> IPAddress:
    """Check scheme, allow-list and every resolved address; return the address to pin."""
    _check_form(url, policy)
    host = url.host.lower().rstrip(".")
    port = url.port or _DEFAULT_PORTS[url.scheme]
    addresses = await resolve_host(host, port)
    for address in addresses:
        reason = address_refusal(address, policy.allow_private)
        if reason is not None:
            shown = str(address) if str(address) == host else f"{host} ({address})"
            raise OutboundRefused(f"refused: {shown} is {reason}")
    return addresses[0]


async def fetch(
    method: str,
    url: str,
    policy: OutboundPolicy,
    *,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    json: Any = None,
) -> FetchedResponse:
    """Send one request under `policy`, following checked redirects; raise OutboundError."""
    try:
        current = httpx.URL(url, params=params) if params else httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise OutboundRefused(f"refused: invalid URL {url!r}") from exc
    try:
        async with asyncio.timeout(policy.timeout_seconds):
            return await _fetch_following(method.upper(), current, policy, headers, json)
    except (TimeoutError, httpx.TimeoutException) as exc:
        raise OutboundError(
            f"timed out after {policy.timeout_seconds:g}s fetching {_shown(current)}"
        ) from exc
    except httpx.HTTPError as exc:
        raise OutboundError(f"request to {_shown(current)} failed: {type(exc).__name__}") from exc


async def _fetch_following(
    method: str,
    url: httpx.URL,
    policy: OutboundPolicy,
    headers: Mapping[str, str] | None,
    body: Any,
) -> FetchedResponse:
    extra = dict(headers or {})
    timeout = httpx.Timeout(policy.timeout_seconds)
    async with httpx.AsyncClient(
        follow_redirects=False, trust_env=False, timeout=timeout, verify=True
    ) as client:
        for _hop in range(policy.max_redirects + 1):
            address = await check_url(url, policy)
            request = _pinned_request(client, method, url, address, extra, body)
            response = await client.send(request, stream=True)
            try:
                location = response.headers.get("location")
                if response.status_code in _REDIRECT_CODES and location:
                    target = url.join(location)
                    if _origin(target) != _origin(url):
                        extra = {}  # never forward credentials to another origin
                    if response.status_code == 303 or (
                        response.status_code in (301, 302) and method == "POST"
                    ):
                        method, body = "GET", None
                    url = target
                    continue
                content = await _read_bounded(response, policy.max_bytes, url)
                return FetchedResponse(str(url), response.status_code, response.headers, content)
            finally:
                await response.aclose()
    raise OutboundRefused(f"refused: more than {policy.max_redirects} redirects")


def _pinned_request(
    client: httpx.AsyncClient,
    method: str,
    url: httpx.URL,
    address: IPAddress,
    headers: Mapping[str, str],
    body: Any,
) -> httpx.Request:
    """A request for `url` sent to `address`, with Host and SNI naming the real host."""
    host_header = url.host if url.port is None else f"{url.host}:{url.port}"
    if ":" in url.host and url.port is None:
        host_header = f"[{url.host}]"
    elif ":" in url.host:
        host_header = f"[{url.host}]:{url.port}"
    merged = {"User-Agent": USER_AGENT, **headers, "Host": host_header}
    extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}
    return client.build_request(
        method,
        url.copy_with(host=str(address)),
        headers=merged,
        json=body,
        extensions=extensions,
    )


async def _read_bounded(response: httpx.Response, max_bytes: int, url: httpx.URL) -> bytes:
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise OutboundError(f"response from {_shown(url)} is larger than {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise OutboundError(f"response from {_shown(url)} is larger than {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host, url.port)


def _shown(url: httpx.URL) -> str:
    """The URL without its query string (which may carry keys) for error messages."""
    return str(url.copy_with(query=None, fragment=None))
