"""People who log in to the web pages: accounts, passwords, TOTP, sessions and OIDC.

Usable without the web app (``ttp users ...`` uses it from the command line):

- :mod:`passwords`: argon2id hashes (RFC 9106) and the password policy;
- :mod:`totp`: RFC 6238 codes, each usable once;
- :mod:`keys`: what the service's keys give the accounts (the TOTP secret sealed at rest, the
  cookie-signing key);
- :mod:`service`: making, finding, disabling accounts; the login steps with lockout;
- :mod:`sessions`: server-side sessions, stored by the SHA-256 of their random id;
- :mod:`oidc`: login through a municipality's own identity provider (authlib).
"""
