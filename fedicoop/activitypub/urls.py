"""Where each local thing lives: every URL an instance publishes is built here."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Urls:
    """URL builder for one instance's origin (scheme://host[:port])."""

    base: str

    def actor(self, username: str) -> str:
        """Return a local actor's id (members and the co-op Group share one namespace)."""
        return f"{self.base}/users/{username}"

    def instance_actor(self) -> str:
        """Return the id of the instance actor that signs fetches."""
        return f"{self.base}/actor"

    def key_id(self, actor_uri: str) -> str:
        """Return the id of an actor's RSA key."""
        return f"{actor_uri}#main-key"

    def inbox(self, username: str) -> str:
        """Return a local actor's inbox."""
        return f"{self.actor(username)}/inbox"

    def shared_inbox(self) -> str:
        """Return the instance's shared inbox."""
        return f"{self.base}/inbox"

    def collection(self, username: str, name: str) -> str:
        """Return one of an actor's collections (outbox, followers, following, featured…)."""
        return f"{self.actor(username)}/{name}"

    def object(self, object_id: int) -> str:
        """Return a local object's id."""
        return f"{self.base}/objects/{object_id}"

    def activity(self, activity_id: int) -> str:
        """Return a local activity's id."""
        return f"{self.base}/activities/{activity_id}"

    def ride(self, ride_id: int) -> str:
        """Return a local ride's id (also its page in a browser)."""
        return f"{self.base}/rides/{ride_id}"

    def booking(self, booking_id: int) -> str:
        """Return the id of a booking this instance made (the rider's side)."""
        return f"{self.base}/bookings/{booking_id}"

    def booking_message(self, booking_id: int, message_id: int) -> str:
        """Return the id of a message in a booking's thread."""
        return f"{self.base}/bookings/{booking_id}/messages/{message_id}"

    def review(self, review_id: int) -> str:
        """Return the id of a review written here."""
        return f"{self.base}/reviews/{review_id}"

    def profile(self, username: str) -> str:
        """Return the HTML profile page of a local actor."""
        return f"{self.base}/@{username}"

    def context_document(self) -> str:
        """Return where this instance serves the fedicoop JSON-LD context."""
        return f"{self.base}/ns"
