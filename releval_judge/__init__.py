"""releval-judge: AI judging runs for search-relevance evaluations."""

__version__ = "0.1.0"
