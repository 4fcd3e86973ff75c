"""The one cost model: power, TCO, $ per million tokens."""
