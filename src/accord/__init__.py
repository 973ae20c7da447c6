"""Accord: cross-border law enforcement cooperation node."""

__version__ = "0.1.0"
