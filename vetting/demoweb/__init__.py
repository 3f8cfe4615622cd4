"""The bundled fictional demo web: sites on loopback, sample candidates, demo site manifests.

Everything here is fictional and self-contained (standard library only); see ``README.md`` in
this folder for every site, path and candidate, and what each is meant to exercise.
"""

from vetting.demoweb.server import DemoWeb, DemoWebError

__all__ = ["DemoWeb", "DemoWebError"]
