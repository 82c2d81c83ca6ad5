"""Personal data, sealed per data subject, so that one person can be erased
from an append-only log (crypto-shredding).

A recipient's name and postcode and a subscriber's e-mail address are kept
in events, snapshots and views only as ``Sealed`` values: AES-GCM under the
data key of their data subject (one per shipment, ``subject_of``). Erasing
the subject deletes its key, and every sealed copy of it, wherever it went,
is noise from then on; the library's one application-wide cipher could not
do that for one person.

The aggregates and their events only ever hold ``Sealed`` values, opaque to
them. Values are sealed as they come in (the application service, through
the ``Vault``) and opened where a view is rendered for someone allowed to
read them (adapters), both through the ``KeyStore`` port: the stores that
keep keys (a table of their own, wrapped by a master key) are adapters'
(adapters/keys.py); ``MemoryKeyStore`` is for tests and the in-memory
event store.

A recipient's name is found by its words through a blind index kept with
the keys (``BlindIndex`` tags only, never the words; erased with the key):
``KeyStore.index`` and ``find``, ``Vault.find_recipients``.

Events recorded before sealing existed (class_version 1 of ``Booked`` and
``NotificationSubscribed``) held plain strings: their upcast reads each as
``Sealed(plain=...)``, not yet sealed. Such a value is shown as it is until
the subject is erased; the erasure event then blanks it in every view and
aggregate, but the stored v1 event keeps its bytes (an append-only log is
not rewritten here: README "Security and privacy").
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
import unicodedata
from collections.abc import Collection, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from uuid import UUID

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tracking.errors import BookingConflict
from tracking.identifiers import CountryCode

if TYPE_CHECKING:
    from tracking.booking import Booking, Recipient
    from tracking.subscription import Subscription

B = TypeVar("B", bound="Booking | None")

DATA_KEY_BYTES = 32  # AES-256
_NONCE = 12
MIN_WORD = 2  # shorter words (initials) are neither indexed nor searched for
FOUND_AT_MOST = 100


class Sealed(msgspec.Struct, frozen=True, omit_defaults=True, gc=False):
    """One personal value as it is kept: ``box`` is a nonce and the AES-GCM
    ciphertext under its subject's key; ``plain`` is a value recorded before
    sealing existed (not yet sealed). Both empty: erased."""

    box: bytes = b""
    plain: str | None = None

    def __repr__(self) -> str:  # never the value, in a log or a traceback
        return "Sealed(erased)" if self.is_erased else "Sealed(…)"

    @property
    def is_erased(self) -> bool:
        return not self.box and self.plain is None


ERASED = Sealed()


class SealedRecipient(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag_field="form",
                      tag="sealed"):
    """A booking's recipient as kept: name and postcode sealed, and a keyed
    digest of the normalised postcode (under the subject's key, so erased
    with it) that the public postcode check compares against."""

    name: Sealed
    postcode: Sealed
    country: CountryCode
    postcode_tag: bytes = b""


def erased_recipient(country: CountryCode) -> SealedRecipient:
    """What is left of a recipient once erased: the country (the destination's)."""
    return SealedRecipient(name=ERASED, postcode=ERASED, country=country)


def upcast_booked_v1(state: dict[str, Any]) -> None:
    """A v1 ``Booked``'s recipient was plain: it reads as not yet sealed."""
    recipient = state["booking"].get("recipient")
    if recipient is not None:
        recipient["form"] = "plain"


def upcast_subscribed_v1(state: dict[str, Any]) -> None:
    """A v1 ``NotificationSubscribed``'s address was plain: not yet sealed."""
    subscription = state["subscription"]
    subscription["email"] = {"plain": subscription["email"]}


def blanked(booking: B, subscriptions: list[Subscription]) -> tuple[B, list[Subscription]]:
    """A shipment's booking and subscriptions once its personal data is
    erased: whatever they held, sealed or plain, is gone from them."""
    if booking is not None and booking.recipient is not None:
        booking = msgspec.structs.replace(
            booking, recipient=erased_recipient(booking.recipient.country))
    return booking, [msgspec.structs.replace(x, email=ERASED) for x in subscriptions]


class OpenedRecipient(msgspec.Struct, frozen=True, kw_only=True):
    """The recipient as an agent's view shows it: ``erased`` once the
    personal data was erased (name and postcode are then null)."""

    name: str | None
    postcode: str | None
    country: str
    erased: bool = False


class PersonalDataErased(BookingConflict):
    """Raised when personal data would be sealed for a data subject that was
    erased: its key is gone for good, and no new one is made."""


class KeyStore(Protocol):
    """Where data keys are kept, one per data subject (the port)."""

    def key(self, subject: str, *, create: bool = False) -> bytes | None:
        """The subject's data key; with ``create``, a new one when it has
        none yet. None: it has none (erased, or never made). Raises
        PersonalDataErased when ``create`` is asked for an erased subject."""

    def erase(self, subject: str, at: datetime) -> bool:
        """Delete the subject's key for good (a tombstone stays, so none is
        made again), and its rows of the name index, at once; False when it
        was erased already."""

    def index(self, subject: str, words: Collection[str]) -> None:
        """Make the subject findable by each word (``name_words``), kept only
        as its ``BlindIndex`` tag; again changes nothing; nothing for a
        subject without a live key (erased, or never made)."""

    def find(self, words: Collection[str], limit: int = FOUND_AT_MOST) -> list[str]:
        """The subjects indexed under every one of the words, at most
        ``limit``, in order (no word: none)."""


def name_words(text: str) -> frozenset[str]:
    """The words a name is found by: Unicode-normalised (NFKC, so composed
    and decomposed accents and full-width letters agree), case-folded, split
    on whitespace, the shorter than MIN_WORD left out. Accents stay: "Muller"
    does not find "Müller"."""
    return frozenset(w for w in unicodedata.normalize("NFKC", text).casefold().split()
                     if len(w) >= MIN_WORD)


class BlindIndex:
    """What the name index keeps instead of a word: its HMAC-SHA256 under the
    index key. A copy of the index without that key names no one (it shows
    how many words each name has, and which names share one); with it, one
    can test guesses of a name (README "Security and privacy")."""

    INFO = b"tracking recipient name index v1"  # HKDF's info: a key of its own

    def __init__(self, key: bytes) -> None:
        self._key = key

    @classmethod
    def derived(cls, master: bytes) -> BlindIndex:
        """The index key, derived from the master key (never stored)."""
        return cls(HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                        info=cls.INFO).derive(master))

    def tags(self, words: Iterable[str]) -> list[bytes]:
        return sorted({hmac.new(self._key, w.encode(), hashlib.sha256).digest() for w in words})


class MemoryKeyStore:
    """Keys in a dict: tests, and the in-memory event store (its index key
    is random, made per process, as the data it indexes is)."""

    def __init__(self) -> None:
        self._keys: dict[str, bytes | None] = {}
        self._lock = threading.Lock()
        self._blind = BlindIndex(os.urandom(32))
        self._tagged: dict[bytes, set[str]] = {}  # tag -> subjects
        self._tags: dict[str, set[bytes]] = {}  # subject -> its tags, for erasure

    def key(self, subject: str, *, create: bool = False) -> bytes | None:
        with self._lock:
            if subject in self._keys:
                found = self._keys[subject]
                if found is None and create:
                    raise PersonalDataErased(f"the personal data of {subject} was erased")
                return found
            if not create:
                return None
            made = self._keys[subject] = os.urandom(DATA_KEY_BYTES)
            return made

    def erase(self, subject: str, at: datetime) -> bool:
        with self._lock:
            was = self._keys.get(subject, b"")
            self._keys[subject] = None
            for tag in self._tags.pop(subject, set()):
                self._tagged[tag].discard(subject)
            return was is not None

    def index(self, subject: str, words: Collection[str]) -> None:
        tags = self._blind.tags(words)
        with self._lock:
            if self._keys.get(subject) is None:
                return
            self._tags.setdefault(subject, set()).update(tags)
            for tag in tags:
                self._tagged.setdefault(tag, set()).add(subject)

    def find(self, words: Collection[str], limit: int = FOUND_AT_MOST) -> list[str]:
        tags = self._blind.tags(words)
        if not tags:
            return []
        with self._lock:
            found = set.intersection(*(self._tagged.get(t, set()) for t in tags))
        return sorted(found)[:limit]


def subject_of(shipment_uuid: UUID) -> str:
    """The data subject of a shipment's personal data: its recipient, named
    by the shipment's id (a later carrier's number names the same one)."""
    return str(shipment_uuid)


def _normal_postcode(code: str) -> bytes:
    return "".join(code.split()).upper().encode()


class _SubjectKeys:
    """The two keys derived from one data key: one encrypts, one digests."""

    __slots__ = ("aead", "mac")

    def __init__(self, data_key: bytes) -> None:
        derived = HKDF(algorithm=hashes.SHA256(), length=64, salt=None,
                       info=b"tracking personal data v1").derive(data_key)
        self.aead = AESGCM(derived[:32])
        self.mac = derived[32:]

    def digest(self, purpose: bytes, value: bytes) -> bytes:
        return hmac.new(self.mac, purpose + b"\0" + value, hashlib.sha256).digest()


class Vault:
    """Seals and opens one subject's personal values with its data key."""

    def __init__(self, keys: KeyStore) -> None:
        self.keys = keys

    def _keys(self, subject: str, *, create: bool = False) -> _SubjectKeys | None:
        key = self.keys.key(subject, create=create)
        return None if key is None else _SubjectKeys(key)

    @staticmethod
    def _seal(keys: _SubjectKeys, subject: str, purpose: str, text: str) -> Sealed:
        data, aad = text.encode(), f"{subject}/{purpose}".encode()
        # A synthetic nonce (the value's keyed digest): the same value seals
        # to the same box, so booking the same body again is still a no-op;
        # a nonce repeats only with its plaintext, which then says nothing new.
        nonce = keys.digest(b"nonce/" + aad, data)[:_NONCE]
        return Sealed(box=nonce + keys.aead.encrypt(nonce, data, aad))

    def seal(self, subject: str, purpose: str, text: str) -> Sealed:
        keys = self._keys(subject, create=True)
        assert keys is not None
        return self._seal(keys, subject, purpose, text)

    def seal_recipient(self, subject: str, recipient: Recipient) -> SealedRecipient:
        keys = self._keys(subject, create=True)
        assert keys is not None
        return SealedRecipient(
            name=self._seal(keys, subject, "name", recipient.name),
            postcode=self._seal(keys, subject, "postcode", recipient.postcode),
            country=recipient.country,
            postcode_tag=keys.digest(b"postcode", _normal_postcode(recipient.postcode)),
        )

    def index_recipient(self, subject: str, recipient: Recipient) -> None:
        """Make the subject findable by the words of the recipient's name."""
        self.keys.index(subject, name_words(recipient.name))

    def find_recipients(self, query: str, limit: int = FOUND_AT_MOST) -> list[str]:
        """The subjects whose recipient's name has every word of ``query``
        (words shorter than MIN_WORD aside; none left: none)."""
        words = name_words(query)
        return self.keys.find(words, limit) if words else []

    def open(self, subject: str, purpose: str, sealed: Sealed) -> str | None:
        """The value, or None when it was erased (its key is gone)."""
        if sealed.plain is not None:
            return sealed.plain
        if sealed.is_erased:
            return None
        keys = self._keys(subject)
        if keys is None:
            return None
        try:
            return keys.aead.decrypt(sealed.box[:_NONCE], sealed.box[_NONCE:],
                                     f"{subject}/{purpose}".encode()).decode()
        except InvalidTag:
            return None  # not sealed under this subject's key: as unreadable as erased

    def open_recipient(self, subject: str, sealed: SealedRecipient) -> OpenedRecipient:
        name = self.open(subject, "name", sealed.name)
        postcode = self.open(subject, "postcode", sealed.postcode)
        return OpenedRecipient(name=name, postcode=postcode, country=str(sealed.country),
                               erased=name is None and postcode is None)

    def postcode_matches(self, subject: str, sealed: SealedRecipient, given: str) -> bool:
        """Whether someone gave the recipient's postcode (spaces and case
        aside), in constant time; never once erased."""
        if not given:
            return False
        if sealed.postcode.plain is not None:  # not yet sealed (a v1 event)
            return hmac.compare_digest(_normal_postcode(sealed.postcode.plain),
                                       _normal_postcode(given))
        keys = self._keys(subject) if sealed.postcode_tag else None
        if keys is None:
            return False
        return hmac.compare_digest(keys.digest(b"postcode", _normal_postcode(given)),
                                   sealed.postcode_tag)

    def erase(self, subject: str, at: datetime) -> bool:
        return self.keys.erase(subject, at)

