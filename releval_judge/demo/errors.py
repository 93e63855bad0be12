"""What stops the demo with a message for the user."""

from __future__ import annotations


class DemoError(Exception):
    """Something the user can fix; the message says what."""
