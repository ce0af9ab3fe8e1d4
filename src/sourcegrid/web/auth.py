"""Who is asking: passwords, sessions, CSRF tokens, API tokens and login rate limits.

* Passwords are hashed with argon2id (argon2-cffi's ``PasswordHasher``, RFC 9106
  parameters) and kept in ``web_credentials``; a hash made with older parameters is
  re-hashed at the next successful login.
* A browser session is a random 256-bit id in an HttpOnly cookie (SameSite=Lax,
  Secure when the request came over TLS); the server keeps only its SHA-256, the
  user and a per-session CSRF token that every form and every state-changing
  ``fetch`` must send back (double submit against the server-side copy).
* Machine clients use ``Authorization: Bearer <token>``; tokens are random, shown
  once, stored as SHA-256, and can be revoked. They need no CSRF token (a browser
  never sends them on its own).
* Failed logins are counted per user name and per client address in a sliding
  window; past the limit the login answers 429 with ``Retry-After``, before any
  password is checked.

References
----------
RFC 9106 (Argon2), OWASP Session Management and CSRF Prevention cheat sheets
(synchronizer token pattern), OWASP Authentication cheat sheet (login throttling).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from sourcegrid.web.store import (
    CREDENTIALS_TABLE,
    SESSIONS_TABLE,
    TOKENS_TABLE,
    WebStore,
    utc_now,
)

__all__ = [
    "SESSION_COOKIE",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "MIN_PASSWORD_LENGTH",
    "Credentials",
    "LoginLimiter",
    "hash_secret",
]

SESSION_COOKIE = "sourcegrid_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
MIN_PASSWORD_LENGTH = 8
#: A session lives this long after login.
SESSION_LIFETIME = timedelta(hours=12)


def hash_secret(secret: str) -> str:
    """SHA-256 hex digest of a session id or API token (they are random, so no salt)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass
class LoginLimiter:
    """Sliding-window count of failed logins per user name and per client address.

    Parameters
    ----------
    max_failures : int
        Failures of one user name allowed in ``window_seconds`` before further attempts
        are refused; one client address is allowed ``client_factor`` times as many (an
        office behind one address has several people).
    window_seconds : float
        Length of the window [s].
    clock : callable
        Returns seconds (monotonic); replaceable in tests.
    """

    max_failures: int = 5
    window_seconds: float = 300.0
    client_factor: int = 4
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, deque] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _trim(self, key: str, now: float) -> deque:
        queue = self._failures.setdefault(key, deque())
        while queue and now - queue[0] > self.window_seconds:
            queue.popleft()
        return queue

    def retry_after(self, *keys: str) -> int:
        """Seconds until one more attempt is allowed for all ``keys`` (0: allowed now)."""
        now = self.clock()
        wait = 0.0
        with self._lock:
            for key in keys:
                queue = self._trim(key, now)
                limit = self.max_failures * (self.client_factor if key.startswith("client:")
                                             else 1)
                if len(queue) >= limit:
                    wait = max(wait, self.window_seconds - (now - queue[0]))
        return int(wait) + 1 if wait > 0 else 0

    def failed(self, *keys: str) -> None:
        now = self.clock()
        with self._lock:
            for key in keys:
                self._trim(key, now).append(now)

    def succeeded(self, username_key: str) -> None:
        with self._lock:
            self._failures.pop(username_key, None)


@dataclass(frozen=True)
class Session:
    username: str
    csrf_token: str


class Credentials:
    """Passwords, sessions and API tokens in the workspace (tables of :mod:`.store`)."""

    def __init__(self, store: WebStore, hasher: PasswordHasher | None = None) -> None:
        self.store = store
        self.hasher = hasher or PasswordHasher()

    # ---- passwords -------------------------------------------------------------------------
    def set_password(self, username: str, password: str, *, by: str | None = None) -> None:
        """Store (or replace) a user's password hash; the web event log records who did it."""
        if len(password) < MIN_PASSWORD_LENGTH:
            raise ValueError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
        digest = self.hasher.hash(password)
        with self.store.lock:
            self.store.execute(f'DELETE FROM "{CREDENTIALS_TABLE}" WHERE username = ?', [username])
            self.store.execute(f'INSERT INTO "{CREDENTIALS_TABLE}" VALUES (?, ?, ?, ?)',
                               [username, digest, utc_now(), by])
            self.store.log_event(by, "password_set", username)

    def set_shared_password(self, usernames: list[str], password: str, *,
                            by: str | None = None) -> None:
        """Give many users one password with one hash (demo logins: the password is public
        anyway, and hashing once keeps a 400-person demo fast); each change is logged."""
        if len(password) < MIN_PASSWORD_LENGTH:
            raise ValueError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
        digest = self.hasher.hash(password)
        now = utc_now()
        with self.store.lock:
            for username in usernames:
                self.store.execute(f'DELETE FROM "{CREDENTIALS_TABLE}" WHERE username = ?',
                                   [username])
                self.store.execute(f'INSERT INTO "{CREDENTIALS_TABLE}" VALUES (?, ?, ?, ?)',
                                   [username, digest, now, by])
                self.store.log_event(by, "password_set", username, {"shared": True})

    def has_password(self, username: str) -> bool:
        rows = self.store.query(f'SELECT 1 FROM "{CREDENTIALS_TABLE}" WHERE username = ?',
                                [username])
        return bool(rows)

    def usernames(self) -> set[str]:
        rows = self.store.query(f'SELECT username FROM "{CREDENTIALS_TABLE}"')
        return {row["username"] for row in rows}

    def verify(self, username: str, password: str) -> bool:
        """True when the password is the user's; a missing user costs a hash as well."""
        rows = self.store.query(
            f'SELECT password_hash FROM "{CREDENTIALS_TABLE}" WHERE username = ?', [username])
        if not rows:
            # spend the same time as a real check, so timing does not reveal user names
            try:
                self.hasher.verify(_DUMMY_HASH.get(self.hasher), password)
            except (VerificationError, InvalidHashError):
                pass
            return False
        stored = rows[0]["password_hash"]
        try:
            self.hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        if self.hasher.check_needs_rehash(stored):
            with self.store.lock:
                self.store.execute(
                    f'UPDATE "{CREDENTIALS_TABLE}" SET password_hash = ?, updated_at = ? '
                    "WHERE username = ?", [self.hasher.hash(password), utc_now(), username])
        return True

    # ---- sessions --------------------------------------------------------------------------
    def open_session(self, username: str) -> tuple[str, str]:
        """A new session for ``username``: (session id for the cookie, CSRF token)."""
        session_id = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = utc_now()
        self.store.execute(f'INSERT INTO "{SESSIONS_TABLE}" VALUES (?, ?, ?, ?, ?)',
                           [hash_secret(session_id), username, csrf, now, now + SESSION_LIFETIME])
        return session_id, csrf

    def session(self, session_id: str | None) -> Session | None:
        """The live session of a cookie value, or None."""
        if not session_id or len(session_id) > 200:
            return None
        rows = self.store.query(
            f'SELECT username, csrf_token FROM "{SESSIONS_TABLE}" '
            "WHERE session_hash = ? AND expires_at > ?", [hash_secret(session_id), utc_now()])
        return Session(rows[0]["username"], rows[0]["csrf_token"]) if rows else None

    def close_session(self, session_id: str | None) -> None:
        if session_id:
            self.store.execute(f'DELETE FROM "{SESSIONS_TABLE}" WHERE session_hash = ?',
                               [hash_secret(session_id)])

    @staticmethod
    def csrf_matches(expected: str, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(expected.encode(), str(given).encode())

    # ---- API tokens ------------------------------------------------------------------------
    def create_token(self, username: str, name: str = "", *, by: str | None = None) -> str:
        """A new API token for ``username`` (returned once; only its hash is stored)."""
        token = "sg_" + secrets.token_urlsafe(32)
        token_id = uuid.uuid4().hex[:16]
        with self.store.lock:
            self.store.execute(f'INSERT INTO "{TOKENS_TABLE}" VALUES (?, ?, ?, ?, ?, NULL)',
                               [token_id, hash_secret(token), username, name, utc_now()])
            self.store.log_event(by or username, "token_created", username,
                                 {"token_id": token_id, "name": name})
        return token

    def tokens_of(self, username: str) -> list[dict]:
        """A user's tokens (id, name, created_at, revoked_at; never the secret)."""
        return self.store.query(
            f'SELECT token_id, name, created_at, revoked_at FROM "{TOKENS_TABLE}" '
            "WHERE username = ? ORDER BY created_at", [username])

    def token_owner(self, token_id: str) -> str | None:
        rows = self.store.query(f'SELECT username FROM "{TOKENS_TABLE}" WHERE token_id = ?',
                                [token_id])
        return rows[0]["username"] if rows else None

    def token_user(self, token: str | None) -> str | None:
        if not token or len(token) > 200:
            return None
        rows = self.store.query(
            f'SELECT username FROM "{TOKENS_TABLE}" WHERE token_hash = ? AND revoked_at IS NULL',
            [hash_secret(token)])
        return rows[0]["username"] if rows else None

    def revoke_token(self, token_id: str, *, by: str | None = None) -> bool:
        with self.store.lock:
            rows = self.store.query(
                f'SELECT username FROM "{TOKENS_TABLE}" WHERE token_id = ? AND revoked_at IS NULL',
                [token_id])
            if not rows:
                return False
            self.store.execute(f'UPDATE "{TOKENS_TABLE}" SET revoked_at = ? WHERE token_id = ?',
                               [utc_now(), token_id])
            self.store.log_event(by, "token_revoked", rows[0]["username"], {"token_id": token_id})
        return True


class _DummyHash:
    """One hash per hasher configuration, made on first use, for unknown user names."""

    def __init__(self) -> None:
        self._hashes: dict[tuple, str] = {}
        self._lock = threading.Lock()

    def get(self, hasher: PasswordHasher) -> str:
        key = (hasher.time_cost, hasher.memory_cost, hasher.parallelism)
        with self._lock:
            if key not in self._hashes:
                self._hashes[key] = hasher.hash(secrets.token_hex(16))
            return self._hashes[key]


_DUMMY_HASH = _DummyHash()
