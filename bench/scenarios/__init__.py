"""The benchmark scenarios: fan-out, fleet, connections and slow consumer."""
