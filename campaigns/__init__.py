"""Outbound campaigns: call lists, do-not-call list, calling windows, scripts and surveys, the
dialer (preview, progressive, predictive), dispositions, callbacks and results.
Imports ``hub`` and ``crm_core`` only."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the campaign screens and tasks (none are built yet)."""
