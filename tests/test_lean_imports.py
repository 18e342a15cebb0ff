"""`fedicoop serve` keeps heavy libraries out until a command needs them (idle memory).

Alembic with SQLAlchemy (~29 MiB) is for migrations and backups, PyLD (with lxml and
requests, ~11 MiB) for JSON-LD processing on first use: an idle server imports neither
(docs/performance.md, "Idle memory": the 80 MB target was missed by 27 MB when a command
module imported the backup code at the top).
"""

import subprocess
import sys

HEAVY = ("alembic", "sqlalchemy", "pyld", "lxml", "playwright", "hypothesis")


def test_what_serve_imports_leaves_the_heavy_libraries_out() -> None:
    probe = (
        "import sys\n"
        "import fedicoop.cli.main, fedicoop.web.app\n"
        "print(sorted({n.split('.')[0] for n in sys.modules} & set(sys.argv[1:])))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, *HEAVY], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]", result.stdout
