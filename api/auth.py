"""Who is calling: the user App Service Authentication (Easy Auth) signed in, read from the
`X-MS-CLIENT-PRINCIPAL` header the platform adds to every request it lets through (and strips
from what clients send).

With AUTH_MODE=none (the default) nobody is identified and every thread is anyone's. With
AUTH_MODE=easyauth, `caller` returns the user as an `agent.ownership.Owner`, recorded with their
threads. Its key encodes the identity provider, the tenant and the object id (`oid`) for
Microsoft Entra ID, else the provider's subject (`nameidentifier` / `sub`), as a JSON array,
so no id can pose as another whatever characters it holds. The tenant comes from the `tid`
claim, or from the token issuer (`iss`) when the principal carries no `tid`, so the same user
maps to the same owner either way. Threads recorded by earlier versions
(`provider:tenant/oid`, `provider:id`) stay the user's (`Owner.aliases`), but only for ids
made of characters those forms could not confuse.

A request without the header, or with one that is not what Easy Auth sends (not base64, not a
JSON object of the right shape, over MAX_PRINCIPAL_CHARS, no user id claim), is refused with 401
and a message saying so, never a 500. The header is trusted only because Easy Auth sets it:
AUTH_MODE=easyauth is for an app behind Easy Auth (infra/app/auth.bicep), where no client can
send it itself.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from starlette.requests import Request

from agent.ownership import Owner, owner_key
from agent.settings import get_settings
from api.problems import Problem

PRINCIPAL_HEADER = "x-ms-client-principal"
# Easy Auth principals are a few kilobytes at most (the claims of one token).
MAX_PRINCIPAL_CHARS = 32 * 1024
MAX_CLAIM_CHARS = 1024
# Claim types as Easy Auth maps them, and as the token has them.
OBJECT_ID = ("http://schemas.microsoft.com/identity/claims/objectidentifier", "oid")
TENANT_ID = ("http://schemas.microsoft.com/identity/claims/tenantid", "tid")
SUBJECT = ("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier", "sub")
ISSUER = ("iss",)
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="smartbot"'}
# An Entra ID issuer: https://login.microsoftonline.com/{tid}/v2.0 or https://sts.windows.net/{tid}/
_ISSUER_TENANT = re.compile(r"^https://[^/]+/([0-9A-Fa-f-]{36})(?:/|$)")
# Ids the colon-and-slash forms of earlier versions could hold without ambiguity.
_PLAIN_ID = re.compile(r"^[A-Za-z0-9._-]+$")

ClaimText = Annotated[str, StringConstraints(max_length=MAX_CLAIM_CHARS)]


class Unauthorized(Problem):
    """No usable signed-in user: 401 with what is wrong, and the challenge HTTP requires."""

    def __init__(self, detail: str) -> None:
        super().__init__(401, detail, headers=CHALLENGE)


class PrincipalClaim(BaseModel):
    """One claim of the principal."""

    model_config = ConfigDict(extra="ignore", strict=True)

    typ: ClaimText
    val: ClaimText


class ClientPrincipal(BaseModel):
    """The principal Easy Auth sends: `{"auth_typ", "claims": [{"typ", "val"}], "name_typ",
    "role_typ"}`."""

    model_config = ConfigDict(extra="ignore", strict=True)

    auth_typ: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                               max_length=64, to_lower=True)]
    claims: list[PrincipalClaim] = Field(max_length=1000)

    def claim(self, types: tuple[str, ...]) -> str | None:
        """The first value of the first of these claim types the principal has."""
        found = {c.typ: c.val for c in reversed(self.claims) if c.val}
        return next((found[t] for t in types if found.get(t)), None)

    def tenant(self) -> str:
        """The Entra ID tenant: the `tid` claim, else the issuer's tenant, else empty."""
        tid = self.claim(TENANT_ID)
        if tid:
            return tid
        match = _ISSUER_TENANT.match(self.claim(ISSUER) or "")
        return match.group(1).lower() if match else ""

    def owner(self) -> Owner:
        """The user's stable identity, the owner recorded with their threads."""
        provider = self.auth_typ
        object_id = self.claim(OBJECT_ID)
        if object_id:
            tenant = self.tenant()
            return Owner(owner_key(provider, tenant, object_id),
                         _aliases(provider, tenant, object_id))
        subject = self.claim(SUBJECT)
        if subject:
            return Owner(owner_key(provider, subject), _aliases(provider, "", subject))
        raise Unauthorized("The signed-in principal (X-MS-CLIENT-PRINCIPAL) has no user id "
                           "claim (oid or nameidentifier); sign in with an account.")


def _aliases(provider: str, tenant: str, user_id: str) -> tuple[str, ...]:
    """The owner values earlier versions recorded for this user (`provider:tenant/id` or
    `provider:id`), when the parts can't be confused in them."""
    if not all(_PLAIN_ID.match(part) for part in (provider, user_id)):
        return ()
    aliases = [f"{provider}:{user_id}"]
    if tenant and _PLAIN_ID.match(tenant):
        aliases.insert(0, f"{provider}:{tenant}/{user_id}")
    return tuple(aliases)


def _malformed(what: str) -> Unauthorized:
    return Unauthorized(f"X-MS-CLIENT-PRINCIPAL is not a valid App Service Authentication "
                        f"principal ({what}); sign in again.")


def _problem(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "the principal"
    if first["type"] == "missing":
        return f"no {where}"
    if first["type"] in ("string_too_long", "too_long"):
        return f"{where} is too long (a claim may have {MAX_CLAIM_CHARS} characters)"
    if first["type"] in ("json_invalid", "model_type", "model_attributes_type"):
        return "not a JSON object of the expected shape"
    return f"{where} is not what Easy Auth sends"


def parse_principal(value: str) -> ClientPrincipal:
    """The principal in an `X-MS-CLIENT-PRINCIPAL` value, or `Unauthorized` saying why not."""
    if len(value) > MAX_PRINCIPAL_CHARS:
        raise _malformed(f"over {MAX_PRINCIPAL_CHARS} characters")
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise _malformed("not base64-encoded JSON") from None
    try:
        return ClientPrincipal.model_validate_json(raw)
    except ValidationError as exc:
        raise _malformed(_problem(exc)) from None


def caller(request: Request) -> Owner | None:
    """The signed-in caller (AUTH_MODE=easyauth), or None (AUTH_MODE=none).

    Raises `Unauthorized` (a `Problem`, 401) when Easy Auth mode finds no usable principal.
    """
    if get_settings().auth_mode != "easyauth":
        return None
    value = request.headers.get(PRINCIPAL_HEADER)
    if not value:
        raise Unauthorized("Sign in first: this API serves signed-in users (App Service "
                           "Authentication), and the request carries no X-MS-CLIENT-PRINCIPAL.")
    return parse_principal(value).owner()
