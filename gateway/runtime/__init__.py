"""The running gateway: devices wired to the bus through filters, availability and
Home Assistant discovery."""
