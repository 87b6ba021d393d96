"""HTTP to the TTP for ``ttp submit``: a token, and calls that retry what may be retried.

Authentication (the token endpoint, OAuth 2 client credentials):

- ``client_secret_basic`` with ``TTP_CLIENT_ID``/``TTP_CLIENT_SECRET`` or ``--credentials FILE`` (the
  JSON ``ttp clients add --json`` prints);
- ``private_key_jwt`` (RFC 7523, the NL GOV OAuth profile's preferred way for machines) with
  ``--private-key PEM`` (EC P-256: ES256; RSA: RS256) and the client id from the same places.

Calls are retried with exponential backoff (1, 2, 4 ... 60 s, honouring ``Retry-After``) on 429, 502,
503, 504 and network errors; both uploads are safe to repeat (a resent record replaces itself, a
resent consent gives its consent_id back). An expired token is renewed once on a 401.
"""

from __future__ import annotations

import base64
import email.utils
import json
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

RETRY_STATUSES = frozenset({429, 502, 503, 504})
TOKEN_PATH = "/v1/oauth/token"  # noqa: S105 - a path, not a secret
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_WAIT = 300.0


class ClientError(Exception):
    """A stop with a clear message (bad credentials, a server that keeps failing, ...)."""


@dataclass(frozen=True, repr=False)
class Credentials:
    client_id: str
    client_secret: str | None = None
    private_key_pem: bytes | None = None

    def __repr__(self) -> str:
        return f"Credentials(client_id={self.client_id!r}, secret=<hidden>)"


def load_credentials(credentials_file: Path | None, private_key: Path | None,
                     environ: dict[str, str] | None = None) -> Credentials:
    """Credentials from ``--credentials``/``--private-key`` or ``TTP_CLIENT_ID``/``TTP_CLIENT_SECRET``."""
    env = os.environ if environ is None else environ
    client_id, secret = env.get("TTP_CLIENT_ID"), env.get("TTP_CLIENT_SECRET")
    if credentials_file is not None:
        try:
            data = json.loads(credentials_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ClientError(f"--credentials {credentials_file}: cannot read it ({type(exc).__name__}); "
                              "it is the JSON `ttp clients add --json` prints") from None
        if not isinstance(data, dict) or not isinstance(data.get("client_id"), str):
            raise ClientError(f"--credentials {credentials_file}: no client_id in it")
        client_id = data["client_id"]
        secret = data.get("client_secret") or None
    if not client_id:
        raise ClientError("no client id: set TTP_CLIENT_ID (and TTP_CLIENT_SECRET) or give --credentials FILE")
    if private_key is not None:
        try:
            pem = private_key.read_bytes()
        except OSError as exc:
            raise ClientError(f"--private-key {private_key}: cannot read it ({exc.strerror})") from None
        return Credentials(client_id=client_id, private_key_pem=pem)
    if not secret:
        raise ClientError("no client secret: set TTP_CLIENT_SECRET, give --credentials FILE, "
                          "or --private-key PEM for private_key_jwt")
    return Credentials(client_id=client_id, client_secret=secret)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def client_assertion(credentials: Credentials, audience: str, *, now: float | None = None) -> str:
    """A signed private_key_jwt assertion (RFC 7523): iss = sub = client id, aud = the token URL."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    assert credentials.private_key_pem is not None
    try:
        key = serialization.load_pem_private_key(credentials.private_key_pem, password=None)
    except (ValueError, TypeError):
        raise ClientError("--private-key: not an unencrypted PEM private key") from None
    issued = int(now if now is not None else time.time())
    claims = {"iss": credentials.client_id, "sub": credentials.client_id, "aud": audience,
              "jti": secrets.token_urlsafe(16), "iat": issued, "exp": issued + 300}
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        alg = "ES256"
    elif isinstance(key, rsa.RSAPrivateKey):
        alg = "RS256"
    else:
        raise ClientError("--private-key: use an EC P-256 (ES256) or RSA (RS256) key")
    header = {"alg": alg, "typ": "JWT"}
    signing_input = (_b64url(json.dumps(header, separators=(",", ":")).encode()) + "."
                     + _b64url(json.dumps(claims, separators=(",", ":")).encode())).encode("ascii")
    if isinstance(key, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    else:
        signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return signing_input.decode("ascii") + "." + _b64url(signature)


def retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def check_server_url(server: str) -> str:
    """The base URL without a trailing slash; plain http only to this machine."""
    parts = urlsplit(server)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ClientError(f"--server {server}: give the service's base URL, e.g. https://ttp.example.nl")
    if parts.scheme == "http" and parts.hostname not in ("localhost", "127.0.0.1", "::1"):
        raise ClientError(f"--server {server}: use https (plain http only to this machine)")
    return server.rstrip("/")


class TtpClient:
    """Calls to one TTP as one client; ``http`` may be given (tests pass the app's own transport)."""

    def __init__(self, server: str, credentials: Credentials, *, http: httpx.Client | None = None,
                 max_attempts: int = 8, sleep: Callable[[float], None] = time.sleep,
                 on_wait: Callable[[str], None] | None = None) -> None:
        self.server = server.rstrip("/")
        self.credentials = credentials
        self.http = http or httpx.Client(timeout=httpx.Timeout(300.0, connect=30.0))
        self.max_attempts = max_attempts
        self.sleep = sleep
        self.on_wait = on_wait or (lambda message: None)
        self._token: str | None = None
        self._token_expires = 0.0

    def close(self) -> None:
        self.http.close()

    # -- the token ------------------------------------------------------------------------------
    def token(self) -> str:
        if self._token is None or time.monotonic() > self._token_expires - 60:
            self._token = None
            self._fetch_token()
        assert self._token is not None
        return self._token

    def _fetch_token(self) -> None:
        url = self.server + TOKEN_PATH
        form = {"grant_type": "client_credentials"}
        headers: dict[str, str] = {}
        if self.credentials.private_key_pem is not None:
            form |= {"client_assertion_type": JWT_BEARER,
                     "client_assertion": client_assertion(self.credentials, url)}
        else:
            raw = f"{quote(self.credentials.client_id, safe='')}:{quote(self.credentials.client_secret or '', safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(raw.encode()).decode()
        # A fresh assertion for every attempt: the TTP refuses a replayed one.
        response = self._send("POST", url, data=form, headers=headers, what="the token request",
                              refresh=lambda: form.update(
                                  client_assertion=client_assertion(self.credentials, url))
                              if "client_assertion" in form else None)
        if response.status_code != 200:
            raise ClientError(f"the TTP refused the client credentials ({response.status_code}): {_detail(response)}")
        body = response.json()
        self._token = str(body["access_token"])
        self._token_expires = time.monotonic() + float(body.get("expires_in", 300))

    # -- calls ------------------------------------------------------------------------------------
    def post_json(self, path: str, body: Any, *, what: str) -> httpx.Response:
        """POST with retries; returns the final answer (2xx or a 4xx the caller handles)."""
        renewed = False
        while True:
            response = self._send("POST", self.server + path, json=body,
                                  headers={"Authorization": f"Bearer {self.token()}"}, what=what)
            if response.status_code == 401 and not renewed:
                renewed, self._token = True, None
                continue
            return response

    def get(self, path: str, *, params: dict[str, str], what: str) -> httpx.Response:
        return self._send("GET", self.server + path, params=params,
                          headers={"Authorization": f"Bearer {self.token()}"}, what=what)

    def _send(self, method: str, url: str, *, what: str, refresh: Callable[[], Any] | None = None,
              **kwargs: Any) -> httpx.Response:
        last = ""
        for attempt in range(1, self.max_attempts + 1):
            if attempt > 1 and refresh is not None:
                refresh()
            wait = min(MAX_WAIT, 2.0 ** (attempt - 1))
            try:
                response = self.http.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                last = f"network error ({type(exc).__name__})"
            else:
                if response.status_code not in RETRY_STATUSES:
                    return response
                last = f"{response.status_code} {_detail(response)}"
                hinted = retry_after(response)
                if hinted is not None:
                    wait = min(MAX_WAIT, hinted)
            if attempt == self.max_attempts:
                break
            self.on_wait(f"{what}: {last}; trying again in {wait:.0f} s (attempt {attempt + 1} of {self.max_attempts})")
            self.sleep(wait)
        raise ClientError(f"{what} failed {self.max_attempts} times; the last: {last}. "
                          "Run the same command again later: it continues where it stopped")


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase or "no detail"
    if isinstance(body, dict) and isinstance(body.get("detail"), str):
        return body["detail"]
    return response.reason_phrase or "no detail"
