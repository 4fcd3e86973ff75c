"""Inference Planner: memory, speed and cost of running LLMs on Macs and GPU machines."""

__version__ = "0.1.0"
