"""Customer e-mail: a short message in the subscriber's language (the
tracking pages' catalogues and a template beside theirs) with the status
in words and a link to the tracking page, sent over SMTP (the standard
library's smtplib and email)."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import quote, unquote, urlsplit

import msgspec
from jinja2 import Environment, PackageLoader

from adapters.web.i18n import Catalogues
from adapters.web.words import STATUS
from projections.outbox import Message
from tracking.application import ShipmentService
from tracking.codes import Status
from tracking.errors import ShipmentNotFound
from tracking.personal_data import subject_of


class _Data(msgspec.Struct):
    status: Status


class _Body(msgspec.Struct):
    data: _Data


_body = msgspec.json.Decoder(_Body)


class Mailer:
    def __init__(self, smtp_url: str, sender: str, public_url: str, *,
                 timeout: float = 10.0) -> None:
        self.url, self.sender, self.timeout = urlsplit(smtp_url), sender, timeout
        self.public_url = public_url.rstrip("/")
        self.catalogues = Catalogues.installed()
        env = Environment(loader=PackageLoader("adapters.web", "templates"), autoescape=False,  # nosec B701: plain-text e-mail; HTML escaping would garble it
                          keep_trailing_newline=True)
        self.template = env.get_template("email.txt")

    def compose(self, message: Message, to: str, language: str) -> EmailMessage:
        lang = self.catalogues.choose(language, None)
        status = _body.decode(message.body).data.status
        title, sentence = STATUS[status]
        tn = message.tracking_number
        link = f"{self.public_url}/track/{quote(tn)}?lang={quote(lang.tag)}"
        mail = EmailMessage()
        mail["From"], mail["To"] = self.sender, to
        mail["Subject"] = f"{lang.gettext(title)}: {tn}"
        mail["Date"] = formatdate(localtime=False)
        # The same on every attempt: a mail system can drop a duplicate.
        mail["Message-ID"] = f"<{message.message_id}@tracking>"
        mail.set_content(self.template.render(title=lang.gettext(title),
                                              sentence=lang.gettext(sentence),
                                              tracking_number=tn, link=link))
        mail["Content-Language"] = lang.tag  # after the content, which sets Content-* anew
        return mail

    def send(self, service: ShipmentService, message: Message) -> bool:
        """Send ``message`` to the address it is for; False when there is
        none any more (the personal data was erased). SMTP errors raise."""
        index, _, language = message.target.partition(":")
        try:
            shipment = service.get(message.tracking_number)
        except ShipmentNotFound:
            return False
        subscriptions = shipment.subscriptions
        if int(index) >= len(subscriptions):
            return False
        address = service.personal_data.open(subject_of(shipment.id), "email",
                                              subscriptions[int(index)].email)
        if address is None:  # erased
            return False
        mail = self.compose(message, address, language)
        host, port = self.url.hostname or "localhost", self.url.port
        smtp_class = smtplib.SMTP_SSL if self.url.scheme == "smtps" else smtplib.SMTP
        with smtp_class(host, port or (465 if self.url.scheme == "smtps" else 25),
                        timeout=self.timeout) as smtp:
            if self.url.username:
                smtp.login(unquote(self.url.username), unquote(self.url.password or ""))
            smtp.send_message(mail)
        return True
