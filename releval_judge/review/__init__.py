"""Reviewing judgments: agreement statistics between judges, and exports."""
