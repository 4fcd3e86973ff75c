"""Serving simulation: the Scenario schema, workloads, the engines and runner, compute budgets, executors, the speed suite."""
