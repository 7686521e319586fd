"""Project rules that are easiest to check with a grep (run by `make lint`).

- ``socketio.emit(`` only in ``hub/realtime.py``: every real-time emit picks its recipients there.
- ``session.commit(`` never in a view: views hand writes to actions; the request commits.
- no ``create_all(`` outside tests: the schema comes from Alembic migrations.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("hub", "channels", "agent_console", "crm_core", "campaigns")
VIEW_FILES = re.compile(r"(views|routes|api/[^/]+|webhooks?)\.py$")


def main() -> int:
    problems: list[str] = []
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            text = path.read_text(encoding="utf-8")
            for n, line in enumerate(text.splitlines(), 1):
                code = line.split("#", 1)[0]
                if "socketio.emit(" in code and rel != "hub/realtime.py":
                    problems.append(f"{rel}:{n}: socketio.emit( outside hub/realtime.py")
                if "session.commit(" in code and VIEW_FILES.search(rel):
                    problems.append(f"{rel}:{n}: session.commit( in a view")
                if "create_all(" in code:
                    problems.append(f"{rel}:{n}: create_all( outside tests; write a migration")
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
