"""Judge panels: several AI judges whose grades are aggregated into one judgment of record.

``aggregate`` is pure (the aggregate grade, the disagreement flag, Fleiss' kappa,
Krippendorff's alpha); ``runs`` orchestrates a panel run (its members are normal judging
runs) and writes the aggregate; ``queue`` scores candidates for the review queue.
docs/panels.md describes the rules for users.
"""
