"""Leaving with your data: backups, restores, exports, imports and moves."""
