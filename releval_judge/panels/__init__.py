"""Judge panels: several AI judges whose grades are aggregated into one judgment of record.

Pure, no I/O: ``models`` (the bodies of the panel and review-queue routes), ``aggregate``
(the aggregate grade, the disagreement flag, Fleiss' kappa, Krippendorff's alpha) and
``queue`` (the review queue's scores). A panel run (its members are normal judging runs)
is run by ``engine.panel_runs``; the use cases are in ``services.panels``.
docs/panels.md describes the rules for users.
"""
