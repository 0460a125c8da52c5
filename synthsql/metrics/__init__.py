"""Utility metrics computed in the database; each returns rows of (metric, scope, value, detail)."""
