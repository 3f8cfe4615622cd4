"""Packaging beyond what ``pyproject.toml`` can say: the top-level ``templates/`` and
``procedures/`` folders of the design card are installed inside the ``vetting`` package
(as ``vetting.templates`` and ``vetting.procedures``), so a wheel carries every file the
toolkit reads and an editable install maps them to the checkout."""

from setuptools import find_packages, setup

BUNDLED = {"vetting.templates": "templates", "vetting.procedures": "procedures"}

setup(
    packages=find_packages(include=["vetting*", "spiders*", "audit*"]) + list(BUNDLED),
    package_dir=BUNDLED,
    package_data={"vetting": ["data/*", "demoweb/**/*", "web/static/*"], **{name: ["**/*"] for name in BUNDLED}},
)
