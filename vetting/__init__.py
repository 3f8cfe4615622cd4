"""Lawful, uniform, validated pre-employment internet vetting (policy 261-1 IV.B.8)."""

__version__ = "0.1.0"
