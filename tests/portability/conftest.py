"""The client API fixtures (an in-process co-op, tokens for members), for migration tests."""

from tests.api.conftest import api_app, token_for

__all__ = ["api_app", "token_for"]
