"""End to end: three real co-ops on loopback; a rider of A books a seat in a car offered on B.

B is partnered with A and with C, so B's rides reach both; the seats left follow every
booking on all three instances; two riders racing from A and C for the last seats never
oversell them.
"""

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.servers import ApiClient, ServerProcess, eventually, fedicoop, init_instance, query

# Three server processes, their partnerships and a whole vote: minutes on a busy machine.
pytestmark = [pytest.mark.federation, pytest.mark.timeout(360)]

API = "/api/fedicoop/v1"
PASSWORD = "long enough pw"  # ApiClient logs in with it


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Co-ops A (riders), B (drivers) and C (riders), B partnered with both."""
    base = tmp_path_factory.mktemp("rides")
    coops = {
        "a": ("Vélo Lyon", "velo", "rita"),
        "b": ("Covoit Grenoble", "covoit", "dora"),
        "c": ("Habitat", "habitat", "carl"),
    }
    info: dict[str, Any] = {}
    servers = []
    for key, (name, handle, user) in coops.items():
        directory = base / key
        port, _ = init_instance(directory, name, "--handle", handle)
        fedicoop("user", "add", str(directory), user, "--password", PASSWORD)
        info[key] = {
            "dir": directory,
            "domain": f"127.0.0.1:{port}",
            "handle": f"{handle}@127.0.0.1:{port}",
            "user": user,
        }
        servers.append(ServerProcess(directory, port).start())
    for one, other in (("a", "b"), ("b", "a"), ("c", "b"), ("b", "c")):
        fedicoop("partner", "add", str(info[one]["dir"]), info[other]["handle"])
    for one, other in (("a", "b"), ("b", "c")):
        eventually(
            lambda one=one: query(
                info[one]["dir"], "SELECT 1 FROM partnerships WHERE state = 'active'"
            ),
            what=f"partnership active on {one}",
        )
        eventually(
            lambda other=other: query(
                info[other]["dir"], "SELECT 1 FROM partnerships WHERE state = 'active'"
            ),
            what=f"partnership active on {other}",
        )
    for key in info:
        info[key]["client"] = ApiClient(f"http://{info[key]['domain']}", info[key]["user"])
    yield info
    for server in servers:
        server.stop()


def departure_in(days: int, hour: int = 8) -> str:
    day = (datetime.now(UTC) + timedelta(days=days)).date()
    return datetime(day.year, day.month, day.day, hour, 0, tzinfo=UTC).isoformat()


def offer_ride(network: dict[str, Any], seats: int, days: int) -> dict[str, Any]:
    status, ride = network["b"]["client"].call(
        "POST",
        f"{API}/rides",
        {
            "role": "driver",
            "origin": {"lat": 45.1885, "lon": 5.7245, "label": "Gare de Grenoble"},
            "destination": {"lat": 45.7578, "lon": 4.8320, "label": "Part-Dieu"},
            "departure": departure_in(days),
            "seats": seats,
            "price": {"kind": "fixed", "amount": "6", "currency": "EUR"},
        },
    )
    assert status == 201, ride
    return dict(ride)


def seats_left(network: dict[str, Any], key: str, uri: str) -> int | None:
    rows = query(
        network[key]["dir"],
        "SELECT o.seats_left FROM ride_occurrences o JOIN rides r ON r.id = o.ride_id "
        "WHERE r.uri = ?",
        uri,
    )
    return int(rows[0][0]) if rows else None


def find(network: dict[str, Any], key: str, ride: dict[str, Any], days: int) -> dict[str, Any]:
    def search() -> Any:
        results = network[key]["client"].get(
            f"{API}/rides/search",
            origin="45.19,5.72",
            destination="45.76,4.84",
            departure=departure_in(days),
            seats="1",
        )
        return next((r for r in results if r["url"] == ride["url"]), None)

    return dict(eventually(search, what=f"ride found from {key}"))


def test_rider_on_a_books_driver_on_b_accepts_then_rider_cancels(network: dict[str, Any]) -> None:
    # Given a driver on B offers a ride with three seats
    ride = offer_ride(network, seats=3, days=3)
    # When a rider on A searches, Then the ride is found, labelled with B's co-op
    found = find(network, "a", ride, 3)
    assert found["coop"] == network["b"]["handle"]
    assert found["ride"]["exact"] is False
    eventually(lambda: seats_left(network, "c", ride["url"]) == 3, what="ride reached C")
    # When the rider books two seats
    rider = network["a"]["client"]
    status, booking = rider.call(
        "POST", f"{API}/rides/{found['id']}/bookings", {"seats": 2, "message": "Two of us"}
    )
    assert status == 201, booking
    # Then the driver sees the request on B, and accepts it
    driver = network["b"]["client"]
    request = eventually(
        lambda: next(iter(driver.get(f"{API}/bookings", **{"as": "driver"})), None),
        what="booking request on B",
    )
    assert request["url"] == booking["url"] and request["seats"] == 2
    assert request["message"] == "Two of us"
    status, accepted = driver.call("POST", f"{API}/bookings/{request['id']}/accept")
    assert status == 200 and accepted["status"] == "accepted", accepted
    # Then seats left drop on all three instances, and the rider's booking is accepted
    for key in ("a", "b", "c"):
        eventually(
            lambda key=key: seats_left(network, key, ride["url"]) == 1, what=f"1 seat left on {key}"
        )
    eventually(
        lambda: rider.get(f"{API}/bookings/{booking['id']}")["status"] == "accepted",
        what="accepted on A",
    )
    # And now the rider, a party, sees the exact meeting point
    assert rider.get(f"{API}/rides/{found['id']}")["exact"] is True
    # When they talk in the booking's thread, Then the other side reads it
    status, _ = rider.call(
        "POST", f"{API}/bookings/{booking['id']}/messages", {"text": "Blue coat"}
    )
    assert status == 201
    eventually(
        lambda: (
            [m["text"] for m in driver.get(f"{API}/bookings/{request['id']}/messages")]
            == ["Blue coat"]
        ),
        what="message on B",
    )
    # When the rider cancels, Then the driver is notified with the reason and the seats return
    status, cancelled = rider.call(
        "POST", f"{API}/bookings/{booking['id']}/cancel", {"reason": "train strike"}
    )
    assert status == 200 and cancelled["status"] == "cancelled"
    eventually(
        lambda: driver.get(f"{API}/bookings/{request['id']}")["status"] == "cancelled",
        what="cancelled on B",
    )
    assert driver.get(f"{API}/bookings/{request['id']}")["reason"] == "train strike"
    notes = eventually(
        lambda: [n for n in driver.get(f"{API}/notifications") if n["type"] == "booking_cancelled"],
        what="driver notified",
    )
    assert notes[0]["from"]["acct"] == f"rita@{network['a']['domain']}"
    for key in ("a", "b", "c"):
        eventually(
            lambda key=key: seats_left(network, key, ride["url"]) == 3, what=f"3 seats on {key}"
        )


def test_riders_racing_from_two_instances_never_oversell(network: dict[str, Any]) -> None:
    # Given a ride with three seats on B, found on A and on C
    ride = offer_ride(network, seats=3, days=4)
    ids = {key: find(network, key, ride, 4)["id"] for key in ("a", "c")}
    # When riders on A and C each book two seats at the same moment
    answers: dict[str, tuple[int, Any]] = {}

    def book(key: str) -> None:
        answers[key] = network[key]["client"].call(
            "POST", f"{API}/rides/{ids[key]}/bookings", {"seats": 2}
        )

    threads = [threading.Thread(target=book, args=(key,)) for key in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(status == 201 for status, _ in answers.values()), answers
    driver = network["b"]["client"]

    def requests() -> Any:
        mine = [
            b
            for b in driver.get(f"{API}/bookings", **{"as": "driver"})
            if b["ride_url"] == ride["url"]
        ]
        return mine if len(mine) == 2 else None

    pending = eventually(requests, what="both requests on B")
    # And the driver accepts both at once (two devices)
    results: list[tuple[int, Any]] = []

    def accept(booking_id: str) -> None:
        results.append(driver.call("POST", f"{API}/bookings/{booking_id}/accept"))

    threads = [threading.Thread(target=accept, args=(b["id"],)) for b in pending]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then exactly one is accepted, the other refused for lack of seats
    assert sorted(status for status, _ in results) == [200, 409], results
    assert seats_left(network, "b", ride["url"]) == 1
    held = query(
        network["b"]["dir"],
        "SELECT SUM(b.seats) FROM bookings b JOIN rides r ON r.id = b.ride_id "
        "WHERE r.uri = ? AND b.status = 'accepted'",
        ride["url"],
    )
    assert held[0][0] == 2
    for key in ("a", "c"):
        eventually(
            lambda key=key: seats_left(network, key, ride["url"]) == 1, what=f"1 seat on {key}"
        )
