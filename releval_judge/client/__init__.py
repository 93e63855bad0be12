"""Clients of the REST API: the HTTP client, the ``releval-judge runs`` command, progress."""
