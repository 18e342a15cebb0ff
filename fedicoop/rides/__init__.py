"""Rides: carpool offers and requests, matched and booked across partner co-ops."""
