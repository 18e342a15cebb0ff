"""The Mastodon client REST API and OAuth endpoints (interfaces over the services)."""
