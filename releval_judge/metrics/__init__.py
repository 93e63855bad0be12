"""Retrieval metrics from judgments, system comparisons and prediction-powered estimates.

Pure computation, no I/O: ``measures`` (nDCG, P, AP, RR, judged at cut-offs, trec_eval's
definitions), ``significance`` (paired randomisation test, Kendall's tau) and ``ppi``
(prediction-powered inference for a mean). The store streams the grades in; the routes
in ``api/metrics.py`` put the pieces together (docs/metrics.md).
"""
