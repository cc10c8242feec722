"""`api.auth`: the signed-in user from the Easy Auth principal header, or a 401 saying why not.

Units on the parser (every shape a forged or broken header can take, including the ones the dev
server's HTTP parser could not even carry, such as a header over the size limit); the same
refusals through the real server are in test_auth_threads.py.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from starlette.requests import Request

from agent.ownership import Owner
from api.auth import MAX_CLAIM_CHARS, MAX_PRINCIPAL_CHARS, Unauthorized, caller, parse_principal
from tests.support.easyauth import (
    NAME_TYPE,
    OID,
    TENANT,
    TID,
    claims_of,
    encode,
    legacy_owner,
    object_id,
    principal,
)
from tests.support.easyauth import owner as owner_of


def _owner(value: str) -> Owner:
    return parse_principal(value).owner()


def test_an_entra_user_is_the_provider_tenant_and_object_id() -> None:
    assert _owner(principal("alice")).key == f'["aad","{TENANT}","{object_id("alice")}"]'
    assert _owner(principal("alice")).key == owner_of("alice")
    # Another user, or the same object id in another tenant, is someone else.
    assert _owner(principal("bob")).key != owner_of("alice")
    assert _owner(principal("alice", tenant="other-tenant")).key != owner_of("alice")


def test_short_claim_names_and_other_providers() -> None:
    short = encode({"auth_typ": "aad", "claims": [{"typ": "oid", "val": "o-1"},
                                                   {"typ": "tid", "val": "t-1"}]})
    assert _owner(short) == Owner('["aad","t-1","o-1"]', ("aad:t-1/o-1", "aad:o-1"))
    github = encode({"auth_typ": "github", "claims": [
        {"typ": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier",
         "val": "4242"}, {"typ": NAME_TYPE, "val": "octocat"}]})
    assert _owner(github) == Owner('["github","4242"]', ("github:4242",))


def test_ids_that_hold_separators_cannot_pose_as_another_user() -> None:
    # Before: no `tid` and an `oid` of "t1/oid-A" was the owner "aad:t1/oid-A", user A's.
    alice = Owner('["aad","t1","oid-A"]', ("aad:t1/oid-A", "aad:oid-A"))
    forged = _owner(encode({"auth_typ": "aad", "claims": [{"typ": "oid", "val": "t1/oid-A"}]}))
    assert forged.key == '["aad","","t1/oid-A"]' and forged.aliases == ()
    assert not forged.recorded(alice.key) and not any(forged.recorded(a) for a in alice.aliases)
    colon = _owner(encode({"auth_typ": "github", "claims": [{"typ": "sub", "val": "a:b"}]}))
    assert colon.aliases == () and colon.key == '["github","a:b"]'


def test_a_principal_without_tid_is_the_same_user_by_its_issuer() -> None:
    claims = [c for c in claims_of("alice") if c["typ"] != TID]
    without_tid = _owner(encode({"auth_typ": "aad", "claims": claims}))
    assert without_tid.key == owner_of("alice")
    v1_issuer = [{"typ": "iss", "val": f"https://sts.windows.net/{TENANT}/"},
                 {"typ": "oid", "val": object_id("alice")}]
    assert _owner(encode({"auth_typ": "AAD", "claims": v1_issuer})).key == owner_of("alice")
    # No tenant anywhere: still one stable owner, not a 401.
    bare = _owner(encode({"auth_typ": "aad", "claims": [{"typ": "oid", "val": "o-9"}]}))
    assert bare.key == '["aad","","o-9"]'


def test_threads_recorded_under_the_old_form_stay_the_users() -> None:
    alice = _owner(principal("alice"))
    assert alice.recorded(legacy_owner("alice"))
    assert not _owner(principal("bob")).recorded(legacy_owner("alice"))


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


MALFORMED: dict[str, str] = {
    "not base64": "this is not base64!",
    "base64 of bytes that are not UTF-8": _b64(b"\xff\xfe\xfd\x00"),
    "base64 of text that is not JSON": _b64(b"alice"),
    "a JSON array": encode([{"auth_typ": "aad"}]),
    "a JSON string": encode("aad:alice"),
    "a JSON null": encode(None),
    "no auth_typ": encode({"claims": claims_of("alice")}),
    "auth_typ not a string": encode({"auth_typ": 7, "claims": claims_of("alice")}),
    "claims not a list": encode({"auth_typ": "aad", "claims": {"oid": "x"}}),
    "a claim not an object": encode({"auth_typ": "aad", "claims": ["oid=x"]}),
    "a claim value not a string": encode({"auth_typ": "aad", "claims": [{"typ": OID,
                                                                          "val": 1}]}),
    "a claim over the size limit": encode({"auth_typ": "aad", "claims": [
        {"typ": OID, "val": "x" * (MAX_CLAIM_CHARS + 1)}]}),
    "nested too deeply": _b64(b"[" * 20_000),
    "the whole header over the size limit": "A" * (MAX_PRINCIPAL_CHARS + 4),
}


@pytest.mark.parametrize("value", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_principal_is_refused_with_401(value: str) -> None:
    with pytest.raises(Unauthorized) as refused:
        parse_principal(value)
    assert refused.value.status == 401
    assert "X-MS-CLIENT-PRINCIPAL is not a valid App Service Authentication principal" in str(
        refused.value)
    response = refused.value.response()
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_principal_without_a_user_id_claim_is_refused() -> None:
    nameless = encode({"auth_typ": "aad", "claims": [{"typ": NAME_TYPE, "val": "alice"},
                                                      {"typ": TID, "val": TENANT}]})
    principal_ = parse_principal(nameless)
    with pytest.raises(Unauthorized, match="no user id claim"):
        principal_.owner()


def _request(headers: dict[str, str]) -> Request:
    scope: dict[str, Any] = {"type": "http", "method": "GET", "path": "/", "query_string": b"",
                             "headers": [(k.lower().encode(), v.encode())
                                         for k, v in headers.items()]}
    return Request(scope)


def test_caller_reads_the_header_only_in_easyauth_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.settings import get_settings

    signed = _request({"X-MS-CLIENT-PRINCIPAL": principal("alice")})
    monkeypatch.delenv("AUTH_MODE", raising=False)
    get_settings.cache_clear()
    try:
        assert caller(signed) is None  # AUTH_MODE=none: nobody is identified
        monkeypatch.setenv("AUTH_MODE", "easyauth")
        get_settings.cache_clear()
        assert caller(signed) == Owner(owner_of("alice"), (legacy_owner("alice"),
                                                        f"aad:{object_id('alice')}"))
        with pytest.raises(Unauthorized, match="Sign in first"):
            caller(_request({}))
    finally:
        get_settings.cache_clear()
