"""Cluster brokers behind :class:`~yellowbox_realtime.core.broker.Broker` (the memory broker,
the single-process default, lives in ``core``)."""
