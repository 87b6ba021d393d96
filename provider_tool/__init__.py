"""The provider's side of Outcome TTP: ``ttp submit`` reads an export with BSNs, validates it with the
service's own record schemas, pseudonymises on the provider's machine, registers consents and uploads
the records, resumably.

This package imports nothing of the server (no FastAPI, SQLAlchemy, NumPy, SciPy, psycopg): from
``app`` only ``app.records.schemas`` (pydantic) and what it needs. It installs without the
``[server]`` extra.
"""
