"""The live fleet for AI assistants: an MCP (Model Context Protocol) endpoint.

The gateway serves MCP's streamable HTTP transport at ``/mcp`` (:mod:`.endpoint`);
``yellowbox-realtime mcp`` relays a desktop assistant's stdio to it (:mod:`.stdio`). Tools,
resources and prompts (:mod:`.tools`, :mod:`.resources`) call the same operations services
as the HTTP API, and every call is checked against the same policy table and API key scopes.
"""
