"""Benchmark harness: the gateway against Node socket.io and python-socketio, side by side."""
