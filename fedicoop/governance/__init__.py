"""Governance: proposals, ballots and the count anyone can verify, across partner co-ops."""
