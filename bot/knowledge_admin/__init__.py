"""Admins' knowledge-base work: publishing, uploads and rollback, and the command-line tools."""
