"""The broker engine: sessions, subscriptions, retained messages, routing (sans-IO)."""

from .connection import Connection
from .message import Message
from .router import Engine

__all__ = ["Connection", "Engine", "Message"]
