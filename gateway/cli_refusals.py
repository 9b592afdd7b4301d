"""What the command line says when the broker lets a client in but its ACL refuses the
subscription the command needs (paho reports that only in SUBACK's reason codes; without a
look at them a command waits in silence for messages that never come)."""

from __future__ import annotations

from collections.abc import Sequence

import click
from paho.mqtt.reasoncodes import ReasonCode


def refused_reason(reason_codes: Sequence[ReasonCode]) -> str | None:
    """The broker's reason when it granted none of the filters of a SUBSCRIBE, else None."""
    if reason_codes and all(code.is_failure for code in reason_codes):
        return str(reason_codes[0])
    return None


def subscription_refused(broker: object, topic_filter: str, reason: str) -> click.ClickException:
    """The error for a refused subscription, with the way in: another user."""
    return click.ClickException(
        f"{broker} refused the subscription to {topic_filter!r} ({reason}): its ACL does "
        "not let this user read it; log in as one it does: --broker "
        "mqtt://USER:PASSWORD@HOST")
