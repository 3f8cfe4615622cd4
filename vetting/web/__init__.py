"""The web application: the same services as the CLI, in a browser, for all three roles.

- :mod:`vetting.web.app` builds the Starlette application (``vet web``);
- :mod:`vetting.web.security` the response headers (CSP), CSRF tokens and the Origin check;
- :mod:`vetting.web.websession` the server-side sessions in a ``__Host-`` cookie, login,
  logout and step-up;
- :mod:`vetting.web.routes` the route table: every page with the act of
  :data:`vetting.people.permissions.PERMISSIONS` it needs, checked before its handler runs;
- :mod:`vetting.web.pages` one module per group of pages.

Captured content is never live here: an item is shown as its screenshot (an image served with
``nosniff`` and a sandboxing CSP) and its text escaped by Jinja; evidence downloads are
attachments. See docs/web.md.
"""
