"""Co-operation among co-ops: partnerships between co-op Groups."""
