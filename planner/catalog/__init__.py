"""Sourced data: profile schema and loader, the engine support matrix."""
