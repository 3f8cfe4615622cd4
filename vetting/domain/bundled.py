"""Where the toolkit finds the files it ships: report templates and the shipped procedure.

The repository keeps them at the top level (``templates/``, ``procedures/``), as the design
card lays out; ``setup.py`` installs them as the packages ``vetting.templates`` and
``vetting.procedures``, so a wheel carries them and this module finds them through
``importlib.resources`` the same way in a checkout, an editable install or a wheel.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

SHIPPED_PROCEDURE_FILE = "kcpd-261-1.yaml"


def _package_dir(package: str) -> Path:
    # Both packages are plain folders with an __init__.py (never zipped), so the traversable
    # is a real path: Jinja's FileSystemLoader and approval's manifest lookup need one.
    return Path(str(resources.files(package)))


def templates_dir() -> Path:
    """The folder of the report templates."""
    return _package_dir("vetting.templates")


def procedures_dir() -> Path:
    """The folder of the shipped written process and its site manifests."""
    return _package_dir("vetting.procedures")


def shipped_procedure() -> Path:
    """The shipped procedure file (policy 261-1), the demo's starting point."""
    return procedures_dir() / SHIPPED_PROCEDURE_FILE
