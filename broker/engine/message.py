"""An application message as the router carries it."""

from __future__ import annotations

from typing import Any


class Message:
    """One published message: what subscribers and in-process callbacks receive.

    ``properties`` holds the MQTT 5.0 properties that travel with the message
    (payload_format_indicator, content_type, response_topic, correlation_data,
    user_property); the expiry is kept as an absolute ``expires_at`` (monotonic seconds).
    ``origin`` is the publishing session's client id (for no-local), None for in-process.
    """

    __slots__ = ("topic", "payload", "qos", "retain", "properties", "expires_at", "origin", "cache")

    def __init__(
        self,
        topic: str,
        payload: bytes,
        qos: int = 0,
        retain: bool = False,
        properties: dict[str, Any] | None = None,
        expires_at: float | None = None,
        origin: str | None = None,
    ) -> None:
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.properties = properties or {}
        self.expires_at = expires_at
        self.origin = origin
        # Encoded PUBLISH fragments per variant, shared by every subscriber that takes it.
        self.cache: dict[tuple, tuple[bytes, bytes]] | None = None

    def __repr__(self) -> str:
        return f"Message({self.topic!r}, {self.payload!r}, qos={self.qos}, retain={self.retain})"

    def copy(self, **changes: Any) -> Message:
        """A copy with some fields replaced (the encoding cache is not carried over)."""
        m = Message(
            self.topic,
            self.payload,
            self.qos,
            self.retain,
            self.properties,
            self.expires_at,
            self.origin,
        )
        for key, value in changes.items():
            setattr(m, key, value)
        return m
