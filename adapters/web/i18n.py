"""Languages of the pages: gettext catalogues (Babel), the choice of one
per request, and dates by locale.

Catalogues are the ``.po`` files under ``locale/<lang>/LC_MESSAGES``,
compiled in memory when the process starts (a few milliseconds), so a
fresh install, editable or not, needs no build step and no ``.mo`` files.
A translator adds a language by adding its ``messages.po``: the language is
offered from then on. English is the source language (the msgids).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cache, cached_property
from datetime import datetime
from importlib import resources

from babel import Locale, UnknownLocaleError
from babel.dates import (
    DateTimePattern,
    format_interval,
    get_datetime_format,
    get_timezone_gmt,
    match_skeleton,
    parse_pattern,
)
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

SOURCE_LANGUAGE = "en"


@dataclass(frozen=True)
class Language:
    tag: str  # as in ?lang= and <html lang>
    locale: Locale
    translations: NullTranslations

    @cached_property
    def name(self) -> str:
        """The language's own name for itself ("Deutsch", "中文"); asked by
        every page's language menu, so looked up in Babel's data once."""
        return self.locale.get_display_name(self.locale).split(" (")[0]

    def gettext(self, message: str) -> str:
        return self.translations.gettext(message)

    # -- dates, by the locale's own patterns ---------------------------------------
    # (Skeletons are matched to the locale's patterns once: Babel matches them
    # again on every call, which was most of a page's rendering time.)

    def _skeleton(self, skeleton: str) -> DateTimePattern:
        found = match_skeleton(skeleton, self.locale.datetime_skeletons) or skeleton
        return parse_pattern(self.locale.datetime_skeletons[found])

    @cached_property
    def _long_date(self) -> DateTimePattern:
        return self._skeleton("yMMMMEEEEd")

    @cached_property
    def _short_date(self) -> DateTimePattern:
        return self._skeleton("yMMMd")

    @cached_property
    def _time(self) -> DateTimePattern:
        return parse_pattern(self.locale.time_formats["short"])

    @cached_property
    def _date_and_time(self) -> str:
        return get_datetime_format("medium", locale=self.locale).replace("'", "")

    def date(self, when: datetime) -> str:
        return self._dated(("long", when.year, when.month, when.day), when, self._long_date)

    def time_at(self, when: datetime) -> str:
        """Date and time as they were where it happened, with the UTC offset."""
        day = self._dated(("short", when.year, when.month, when.day), when, self._short_date)
        clock = self._dated(("time", when.hour, when.minute), when, self._time)
        offset = when.utcoffset()
        gmt = self._formatted.get(offset)
        if gmt is None:
            gmt = self._keep(offset, get_timezone_gmt(when, "long", locale=self.locale))
        return f"{self._date_and_time.format(clock, day)} ({gmt})"

    def _dated(self, key: tuple[object, ...], when: datetime, pattern: DateTimePattern) -> str:
        """A date or time part, formatted once per value: a page shows many
        events on few days, and Babel's formatting is most of a page's time."""
        text = self._formatted.get(key)
        if text is None:
            text = self._keep(key, pattern.apply(when, self.locale))
        return text

    def _keep(self, key: object, text: str) -> str:
        if len(self._formatted) > 20_000:  # a bound, whatever the values asked for
            self._formatted.clear()
        self._formatted[key] = text
        return text

    @cached_property
    def _formatted(self) -> dict[object, str]:
        return {}

    def date_range(self, start: datetime, end: datetime) -> str:
        """From one day to another (days only: formatted once per pair of days,
        Babel's interval formatting costing as much as the rest of a page's dates)."""
        if start.tzinfo is not None:
            end = end.astimezone(start.tzinfo)
        key = ("range", start.year, start.month, start.day, end.year, end.month, end.day)
        text = self._formatted.get(key)
        if text is None:
            text = self._keep(key, format_interval(start, end, "yMMMd", tzinfo=start.tzinfo,
                                                   locale=self.locale))
        return text


class Catalogues:
    """Every language there is a catalogue for, and English."""

    def __init__(self, languages: dict[str, Language]) -> None:
        self.languages = languages
        self.default = languages[SOURCE_LANGUAGE]
        self._chosen: dict[tuple[str | None, str | None], Language] = {}

    @classmethod
    @cache
    def installed(cls) -> Catalogues:
        """The package's catalogues, compiled once per process: each app's
        pages, console and merchant page, and the e-mails, share them."""
        return cls.load()

    @classmethod
    def load(cls) -> Catalogues:
        languages = {SOURCE_LANGUAGE: Language(SOURCE_LANGUAGE, Locale.parse(SOURCE_LANGUAGE),
                                               NullTranslations())}
        root = resources.files("adapters.web").joinpath("locale")
        for folder in sorted(root.iterdir(), key=lambda f: f.name):
            po = folder.joinpath("LC_MESSAGES", "messages.po")
            if not po.is_file():
                continue
            catalog = read_po(io.BytesIO(po.read_bytes()), locale=folder.name)
            compiled = io.BytesIO()
            write_mo(compiled, catalog)
            compiled.seek(0)
            tag = folder.name.replace("_", "-")
            languages[tag] = Language(tag, Locale.parse(folder.name), Translations(compiled))
        return cls(languages)

    def choose(self, asked: str | None, accept_language: str | None) -> Language:
        """``?lang=`` when it names a language we have; else the best of
        Accept-Language (Babel's negotiation over its q-ordered tags); else
        English. Decided once per pair (a bounded cache: the same few headers
        come again and again)."""
        key = (asked, accept_language)
        found = self._chosen.get(key)
        if found is None:
            if len(self._chosen) >= 4096:
                self._chosen.clear()
            found = self._chosen[key] = self._choose(asked, accept_language)
        return found

    def _choose(self, asked: str | None, accept_language: str | None) -> Language:
        for tag in ([asked] if asked else []):
            found = self._match([tag])
            if found is not None:
                return found
        return self._match(_preferred(accept_language or "")) or self.default

    def _match(self, preferred: list[str]) -> Language | None:
        available = list(self.languages)
        tag = Locale.negotiate([p.replace("-", "_") for p in preferred],
                               [a.replace("-", "_") for a in available], sep="_")
        if tag is None:
            return None
        key = str(tag).replace("_", "-")
        if key in self.languages:
            return self.languages[key]
        # A regional form (zh_Hans_CN) of a language we have (zh).
        try:
            return self.languages.get(Locale.parse(str(tag)).language)
        except (UnknownLocaleError, ValueError):
            return None


def _preferred(header: str) -> list[str]:
    """The tags of an Accept-Language header, most wanted first."""
    weighted = []
    for i, part in enumerate(header.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if tag and tag != "*" and q > 0:
            weighted.append((-q, i, tag.strip()))
    return [tag for _, _, tag in sorted(weighted)]
