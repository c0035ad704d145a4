"""Database plumbing: pool, embedded server, migrations and the named-query loader."""
