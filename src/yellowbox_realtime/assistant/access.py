"""Who calls, and what they may take: the MCP endpoint's door.

Every HTTP request to ``/mcp`` is authenticated as the operations API authenticates (an API
key, or a bearer token from the configured provider: dev, jwt, firebase); the caller rides
on the request's ASGI scope to the tools, which check it against the policy table or the
key's scopes. Each request takes from the caller's rate (``api.rate_per_s``, per key or user,
the operations API's own), and each subscription stream counts as one of the user's
connections, as an SSE stream does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..api.keys import ApiKey, Caller, principal
from ..api.operations import OperationsApi
from ..errors import AuthenticationError, GatewayError
from ..messages import Credentials
from ..server.limits import ClientLimits

__all__ = ["LIMITED", "REFUSED", "SCOPE_KEY", "Access", "caller_of", "describe", "principal"]

# JSON-RPC error codes of our own (the range the specification leaves to servers): a request
# the caller may not make, and one refused by a limit.
REFUSED = -32001
LIMITED = -32000

# Where the authenticated caller rides on the ASGI scope, from the door to the tools.
SCOPE_KEY = "yellowbox.caller"

def caller_of(request: Any) -> Caller:
    """The caller the door put on this request's scope (tools and resources ask this)."""
    scope = getattr(request, "scope", None)
    caller = scope.get(SCOPE_KEY) if isinstance(scope, Mapping) else None
    if not isinstance(caller, ApiKey | Credentials):
        raise AuthenticationError("this request carries no authenticated caller")
    return caller


class Access:
    def __init__(self, api: OperationsApi, limits: ClientLimits) -> None:
        self.api = api
        self.limits = limits

    async def authenticate(self, headers: Mapping[str, str]) -> Caller:
        """The caller, with one request taken from their rate (TooManyRequests beyond it)."""
        return await self.api.caller(headers)

    def check_read(self, caller: Caller, channel: str, scope: str) -> None:
        self.api.check_read(caller, channel, scope)

    def check_change(self, caller: Caller, action: str, scope: str, channel: str) -> None:
        self.api.check_change(caller, action, scope, channel)


def describe(exc: GatewayError) -> str:
    """An error as a tool result says it: the code a program can match, then the reason."""
    return f"{exc.code}: {exc.message}"
