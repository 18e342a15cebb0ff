"""Accounts: the people of a co-op, their passwords, roles and membership state."""
