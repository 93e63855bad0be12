"""What both faces (the REST API and the web UI) use of HTTP: error responses, the
middleware (request ids, bearer tokens, idle clients), reading bodies and queries,
answering models, and the request's services and principal."""
