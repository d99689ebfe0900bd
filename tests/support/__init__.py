"""Helpers the test folders share, one module per kind: builders of commands and records,
the Kafka and HTTP sides of a running service, the service in the test's event loop, the
command line as a child process, the read API, replica scenarios and PostgreSQL databases.

Test modules import from here; ``conftest.py`` files hold only fixtures, built from these
helpers, and no module imports a ``conftest`` module.
"""
