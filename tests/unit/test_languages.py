"""The pages' languages: each catalogue translates every message of the
templates and of every code's sentence, the choice follows Accept-Language
and ?lang=, and a new catalogue is a new language with no code changed."""

from __future__ import annotations

import io
import shutil
from importlib import resources
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

import adapters.web.i18n
from adapters.web import words
from adapters.web.i18n import Catalogues

WEB = Path(resources.files("adapters.web"))  # type: ignore[arg-type]
LANGUAGES = ("de", "es", "fr", "zh")


def extracted() -> set[str]:
    """Every msgid the pages use, as pybabel extract finds them (babel.cfg)."""
    method_map = [("**.py", "python"), ("templates/**.html", "jinja2")]
    options = {"templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    found = {m[2] for m in extract_from_dir(str(WEB), method_map, options)}
    found |= {m[2] for m in extract_from_dir(str(WEB.parent / "http"),
                                             [("pages.py", "python"), ("merchant.py", "python")])}
    return {m if isinstance(m, str) else m[0] for m in found}


@pytest.mark.parametrize("tag", LANGUAGES)
def test_every_message_is_translated_in_every_catalogue(tag: str) -> None:
    po = WEB / "locale" / tag / "LC_MESSAGES" / "messages.po"
    catalog = read_po(io.BytesIO(po.read_bytes()), locale=tag)
    missing = sorted(m for m in extracted() if not (catalog.get(m) and catalog.get(m).string))
    assert missing == []
    assert not [m.id for m in catalog if m.id and m.fuzzy]


def test_every_status_event_reason_and_next_step_has_a_sentence() -> None:
    from tracking.codes import ExceptionReason, ScanEvent, Status
    from tracking.customs import CustomsStatus, HoldReason
    from tracking.progress import Milestone

    assert set(words.STATUS) == set(Status) and set(words.EVENT) == set(ScanEvent)
    assert set(words.NEXT) == set(ScanEvent) and set(words.REASON) == set(ExceptionReason)
    assert set(words.MILESTONE) == set(Milestone) and set(words.CUSTOMS) == set(CustomsStatus)
    assert set(words.HOLD) == set(HoldReason)
    catalogues = Catalogues.load()
    de = catalogues.languages["de"]
    for pair in (*words.EVENT.values(), *words.NEXT.values()):
        assert "Hong Kong, HK" in words.sentence(de, pair, "Hong Kong, HK", "V100")


@pytest.mark.parametrize(("asked", "header", "chosen"), [
    (None, "de-DE,de;q=0.9,en;q=0.8", "de"),
    (None, "zh-CN,zh;q=0.9", "zh"),
    (None, "zh-Hant-TW", "zh"),
    (None, "pt-BR, fr;q=0.5, es;q=0.7", "es"),
    (None, "en;q=0.1, fr", "fr"),
    (None, "ja, *;q=0.5", "en"),
    (None, None, "en"),
    ("fr", "de", "fr"),
    ("xx", "de", "de"),
    ("ES", None, "es"),
])
def test_the_language_follows_the_browser_and_lang_overrides_it(
    asked: str | None, header: str | None, chosen: str,
) -> None:
    assert Catalogues.load().choose(asked, header).tag == chosen


def test_a_translator_adds_a_language_with_a_catalogue_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    package = tmp_path / "adapters_web"
    shutil.copytree(WEB / "locale", package / "locale")
    sv = package / "locale" / "sv" / "LC_MESSAGES"
    sv.mkdir(parents=True)
    (sv / "messages.po").write_text('msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
                                   'msgid "In transit"\nmsgstr "Under transport"\n', "utf-8")
    monkeypatch.setattr(adapters.web.i18n.resources, "files", lambda _: package)
    catalogues = Catalogues.load()
    sv_lang = catalogues.choose(None, "sv-SE")
    assert sv_lang.tag == "sv" and sv_lang.gettext("In transit") == "Under transport"
    assert sv_lang.name == "svenska"


@pytest.mark.parametrize("tag", ["en", *LANGUAGES])
def test_templates_with_messages_translated_ahead_render_as_gettext_would(tag: str) -> None:
    from jinja2 import Environment, PackageLoader, select_autoescape

    from adapters.http.pages import Web
    from adapters.web.model import tracking_page
    from projections.readmodel import Views
    from projections.registry import READ_MODELS

    web = Web(None, Views.in_memory(READ_MODELS), None)  # type: ignore[arg-type]
    lang = web.catalogues.languages[tag]
    plain = Environment(loader=PackageLoader("adapters.web", "templates"),
                        autoescape=select_autoescape(default=True),
                        extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True)
    plain.install_gettext_translations(lang.translations, newstyle=True)  # type: ignore[attr-defined]
    plain.globals.update(web.environments[tag].globals)
    view = (b'{"tracking_number":"LX123456785CN","status":"IN_TRANSIT","last_location":"HKHKG",'
            b'"misdirected":false,"next_expected":null,"eta":null,"deliver_by":null,'
            b'"origin":"HKHKG","destination":"SESTO","events":[{"event":"RECEIVED",'
            b'"location":"HKHKG","occurred_at":"2009-03-02T01:00:00Z"}]}')
    context = dict(page=tracking_page(view, lang, web.places), etag="\"e\"", postcode="11122",
                   subscribed=True, email_error="x < y", number="LX123456785CN")
    context["page"].destination = "Stockholm, SE"
    for template in ("track.html", "index.html", "message.html"):
        extra = {"heading": "h", "text": "t", "more": None} if template == "message.html" else {}
        assert (web.environments[tag].get_template(template).render(**context, **extra)
                == plain.get_template(template).render(**context, **extra))
