"""Who is calling: the user App Service Authentication (Easy Auth) signed in, read from the
`X-MS-CLIENT-PRINCIPAL` header the platform adds to every request it lets through (and strips
from what clients send).

With AUTH_MODE=none (the default) nobody is identified and every thread is anyone's. With
AUTH_MODE=easyauth, `caller` returns the user's stable id, the owner recorded with their
threads: the identity provider, the tenant and the object id (`oid`) for Microsoft Entra ID,
else the provider's subject (`nameidentifier` / `sub`) claim. A request without the header, or
with one that is not what Easy Auth sends (not base64, not a JSON object of the right shape,
over MAX_PRINCIPAL_CHARS, no user id claim), is refused with 401 and a message saying so, never
a 500. The header is trusted only because Easy Auth sets it: AUTH_MODE=easyauth is for an app
behind Easy Auth (infra/app/auth.bicep), where no client can send it itself.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from agent.settings import get_settings
from api.errors import BadRequest

PRINCIPAL_HEADER = "x-ms-client-principal"
# Easy Auth principals are a few kilobytes at most (the claims of one token).
MAX_PRINCIPAL_CHARS = 32 * 1024
MAX_CLAIM_CHARS = 1024
# Claim types as Easy Auth maps them, and as the token has them.
OBJECT_ID = ("http://schemas.microsoft.com/identity/claims/objectidentifier", "oid")
TENANT_ID = ("http://schemas.microsoft.com/identity/claims/tenantid", "tid")
SUBJECT = ("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier", "sub")
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="smartbot"'}


class Unauthorized(BadRequest):
    """No usable signed-in user: 401 with what is wrong."""

    def __init__(self, detail: str) -> None:
        super().__init__(401, detail)

    def response(self) -> JSONResponse:
        """The 401 response, with the challenge HTTP requires of a 401."""
        resp = super().response()
        resp.headers.update(CHALLENGE)
        return resp


@dataclass(frozen=True)
class Principal:
    """The signed-in user as Easy Auth describes them."""

    identity_provider: str
    claims: dict[str, str]

    def claim(self, types: tuple[str, ...]) -> str | None:
        """The first of these claim types the principal has."""
        return next((self.claims[t] for t in types if self.claims.get(t)), None)

    @property
    def owner(self) -> str:
        """A stable id of the user: the owner recorded with their threads."""
        object_id = self.claim(OBJECT_ID)
        if object_id:
            tenant = self.claim(TENANT_ID)
            return f"{self.identity_provider}:{tenant}/{object_id}" if tenant else \
                f"{self.identity_provider}:{object_id}"
        subject = self.claim(SUBJECT)
        if subject:
            return f"{self.identity_provider}:{subject}"
        raise Unauthorized("The signed-in principal (X-MS-CLIENT-PRINCIPAL) has no user id "
                           "claim (oid or nameidentifier); sign in with an account.")


def _malformed(what: str) -> Unauthorized:
    return Unauthorized(f"X-MS-CLIENT-PRINCIPAL is not a valid App Service Authentication "
                        f"principal ({what}); sign in again.")


def parse_principal(value: str) -> Principal:
    """The principal in an `X-MS-CLIENT-PRINCIPAL` value, or `Unauthorized` saying why not.

    Its shape: base64 of `{"auth_typ": ..., "claims": [{"typ": ..., "val": ...}, ...],
    "name_typ": ..., "role_typ": ...}`.
    """
    if len(value) > MAX_PRINCIPAL_CHARS:
        raise _malformed(f"over {MAX_PRINCIPAL_CHARS} characters")
    try:
        raw = base64.b64decode(value.strip(), validate=True)
        data: Any = json.loads(raw)
    except (binascii.Error, ValueError):  # not base64, not UTF-8, not JSON
        raise _malformed("not base64-encoded JSON") from None
    except RecursionError:
        raise _malformed("nested too deeply") from None
    if not isinstance(data, dict):
        raise _malformed("not a JSON object")
    provider, claims = data.get("auth_typ"), data.get("claims")
    if not isinstance(provider, str) or not provider.strip() or len(provider) > 64:
        raise _malformed("no auth_typ")
    if not isinstance(claims, list):
        raise _malformed("claims is not a list")
    found: dict[str, str] = {}
    for claim in claims:
        if not isinstance(claim, dict):
            raise _malformed("a claim is not an object")
        typ, val = claim.get("typ"), claim.get("val")
        if not isinstance(typ, str) or not isinstance(val, str):
            raise _malformed("a claim's typ or val is not a string")
        if len(typ) > MAX_CLAIM_CHARS or len(val) > MAX_CLAIM_CHARS:
            raise _malformed(f"a claim is over {MAX_CLAIM_CHARS} characters")
        found.setdefault(typ, val)  # the first of a repeated claim type (roles, groups) wins
    return Principal(provider.strip().lower(), found)


def caller(request: Request) -> str | None:
    """The owner id of the signed-in caller (AUTH_MODE=easyauth), or None (AUTH_MODE=none).

    Raises `Unauthorized` (a `BadRequest`, 401) when Easy Auth mode finds no usable principal.
    """
    if get_settings().auth_mode != "easyauth":
        return None
    value = request.headers.get(PRINCIPAL_HEADER)
    if not value:
        raise Unauthorized("Sign in first: this API serves signed-in users (App Service "
                           "Authentication), and the request carries no X-MS-CLIENT-PRINCIPAL.")
    return parse_principal(value).owner
