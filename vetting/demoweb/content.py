"""Loading the demo's content files (``data/*.json``), which hold every fictional person and post.

Content is data, not code, so the README's answer key and the pages can be checked against one
source, and a new case is added by editing JSON.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

PACKAGE_DIR = Path(__file__).resolve().parent
DATA_DIR = PACKAGE_DIR / "data"
CANDIDATES_DIR = PACKAGE_DIR / "candidates"
MANIFESTS_DIR = PACKAGE_DIR / "sites"


@cache
def load(name: str) -> Any:
    """Parse ``data/<name>.json`` once (callers must not mutate the result)."""
    return json.loads((DATA_DIR / f"{name}.json").read_text(encoding="utf-8"))
