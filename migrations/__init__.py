"""Alembic environment and versions of hyperlaw's schema, shipped with the package so an
installed hyperlaw can migrate its database (see app/db/migrate.py)."""
