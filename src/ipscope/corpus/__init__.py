"""Corpus readers: files and directories in, ``Document`` records out."""

from .readers import ReadOptions, Unit, discover, plan_units, read_unit

__all__ = ["ReadOptions", "Unit", "discover", "plan_units", "read_unit"]
