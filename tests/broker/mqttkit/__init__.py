"""Test kit for the broker conformance suite: broker runners and MQTT clients.

Kept in a package of its own so the helpers' module names cannot clash with those of
other test directories (the tests directories are not packages).
"""
