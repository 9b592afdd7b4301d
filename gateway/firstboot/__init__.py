"""First boot (and every boot) of the appliance image.

Reads ``gateway.toml`` from the FAT boot partition, which the user edits on any PC, and
applies it: hostname, WiFi, SSH key, MQTT users (generating passwords when none are given,
written to ``gateway-credentials.txt`` next to it), and the gateway config in /etc. A file
that does not validate changes nothing: the last good config keeps running and the errors,
each with line and key, are written to ``gateway-error.txt`` on the boot partition.

Run as ``python -m gateway.firstboot`` by sensor-gateway-firstboot.service.
"""

from gateway.firstboot.run import run

__all__ = ["run"]
