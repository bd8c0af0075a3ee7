"""Trips, their status machine and the CHECKs of every booking table, with SQLSTATEs."""

from __future__ import annotations

import psycopg
import pytest


@pytest.fixture
def trip(people, session_as):
    a = session_as(people.a)
    trip_id = a.execute(
        "INSERT INTO travel.trips (owner_id, title) VALUES (%s, 'Lisbon') RETURNING id", (people.a,)
    ).fetchone()[0]
    return a, trip_id


ALLOWED = [
    ("planning", "booked"),
    ("planning", "canceled"),
    ("booked", "completed"),
    ("booked", "canceled"),
]
STATES = ["planning", "booked", "completed", "canceled"]


def path_to(state: str) -> list[str]:
    return {
        "planning": [],
        "booked": ["booked"],
        "completed": ["booked", "completed"],
        "canceled": ["canceled"],
    }[state]


@pytest.mark.parametrize(("start", "end"), [(s, e) for s in STATES for e in STATES if s != e])
def test_the_status_machine_allows_only_its_transitions(trip, start, end):
    a, trip_id = trip
    for state in path_to(start):
        a.execute("UPDATE travel.trips SET status = %s WHERE id = %s", (state, trip_id))
    if (start, end) in ALLOWED:
        assert (
            a.execute("UPDATE travel.trips SET status = %s WHERE id = %s", (end, trip_id)).rowcount
            == 1
        )
    else:
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState) as caught:
            a.execute("UPDATE travel.trips SET status = %s WHERE id = %s", (end, trip_id))
        assert f"from {start} to {end}" in str(caught.value)
        assert a.execute(
            "SELECT status FROM travel.trips WHERE id = %s", (trip_id,)
        ).fetchone() == (start,)


def test_a_trip_cannot_start_completed(people, session_as):
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState):
        session_as(people.a).execute(
            "INSERT INTO travel.trips (owner_id, title, status) VALUES (%s, 'x', 'completed')",
            (people.a,),
        )


TRIP_BAD = [
    ("end before start", "start_date = '2027-05-05', end_date = '2027-05-01'", "23514"),
    ("no travelers", "travelers = 0", "23514"),
    ("budget zero", "budget = 0", "23514"),
    ("budget negative", "budget = -10", "23514"),
    ("currency lowercase", "currency = 'eur'", "23514"),
    ("currency long", "currency = 'EURO'", "23514"),
    ("unknown status", "status = 'dreaming'", "23514"),
    ("blank title", "title = '  '", "23514"),
    ("metadata array", "metadata = '[]'", "23514"),
    ("title NULL", "title = NULL", "23502"),
]


@pytest.mark.parametrize(("case", "change", "sqlstate"), TRIP_BAD, ids=[c[0] for c in TRIP_BAD])
def test_trip_checks(trip, case, change, sqlstate):
    a, trip_id = trip
    with pytest.raises(psycopg.Error) as caught:
        a.execute(f"UPDATE travel.trips SET {change} WHERE id = %s", (trip_id,))
    assert caught.value.sqlstate == sqlstate


FLIGHT = (
    "INSERT INTO travel.flights (trip_id, airline, flight_number, departure_airport, arrival_airport,"
    " departure_time, arrival_time, price) VALUES (%(trip)s, %(airline)s, %(number)s, %(from)s, %(to)s,"
    " %(dep)s, %(arr)s, %(price)s)"
)
GOOD_FLIGHT = {
    "airline": "TAP",
    "number": "TP1350",
    "from": "LIS",
    "to": "LHR",
    "dep": "2027-05-01 08:00Z",
    "arr": "2027-05-01 10:45Z",
    "price": 120,
}
FLIGHT_BAD = [
    ("arrival before departure", {"arr": "2027-05-01 07:00Z"}, "23514"),
    ("arrival equals departure", {"arr": "2027-05-01 08:00Z"}, "23514"),
    ("negative price", {"price": -1}, "23514"),
    ("bad airport code", {"from": "Lisbon"}, "23514"),
    ("same airports", {"to": "LIS"}, "23514"),
    ("bad flight number", {"number": "tap 1350"}, "23514"),
    ("blank airline", {"airline": " "}, "23514"),
]


@pytest.mark.parametrize(
    ("case", "override", "sqlstate"), FLIGHT_BAD, ids=[c[0] for c in FLIGHT_BAD]
)
def test_flight_checks(trip, case, override, sqlstate):
    a, trip_id = trip
    with pytest.raises(psycopg.Error) as caught:
        a.execute(FLIGHT, {"trip": trip_id, **GOOD_FLIGHT, **override})
    assert caught.value.sqlstate == sqlstate
    a.execute(FLIGHT, {"trip": trip_id, **GOOD_FLIGHT})  # the good one passes


STAY = (
    "INSERT INTO travel.accommodations (trip_id, name, type, check_in, check_out, price_per_night,"
    " total_price, rating, latitude) VALUES (%(trip)s, 'Hotel', %(type)s, %(in)s, %(out)s, %(night)s,"
    " %(total)s, %(rating)s, %(lat)s)"
)
GOOD_STAY = {
    "type": "hotel",
    "in": "2027-05-01",
    "out": "2027-05-04",
    "night": 90,
    "total": 270,
    "rating": 4.5,
    "lat": 38.7,
}
STAY_BAD = [
    ("check-out before check-in", {"out": "2027-04-30"}, "23514"),
    ("same day", {"out": "2027-05-01"}, "23514"),
    ("negative nightly price", {"night": -1}, "23514"),
    ("negative total", {"total": -5}, "23514"),
    ("rating above 5", {"rating": 6}, "23514"),
    ("latitude out of range", {"lat": 91}, "23514"),
    ("unknown type", {"type": "castle"}, "23514"),
]


@pytest.mark.parametrize(("case", "override", "sqlstate"), STAY_BAD, ids=[c[0] for c in STAY_BAD])
def test_accommodation_checks(trip, case, override, sqlstate):
    a, trip_id = trip
    with pytest.raises(psycopg.Error) as caught:
        a.execute(STAY, {"trip": trip_id, **GOOD_STAY, **override})
    assert caught.value.sqlstate == sqlstate
    a.execute(STAY, {"trip": trip_id, **GOOD_STAY})


@pytest.mark.parametrize(
    ("case", "values", "sqlstate"),
    [
        ("ends before it starts", "'2027-05-02 10:00Z', '2027-05-02 09:00Z', 10", "23514"),
        ("negative price", "'2027-05-02 10:00Z', NULL, -1", "23514"),
        ("no start", "NULL, NULL, 1", "23502"),
    ],
)
def test_activity_checks(trip, case, values, sqlstate):
    a, trip_id = trip
    with pytest.raises(psycopg.Error) as caught:
        a.execute(
            f"INSERT INTO travel.activities (trip_id, name, starts_at, ends_at, price)"
            f" VALUES (%s, 'Tour', {values})",
            (trip_id,),
        )
    assert caught.value.sqlstate == sqlstate


def test_updated_at_follows_changes(trip):
    a, trip_id = trip
    a.execute("UPDATE travel.trips SET updated_at = '2000-01-01' WHERE id = %s", (trip_id,))
    a.execute("UPDATE travel.trips SET title = 'Porto' WHERE id = %s", (trip_id,))
    assert a.execute("SELECT updated_at > '2020-01-01' FROM travel.trips").fetchone() == (True,)
