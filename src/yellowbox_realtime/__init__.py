"""Yellow Box Realtime: a Socket.IO v5 real-time gateway for the Yellow Box fleet.

The public API, for applications built on the gateway::

    from yellowbox_realtime import Config, Gateway, Socket
"""

from typing import TYPE_CHECKING, Any

from .app import Gateway
from .auth.base import Authenticator
from .config import Config
from .core.policy import Policy
from .errors import (
    AuthenticationError,
    ForbiddenError,
    GatewayError,
    RateLimited,
    ValidationError,
)
from .messages import Credentials
from .server.namespaces import Emitter, Namespace, Socket

if TYPE_CHECKING:
    from .client import Client

__all__ = [
    "AuthenticationError",
    "Authenticator",
    "Client",
    "Config",
    "Credentials",
    "Emitter",
    "ForbiddenError",
    "Gateway",
    "GatewayError",
    "Namespace",
    "Policy",
    "RateLimited",
    "Socket",
    "ValidationError",
]


def __getattr__(name: str) -> Any:
    # The client needs the websockets library; a server that never uses it should not
    # import it, so it is loaded on first access.
    if name == "Client":
        from .client import Client
        return Client
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
