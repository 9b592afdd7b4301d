"""The broker engine: sessions, subscriptions, retained messages, routing (sans-IO)."""

from .connection import Connection
from .engine import Engine
from .message import Message

__all__ = ["Connection", "Engine", "Message"]
