"""What stops a judging run as a whole."""

from __future__ import annotations


class RunFailed(Exception):
    """Stops the whole run; the message becomes the run's ``error``."""
