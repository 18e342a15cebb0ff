"""Cost sharing: a ride's price is capped at the co-op's rate per kilometre.

Carpooling shares the cost of a trip the driver makes anyway; it is not a taxi. The co-op
sets the rate (in France the tax administration's per-km scale is the usual reference), and a
price above it is refused when the ride is created. Distances are whatever the caller
measures: beeline from `geo` today, so a co-op whose members drive winding roads sets its
rate a little higher, or the caller passes a routed length once routing exists.
"""

import math
from decimal import ROUND_HALF_UP, Decimal

from fedicoop.errors import Invalid
from fedicoop.rides.model import Price, PriceKind

CENT = Decimal("0.01")


def _km(trip_km: float) -> Decimal:
    if not math.isfinite(trip_km) or trip_km < 0:
        raise ValueError(f"trip_km must be a finite distance >= 0, got {trip_km!r}")
    return Decimal(repr(float(trip_km)))


def fixed_price_cap(trip_km: float, rate_per_km: Decimal) -> Decimal:
    """Return the most a seat may cost for a trip: rate × km, to the nearest cent."""
    return (rate_per_km * _km(trip_km)).quantize(CENT, rounding=ROUND_HALF_UP)


def check_price(
    price: Price, trip_km: float, rate_per_km: Decimal, *, rate_currency: str | None = None
) -> None:
    """Raise Invalid(field="price.amount") when a price asks more than the co-op's rate.

    A free ride is always fine. A fixed price is per seat and may reach rate × trip_km; a per-km
    price may reach the rate. With `rate_currency`, a price in another currency is refused
    (field "price.currency"), since the cap cannot be compared without an exchange rate.
    """
    if price.kind is PriceKind.FREE:
        return
    if rate_currency is not None and price.currency != rate_currency:
        raise Invalid(f"prices here are in {rate_currency}", field="price.currency")
    unit = price.currency
    if price.kind is PriceKind.PER_KM:
        if price.amount > rate_per_km:
            raise Invalid(
                f"a price per km may not exceed {rate_per_km} {unit}/km, the co-op's"
                " cost-sharing rate: carpooling shares costs, it is not a taxi",
                field="price.amount",
            )
        return
    cap = fixed_price_cap(trip_km, rate_per_km)
    if price.amount > cap:
        raise Invalid(
            f"a fixed price may not exceed {cap} {unit} per seat for this {trip_km:.1f} km trip"
            f" ({rate_per_km} {unit}/km): carpooling shares costs, it is not a taxi",
            field="price.amount",
        )


def cost_share(price: Price, trip_km: float) -> Decimal:
    """Return what one seat costs for a trip of `trip_km`, rounded to the cent."""
    if price.kind is PriceKind.FREE:
        return Decimal(0).quantize(CENT)
    if price.kind is PriceKind.FIXED:
        return price.amount.quantize(CENT, rounding=ROUND_HALF_UP)
    return (price.amount * _km(trip_km)).quantize(CENT, rounding=ROUND_HALF_UP)
