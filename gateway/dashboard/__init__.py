"""The web dashboard: every room on a phone's browser, live, with history and switches.

``Dashboard(broker, port, host, data_dir, password_file)`` serves it from the gateway
process; it reads everything from the in-process broker (docs/contracts.md).
"""

from gateway.dashboard.app import Dashboard

__all__ = ["Dashboard"]
