"""Cost sharing: prices capped at the co-op's rate per km, seat costs rounded to the cent."""

from decimal import Decimal

import pytest

from fedicoop.errors import Invalid
from fedicoop.rides.model import Price, PriceKind
from fedicoop.rides.pricing import check_price, cost_share, fixed_price_cap

RATE = Decimal("0.10")


def fixed(amount: str) -> Price:
    return Price(PriceKind.FIXED, Decimal(amount), "EUR")


def per_km(amount: str) -> Price:
    return Price(PriceKind.PER_KM, Decimal(amount), "EUR")


FREE = Price(PriceKind.FREE, Decimal(0), "XXX")


def test_a_free_ride_is_always_within_the_cap() -> None:
    # Given a free ride, a zero rate and another currency, Then nothing is refused
    check_price(FREE, 500.0, Decimal(0), rate_currency="EUR")


def test_a_fixed_price_may_reach_rate_times_distance_per_seat() -> None:
    # Given a 123.45 km trip at 0.10 EUR/km: the cap is 12.35 EUR (12.345 rounded half up)
    assert fixed_price_cap(123.45, RATE) == Decimal("12.35")

    # Then 12.35 passes and 12.36 is refused on price.amount, the message saying the cap
    check_price(fixed("12.35"), 123.45, RATE)
    with pytest.raises(Invalid) as caught:
        check_price(fixed("12.36"), 123.45, RATE)
    assert caught.value.field == "price.amount"
    assert "12.35 EUR per seat" in caught.value.message
    assert "0.10 EUR/km" in caught.value.message


def test_a_per_km_price_may_reach_the_rate() -> None:
    # Given the co-op's 0.10 EUR/km rate, Then 0.10 passes and 0.11 is refused naming the rate
    check_price(per_km("0.10"), 80.0, RATE)
    with pytest.raises(Invalid) as caught:
        check_price(per_km("0.11"), 80.0, RATE)
    assert caught.value.field == "price.amount"
    assert "0.10 EUR/km" in caught.value.message


def test_a_price_in_another_currency_than_the_rate_is_refused() -> None:
    with pytest.raises(Invalid) as caught:
        check_price(Price(PriceKind.FIXED, Decimal(5), "CHF"), 100.0, RATE, rate_currency="EUR")
    assert caught.value.field == "price.currency"


@pytest.mark.parametrize(
    ("price", "trip_km", "share"),
    [
        (FREE, 42.0, Decimal("0.00")),
        (fixed("6.5"), 42.0, Decimal("6.50")),
        (per_km("0.08"), 123.456, Decimal("9.88")),  # 9.87648
        (per_km("0.05"), 12.5, Decimal("0.63")),  # 0.625 rounds half up
        (per_km("0.1"), 0.0, Decimal("0.00")),
    ],
)
def test_cost_share_is_rounded_to_the_cent(price: Price, trip_km: float, share: Decimal) -> None:
    result = cost_share(price, trip_km)
    assert result == share
    assert result.as_tuple().exponent == -2


@pytest.mark.parametrize("trip_km", [-1.0, float("nan"), float("inf")])
def test_impossible_distances_are_a_programming_error(trip_km: float) -> None:
    with pytest.raises(ValueError, match="trip_km"):
        check_price(fixed("1"), trip_km, RATE)
