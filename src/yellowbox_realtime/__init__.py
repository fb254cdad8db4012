"""Yellow Box Realtime: a Socket.IO v5 real-time gateway for the Yellow Box fleet.

The public API, for applications built on the gateway::

    from yellowbox_realtime import Config, Gateway, Socket
"""

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
from .server.sockets import Emitter, Namespace, Socket

__all__ = [
    "AuthenticationError",
    "Authenticator",
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
