"""What the tests share, none of it a test: the service in-process (service) or as an
operating-system process (process), several processes on one database (replicas), the
API calls most tests make (api), fake and hostile providers (fakes, hostile), the local
servers a test starts (servers), and the data and helpers of a few feature areas.

tests/conftest.py turns these into fixtures; a test imports helpers from here, never from
another test module.
"""
