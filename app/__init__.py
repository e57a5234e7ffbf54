"""hyperlaw service shell: settings, database, job queue, worker pool, REST API, reports and CLI.

The only package that knows about HTTP, SQL or processes; it calls the pure libraries
`fitting` (numerics) and `trainer` (torch).
"""
