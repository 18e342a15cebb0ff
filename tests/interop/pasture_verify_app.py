"""fediverse-pasture's verify_actor app, bound by hypercorn to loopback (its CLI binds 0.0.0.0).

Runs inside the fediverse-pasture virtual environment, from a folder holding data.toml.
"""

import os

from fediverse_pasture.verify_actor import build_app

app = build_app(False, os.environ["PASTURE_DOMAIN"], False, 20)
