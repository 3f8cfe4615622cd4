"""People: accounts and roles, authentication (password + TOTP, OpenID Connect), sessions.

Modules, one role each:

- :mod:`~vetting.people.models`: the tables (accounts, login attempts, sessions, assignments, releases)
- :mod:`~vetting.people.roles`: the role set and which roles may be held together
- :mod:`~vetting.people.clock`: the injectable clock (tests move time without sleeping)
- :mod:`~vetting.people.passwords`: argon2id hashing and the password rules
- :mod:`~vetting.people.totp`: TOTP secrets (encrypted at rest) and replay-proof verification
- :mod:`~vetting.people.accounts`: the admin's acts (add, disable, enable, reset, unlock, roles)
- :mod:`~vetting.people.sessions`: login, lockout, tokens, ``current_account``, logout
- :mod:`~vetting.people.tokenfile`: the 0600 token file in the user's config folder
- :mod:`~vetting.people.oidc`: OpenID Connect login (authorization code + PKCE, ID token checks)
- :mod:`~vetting.people.assignments`: cases assigned to investigators, reports released to hiring
- :mod:`~vetting.cli.people`: ``vet user``, ``vet login``, ``vet logout``, ``vet whoami``

Kept free of imports at package level so :mod:`vetting.store.db` can import the models without a cycle.
"""
