"""The bovine-herd server the interop tests run (hypercorn bovine_app:app, from its data folder).

Runs inside the bovine-herd virtual environment; its database is bovine.sqlite3 in the folder.
"""

from bovine_herd import BovineHerd
from quart import Quart

app = Quart(__name__)
BovineHerd(app)
