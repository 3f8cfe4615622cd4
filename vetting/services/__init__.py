"""The service layer: one function per user action, each checking who acts before it acts.

The CLI (``vetting/cli/main.py`` and its sub-command modules) and the web application call these
and nothing below them for an act a person takes, so a rule written here holds for both. Each
function takes the workspace and the acting :class:`~vetting.people.models.Account` (from
``vet login``'s token, or a web session), checks it against the one permission table
(:mod:`vetting.people.permissions`) and its case, and only then calls the domain code with
the account's audit actor (``user:<login>``). A refusal is an ``access.refused`` audit event
and an :class:`~vetting.errors.AccessRefused` error.

Modules, by what the acts concern:

- :mod:`vetting.services.procedures`: approving and listing procedures, uniformity;
- :mod:`vetting.services.candidates`: adding, listing and erasing candidates;
- :mod:`vetting.services.cases`: running, queueing, cancelling, listing and assigning cases;
- :mod:`vetting.services.review`: the review queue, decisions and concurrence;
- :mod:`vetting.services.reports`: reports, their release, audit and evidence exports.

:data:`vetting.services.registry.SERVICES` lists every service function and its act; a test
holds it to the permission table.
"""
