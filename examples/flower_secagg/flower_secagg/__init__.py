"""Federated averaging with heprim's SecAgg+ inside Flower (see README.md)."""
