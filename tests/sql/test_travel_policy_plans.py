"""The trip policies let the planner use the trip_id index: on 24,000 flights, accommodations and
activities of 400 users, one user's unfiltered SELECT reads that user's rows only. Written
`trip_id IN (SELECT travel.my_trip_ids())`, the policy was a hashed subplan filtering every row."""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest

from helpers import Database
from vectors import owner

USERS = 400
PER_TRIP = 20  # of each kind: 400 x 20 x 3 = 24,000 bookings


@pytest.fixture(scope="module")
def many_trips(module_db: Database) -> dict[str, uuid.UUID]:
    with owner(module_db.url) as conn:
        conn.execute("SET session_replication_role = replica")  # bulk load: no audit rows
        users = [uuid.uuid4() for _ in range(USERS)]
        with conn.cursor().copy("COPY app.users (id, email) FROM STDIN") as copy:
            for i, user in enumerate(users):
                copy.write_row((user, f"u{i}@example.com"))
        trips = {user: uuid.uuid4() for user in users}
        with conn.cursor().copy("COPY travel.trips (id, owner_id, title) FROM STDIN") as copy:
            for user, trip in trips.items():
                copy.write_row((trip, user, "trip"))
        conn.execute(
            "INSERT INTO travel.flights (trip_id, airline, flight_number, departure_airport,"
            " arrival_airport, departure_time, arrival_time)"
            " SELECT t.id, 'TAP', 'TP1350', 'LIS', 'LHR', now() + i * interval '1 day',"
            "        now() + i * interval '1 day' + interval '3 hours'"
            " FROM travel.trips AS t, generate_series(1, %s) AS i",
            (PER_TRIP,),
        )
        conn.execute(
            "INSERT INTO travel.accommodations (trip_id, name, check_in, check_out)"
            " SELECT t.id, 'Hotel', current_date + i, current_date + i + 1"
            " FROM travel.trips AS t, generate_series(1, %s) AS i",
            (PER_TRIP,),
        )
        conn.execute(
            "INSERT INTO travel.activities (trip_id, name, starts_at)"
            " SELECT t.id, 'Walk', now() + i * interval '1 day'"
            " FROM travel.trips AS t, generate_series(1, %s) AS i",
            (PER_TRIP,),
        )
        conn.execute("ANALYZE")
    return {"user": users[7], "trip": trips[users[7]]}


def plan_as(url: str, user: uuid.UUID, query: str) -> dict:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "SELECT set_config('role', 'authenticated', false), set_config('app.user_id', %s, false)",
            (str(user),),
        )
        row = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {query}").fetchone()
    assert row is not None
    plan = row[0] if isinstance(row[0], list) else json.loads(row[0])
    return plan[0]["Plan"]


def nodes(plan: dict) -> list[dict]:
    return [plan, *(node for child in plan.get("Plans", []) for node in nodes(child))]


@pytest.mark.parametrize(
    ("table", "index"),
    [
        ("travel.flights", "flights_trip"),
        ("travel.accommodations", "accommodations_trip"),
        ("travel.activities", "activities_trip"),
    ],
)
def test_a_users_bookings_are_read_through_the_trip_index(module_db, many_trips, table, index):
    plan = plan_as(module_db.url, many_trips["user"], f"SELECT * FROM {table}")
    scans = [n for n in nodes(plan) if n.get("Relation Name") == table.split(".")[1]]
    assert scans, plan
    assert all(n["Node Type"] != "Seq Scan" for n in scans), scans
    assert any(n.get("Index Name") == index for n in nodes(plan)), plan
    assert plan["Actual Rows"] == PER_TRIP
    assert sum(n.get("Rows Removed by Filter", 0) for n in scans) == 0
