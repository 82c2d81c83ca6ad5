"""Every code of the tracking view as a sentence, through the catalogue.

The sentences are the msgids (English is the source language); each
function is given the request's Language and the already-worded place.
Extract with ``pybabel extract -F babel.cfg`` (see the locale README).
"""

from __future__ import annotations

from collections.abc import Callable

from tracking.codes import ExceptionReason, ScanEvent, Status
from tracking.customs import CustomsStatus, HoldReason
from tracking.progress import Milestone

from adapters.web.i18n import Language

Words = Callable[[Language], str]


def _(message: str) -> str:
    """Marks a msgid for extraction; it is looked up when shown."""
    return message


STATUS: dict[Status, tuple[str, str]] = {
    Status.INFO_RECEIVED: (_("Label created"), _(
        "The sender has told us about your parcel; we have not received it yet.")),
    Status.IN_TRANSIT: (_("In transit"), _("Your parcel is on its way.")),
    Status.IN_CUSTOMS: (_("With customs"), _("Your parcel is being cleared through customs.")),
    Status.CUSTOMS_HOLD: (_("Held by customs"), _(
        "Customs are holding your parcel. This page will say when it is released.")),
    Status.OUT_FOR_DELIVERY: (_("Out for delivery"), _(
        "Your parcel is on its way to the door and should arrive today.")),
    Status.DELIVERY_ATTEMPTED: (_("Delivery attempted"), _(
        "We tried to deliver your parcel but could not.")),
    Status.READY_FOR_PICKUP: (_("Ready for pickup"), _(
        "Your parcel is waiting for you at a pickup point.")),
    Status.DELIVERED: (_("Delivered"), _("Your parcel has been delivered.")),
    Status.EXCEPTION: (_("There is a problem"), _(
        "Something has gone wrong with your parcel; we are working on it.")),
    Status.RETURNING: (_("Returning to sender"), _(
        "Your parcel is on its way back to the sender.")),
    Status.RETURNED: (_("Returned to sender"), _("Your parcel has been returned to the sender.")),
}

# What happened: (without a voyage, with one).
EVENT: dict[ScanEvent, tuple[str, str]] = {
    ScanEvent.RECEIVED: (_("Received at %(place)s"), _("Received at %(place)s")),
    ScanEvent.LOADED: (_("Loaded at %(place)s"), _("Loaded onto %(voyage)s at %(place)s")),
    ScanEvent.DEPARTED: (_("Departed %(place)s"), _("Departed %(place)s on %(voyage)s")),
    ScanEvent.ARRIVED: (_("Arrived at %(place)s"), _("Arrived at %(place)s on %(voyage)s")),
    ScanEvent.UNLOADED: (_("Unloaded at %(place)s"), _("Unloaded from %(voyage)s at %(place)s")),
    ScanEvent.HANDED_OVER: (_("Handed over to the next carrier at %(place)s"),
                            _("Handed over to the next carrier at %(place)s")),
    ScanEvent.OUT_FOR_DELIVERY: (_("Out for delivery from %(place)s"),
                                 _("Out for delivery from %(place)s")),
    ScanEvent.DELIVERY_ATTEMPTED: (_("Delivery attempted at %(place)s"),
                                   _("Delivery attempted at %(place)s")),
    ScanEvent.READY_FOR_PICKUP: (_("Ready for pickup at %(place)s"),
                                 _("Ready for pickup at %(place)s")),
    ScanEvent.DELIVERED: (_("Delivered at %(place)s"), _("Delivered at %(place)s")),
    ScanEvent.RETURNED_TO_SENDER: (_("Sent back to the sender from %(place)s"),
                                   _("Sent back to the sender from %(place)s")),
    ScanEvent.EXCEPTION: (_("Problem at %(place)s"), _("Problem at %(place)s")),
}

# What the route expects next: (without a voyage, with one).
NEXT: dict[ScanEvent, tuple[str, str]] = {
    ScanEvent.RECEIVED: (_("We expect to receive it at %(place)s."),
                         _("We expect to receive it at %(place)s.")),
    ScanEvent.LOADED: (_("Next it will be loaded at %(place)s."),
                       _("Next it will be loaded onto %(voyage)s at %(place)s.")),
    ScanEvent.DEPARTED: (_("Next it will leave %(place)s."),
                         _("Next it will leave %(place)s on %(voyage)s.")),
    ScanEvent.ARRIVED: (_("Next it will arrive at %(place)s."),
                        _("Next it will arrive at %(place)s on %(voyage)s.")),
    ScanEvent.UNLOADED: (_("Next it will be unloaded at %(place)s."),
                         _("Next it will be unloaded from %(voyage)s at %(place)s.")),
    ScanEvent.HANDED_OVER: (_("Next it will be handed over to the next carrier at %(place)s."),
                            _("Next it will be handed over to the next carrier at %(place)s.")),
    ScanEvent.OUT_FOR_DELIVERY: (_("Next it will go out for delivery from %(place)s."),
                                 _("Next it will go out for delivery from %(place)s.")),
    ScanEvent.DELIVERY_ATTEMPTED: (_("Next a delivery will be attempted at %(place)s."),
                                   _("Next a delivery will be attempted at %(place)s.")),
    ScanEvent.READY_FOR_PICKUP: (_("Next it will be ready for pickup at %(place)s."),
                                 _("Next it will be ready for pickup at %(place)s.")),
    ScanEvent.DELIVERED: (_("Next it will be delivered at %(place)s."),
                          _("Next it will be delivered at %(place)s.")),
    ScanEvent.RETURNED_TO_SENDER: (_("Next it will be sent back to the sender from %(place)s."),
                                   _("Next it will be sent back to the sender from %(place)s.")),
    ScanEvent.EXCEPTION: (_("Next it will be checked at %(place)s."),
                          _("Next it will be checked at %(place)s.")),
}

REASON: dict[ExceptionReason, str] = {
    ExceptionReason.DAMAGED: _("The parcel is damaged."),
    ExceptionReason.LOST: _("The parcel cannot be found."),
    ExceptionReason.ADDRESS_PROBLEM: _("There is a problem with the address."),
    ExceptionReason.REFUSED: _("Delivery was refused."),
    ExceptionReason.WEATHER: _("The weather is holding it up."),
    ExceptionReason.OTHER: _("Something unexpected happened."),
}

MILESTONE: dict[Milestone, str] = {
    Milestone.BOOKED: _("Booked"),
    Milestone.RECEIVED: _("Received"),
    Milestone.DEPARTED_ORIGIN: _("Left the origin"),
    Milestone.ARRIVED_DESTINATION_COUNTRY: _("In the destination country"),
    Milestone.CUSTOMS: _("Customs"),
    Milestone.OUT_FOR_DELIVERY: _("Out for delivery"),
    Milestone.DELIVERED: _("Delivered"),
}

CUSTOMS: dict[CustomsStatus, str] = {
    CustomsStatus.DECLARED: _("declared"),
    CustomsStatus.LODGED: _("declaration lodged"),
    CustomsStatus.ACCEPTED: _("declaration accepted"),
    CustomsStatus.HELD: _("held"),
    CustomsStatus.DUTIES_ASSESSED: _("duties assessed"),
    CustomsStatus.DUTIES_PAID: _("duties paid"),
    CustomsStatus.RELEASED: _("released"),
    CustomsStatus.REJECTED: _("declaration rejected"),
    CustomsStatus.SEIZED: _("seized"),
    CustomsStatus.RETURNED: _("sent back"),
}

HOLD: dict[HoldReason, str] = {
    HoldReason.DOCUMENTS: _("documents are needed"),
    HoldReason.INSPECTION: _("being inspected"),
    HoldReason.PAYMENT: _("payment is needed"),
    HoldReason.PROHIBITED_GOODS: _("goods that are not allowed"),
    HoldReason.OTHER: _("another reason"),
}


def sentence(lang: Language, pair: tuple[str, str], place: str, voyage: str | None) -> str:
    message = pair[1] if voyage else pair[0]
    return lang.gettext(message) % {"place": place, "voyage": voyage or ""}
