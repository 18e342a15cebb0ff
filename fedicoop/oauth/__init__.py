"""OAuth 2 for client apps: apps, authorization codes (PKCE), tokens and scopes."""
