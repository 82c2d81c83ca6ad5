"""The per-lane choice between the carrier's estimates and the lane model
(``tracking.eta.sources``), and a model published before the choice existed
(``Published`` v1) still loading: the model everywhere."""

from __future__ import annotations

from tracking.application import ShipmentService
from tracking.codes import SourceKind
from tracking.eta.fit import Parameters
from tracking.eta.model import EtaModel
from tracking.eta.sources import LaneScore, carrier_lanes
from tracking.mapper import StructMapper
from tracking.scan import Source


def test_the_carrier_wins_a_lane_only_when_measured_better_on_enough_shipments() -> None:
    scores = {
        "lane A": LaneScore(shipments=12, etas=40, carrier_error=40.0, model_error=400.0),
        "lane B": LaneScore(shipments=12, etas=40, carrier_error=400.0, model_error=40.0),
        "lane C": LaneScore(shipments=9, etas=40, carrier_error=1.0, model_error=400.0),
        "lane D": LaneScore(shipments=12, etas=40, carrier_error=40.0, model_error=40.0),
    }
    assert carrier_lanes(scores) == ("lane A",)  # C: too few shipments; D: a tie keeps ours
    assert carrier_lanes(scores, minimum=5) == ("lane A", "lane C")


def test_a_model_published_before_the_carrier_was_scored_loads_with_no_carrier_lane() -> None:
    mapper = StructMapper()
    model = EtaModel.open()
    model.publish((), deliveries=3, parameters=Parameters(),
                  source=Source(SourceKind.SYSTEM, "test"), carrier_lanes=("lane X",))
    _, published = model.collect_events()
    stored = mapper.to_stored_event(published)
    assert b'"class_version":2' in stored.state
    v1 = stored.state.replace(b',"carrier_lanes":["lane X"]', b"").replace(
        b',"class_version":2', b"")
    assert v1 != stored.state and b"carrier_lanes" not in v1
    back = mapper.to_domain_event(type(stored)(stored.originator_id, 2, stored.topic, v1))
    assert isinstance(back, EtaModel.Published) and back.model().carrier_lanes == ()
    now = mapper.to_domain_event(stored)
    assert isinstance(now, EtaModel.Published) and now.model().carrier_lanes == ("lane X",)


def test_the_model_book_of_a_write_answer_has_every_model_published_even_after_a_read() -> None:
    """The service keeps the book it read and reads only what was published
    since: a model published after a read is in the next book, none twice."""
    service = ShipmentService()
    source = Source(SourceKind.SYSTEM, "test")
    assert service.eta_models.book().latest_version == 0
    first, _ = service.eta_models.publish((), deliveries=3, parameters=Parameters(), source=source)
    assert [m.version for m in service.eta_models.book().models] == [first]
    second, _ = service.eta_models.publish((), deliveries=4, parameters=Parameters(),
                                          source=source)
    book = service.eta_models.book()
    assert [m.version for m in book.models] == [first, second]
    assert [m.deliveries for m in book.models] == [3, 4]
    assert [m.version for m in service.eta_models.book().models] == [first, second]
