"""Capacity planning: candidates, screening, the replica search, the report."""
