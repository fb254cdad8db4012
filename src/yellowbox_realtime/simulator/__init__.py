"""The rider simulator: riders moving along Dubai's main roads, each a real Socket.IO
client of the gateway (``yellowbox-realtime simulate``).

:mod:`.routes` and :mod:`.riders` are pure (time passed in); :mod:`.run` does the I/O.
"""
