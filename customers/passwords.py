"""Password hashes imported from Emporix, verified as such.

An Emporix export carries ``1:<iterations>:<salt>:<hash>``: version ``1`` is PBKDF2 with
HMAC-SHA-256, ``iterations`` its rounds, ``salt`` used as its UTF-8 text and ``hash`` the
derived key in base64 (standard alphabet, padding optional; its length is the key length).
Imported as-is, it is stored as ``emporix_pbkdf2$<the Emporix text>`` so that Django's password
machinery verifies it (:class:`EmporixPBKDF2PasswordHasher`) and re-hashes it with the default
hasher at the first successful check.

A hash in Django's own format (``pbkdf2_sha256$…``) is imported only when it names a hasher of
``PASSWORD_HASHERS`` whose library is installed, decodes as that hasher's, and its cost lies
within :data:`IMPORT_COST_BOUNDS`: not so low that it is cheap to crack, not so high that one
login costs seconds or gigabytes (:func:`imported_hash`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

from django.contrib.auth.hashers import BasePasswordHasher, identify_hasher, mask_hash
from django.utils.crypto import constant_time_compare
from django.utils.translation import gettext_noop as _

PREFIX = "emporix_pbkdf2"
MIN_ITERATIONS = 1_000
MAX_ITERATIONS = 1_000_000  # verification cost is bounded: ~1 s at most on a small core
_FORMAT = re.compile(r"1:(\d{1,7}):([^:\s]{1,128}):([A-Za-z0-9+/]{8,88}={0,2})\Z")


# For each Django hasher: the cost parameters of its decoded hash and their (lowest, highest).
IMPORT_COST_BOUNDS = {
    "pbkdf2_sha256": {"iterations": (10_000, 2_000_000)},
    "pbkdf2_sha1": {"iterations": (10_000, 2_000_000)},
    "argon2": {"time_cost": (1, 16), "memory_cost": (8, 262_144), "parallelism": (1, 8)},
    "bcrypt_sha256": {"work_factor": (10, 14)},
    "bcrypt": {"work_factor": (10, 14)},
    "scrypt": {"work_factor": (2**14, 2**17), "block_size": (8, 16), "parallelism": (1, 4)},
}


class UnverifiableHash(ValueError):
    """Text that is not a password hash this service would verify."""


class InvalidEmporixHash(UnverifiableHash):
    """Text that is not a hash in the Emporix format this service verifies."""


def _decoded_key(text: str) -> bytes:
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidEmporixHash("its hash is not base64") from exc


def parse(text: str) -> tuple[int, str, bytes]:
    """``(iterations, salt, key)`` of an Emporix hash; :class:`InvalidEmporixHash` otherwise."""
    match = _FORMAT.match(text)
    if match is None:
        raise InvalidEmporixHash(
            "expected 1:<iterations>:<salt>:<base64 hash> (version 1: PBKDF2-HMAC-SHA256)"
        )
    iterations = int(match[1])
    if not MIN_ITERATIONS <= iterations <= MAX_ITERATIONS:
        raise InvalidEmporixHash(
            f"iterations must be between {MIN_ITERATIONS} and {MAX_ITERATIONS}"
        )
    return iterations, match[2], _decoded_key(match[3])


def stored_form(emporix_hash: str) -> str:
    """The ``Account.password`` value for a valid Emporix hash (validated here)."""
    parse(emporix_hash)
    return f"{PREFIX}${emporix_hash}"


def imported_hash(text: str) -> str:
    """The ``Account.password`` value for an imported hash: Emporix's format or Django's
    (see the module's description); :class:`UnverifiableHash` otherwise."""
    if text.startswith("1:"):
        return stored_form(text)
    try:
        hasher = identify_hasher(text)  # only the hashers of PASSWORD_HASHERS
    except ValueError as exc:
        raise UnverifiableHash(
            "expected the Emporix format or <algorithm>$… of a configured password hasher"
        ) from exc
    if hasher.algorithm == PREFIX:
        return stored_form(text.partition("$")[2])
    try:
        if hasher.library:
            hasher._load_library()  # a hasher whose library is missing can verify nothing
        decoded = hasher.decode(text)
    except (ValueError, TypeError, IndexError) as exc:
        raise UnverifiableHash(f"not a valid {hasher.algorithm} hash") from exc
    for name, (lowest, highest) in IMPORT_COST_BOUNDS.get(hasher.algorithm, {}).items():
        cost = decoded.get(name)
        if not isinstance(cost, int) or not lowest <= cost <= highest:
            raise UnverifiableHash(
                f"{hasher.algorithm} {name.replace('_', ' ')} must be between {lowest} and "
                f"{highest}"
            )
    return text


def emporix_hash(password: str, salt: str, iterations: int = 10_000, length: int = 32) -> str:
    """An Emporix-format hash of ``password`` (for tests and demo data)."""
    key = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations, length)
    return f"1:{iterations}:{salt}:{base64.b64encode(key).decode()}"


class EmporixPBKDF2PasswordHasher(BasePasswordHasher):
    """Verifies imported Emporix hashes; never used to hash a new password."""

    algorithm = PREFIX

    def salt(self):
        raise NotImplementedError("Emporix hashes are imported, not made here.")

    def encode(self, password, salt):
        raise NotImplementedError("Emporix hashes are imported, not made here.")

    def decode(self, encoded):
        algorithm, _, text = encoded.partition("$")
        iterations, salt, key = parse(text)
        return {"algorithm": algorithm, "iterations": iterations, "salt": salt, "hash": key}

    def verify(self, password, encoded):
        try:
            decoded = self.decode(encoded)
        except InvalidEmporixHash:
            return False
        key = hashlib.pbkdf2_hmac(
            "sha256",
            password.encode(),
            decoded["salt"].encode(),
            decoded["iterations"],
            len(decoded["hash"]),
        )
        return constant_time_compare(key, decoded["hash"])

    def safe_summary(self, encoded):
        decoded = self.decode(encoded)
        return {
            _("algorithm"): decoded["algorithm"],
            _("iterations"): decoded["iterations"],
            _("salt"): mask_hash(decoded["salt"]),
            _("hash"): mask_hash(base64.b64encode(decoded["hash"]).decode()),
        }

    def must_update(self, encoded):
        return True  # re-hash with the default hasher at the first successful check

    def harden_runtime(self, password, encoded):
        pass
