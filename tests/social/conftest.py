"""The client API fixtures (an in-process co-op), for the social handlers' tests."""

from tests.api.conftest import api_app

__all__ = ["api_app"]
