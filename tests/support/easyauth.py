"""The headers App Service Authentication (Easy Auth) adds to a signed-in user's requests.

    requests.get(url, headers=signed_in("alice"))

`principal` builds the `X-MS-CLIENT-PRINCIPAL` value the way Easy Auth does for Microsoft Entra
ID: base64 of `{"auth_typ", "claims": [{"typ", "val"}], "name_typ", "role_typ"}`, with the claim
types mapped to their long names (object id, tenant id, name identifier, ...).
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from agent.ownership import owner_key

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
NAME_TYPE = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
ROLE_TYPE = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"
OID = "http://schemas.microsoft.com/identity/claims/objectidentifier"
TID = "http://schemas.microsoft.com/identity/claims/tenantid"
NAMEID = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier"


def object_id(user: str) -> str:
    """A stable fake object id for a user name."""
    digest = hashlib.sha256(user.encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-4{digest[13:16]}-8{digest[17:20]}-{digest[20:32]}"


def claims_of(user: str, tenant: str = TENANT) -> list[dict[str, str]]:
    """The claims Easy Auth passes for an Entra ID user (a typical id token's)."""
    return [
        {"typ": "aud", "val": "11111111-2222-3333-4444-555555555555"},
        {"typ": "iss", "val": f"https://login.microsoftonline.com/{tenant}/v2.0"},
        {"typ": NAME_TYPE, "val": f"{user}@contoso.com"},
        {"typ": NAMEID, "val": f"pairwise-subject-of-{user}"},
        {"typ": OID, "val": object_id(user)},
        {"typ": TID, "val": tenant},
        {"typ": "name", "val": user.title()},
        {"typ": "ver", "val": "2.0"},
    ]


def encode(payload: Any) -> str:
    """Base64 of a JSON value, as Easy Auth encodes the principal."""
    return base64.b64encode(json.dumps(payload).encode()).decode()


def principal(user: str, tenant: str = TENANT) -> str:
    """The X-MS-CLIENT-PRINCIPAL value of a signed-in Entra ID user."""
    return encode({"auth_typ": "aad", "claims": claims_of(user, tenant), "name_typ": NAME_TYPE,
                   "role_typ": ROLE_TYPE})


def owner(user: str, tenant: str = TENANT) -> str:
    """The owner key the app records for this user's threads."""
    return owner_key("aad", tenant, object_id(user))


def legacy_owner(user: str, tenant: str = TENANT) -> str:
    """The owner value versions before 2026-12 recorded for this user's threads."""
    return f"aad:{tenant}/{object_id(user)}"


def signed_in(user: str) -> dict[str, str]:
    """Every header Easy Auth adds for this user."""
    return {"X-MS-CLIENT-PRINCIPAL": principal(user),
            "X-MS-CLIENT-PRINCIPAL-ID": object_id(user),
            "X-MS-CLIENT-PRINCIPAL-NAME": f"{user}@contoso.com",
            "X-MS-CLIENT-PRINCIPAL-IDP": "aad"}
