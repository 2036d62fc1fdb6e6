"""Alembic migrations of the persistence tables (a package so that they ship with it)."""
