"""What the tests share, none of it a test.

- service: the service in the test's event loop (uvicorn on loopback), its settings;
  process: the service as an operating-system process, several of them on one database;
- api: the API calls most tests make; waiting: polling until something holds;
- servers: the local servers a test starts; fakes: a scriptable fake provider;
  hostile: providers and proxies that attack; sim: the provider simulator's test client;
- runs, panels, reviewing, metrics_data, tokens, ui, cli, walkthrough, database: the
  data and steps of one feature area each.

tests/conftest.py turns these into fixtures; a test imports helpers from here, never
from another test module or from a conftest.
"""
