"""One pass of first boot over a boot partition and a root filesystem."""

from __future__ import annotations

import logging
from pathlib import Path

from gateway.config.errors import ConfigError, ConfigErrors
from gateway.firstboot.bootfile import (
    BootConfig,
    mqtt_port,
    parse_boot_file,
    render_gateway_config,
)
from gateway.firstboot.buses import apply_buses
from gateway.firstboot.credentials import read_credentials, render_credentials, sync_users
from gateway.firstboot.restore import (
    BOOT_FILE,
    CREDENTIALS_FILE,
    restore_from_boot,
    restore_uploaded,
)
from gateway.firstboot.system import (
    SERVICE_GROUP,
    Host,
    apply_hostname,
    apply_ssh_keys,
    apply_wifi,
    ensure_host_keys,
    grow_root,
    write_if_changed,
)

log = logging.getLogger("gateway.firstboot")

ERROR_FILE = "gateway-error.txt"
ETC_CONFIG = "etc/sensor-gateway/gateway.toml"
PASSWD = "etc/sensor-gateway/passwd"
# Which users came from the boot file, so that only those are removed when they leave it.
MANAGED_USERS = "var/lib/sensor-gateway-firstboot/users"


def run(boot: Path, host: Host) -> bool:
    """Apply ``boot``/gateway.toml to ``host``; False when the file was rejected (the error
    file then says why, and nothing but the once-only steps changed)."""
    grow_root(host)
    ensure_host_keys(host)
    restore_from_boot(boot, host)
    restore_uploaded(boot, host)
    errors_path = boot / ERROR_FILE
    try:
        text = (boot / BOOT_FILE).read_text(encoding="utf-8")
    except FileNotFoundError:
        log.warning("no %s on the boot partition: using defaults", BOOT_FILE)
        text = ""
    except UnicodeDecodeError as exc:
        return _reject(errors_path, [ConfigError(BOOT_FILE, None, "", f"not UTF-8 text ({exc.reason})")])
    try:
        config = parse_boot_file(text, BOOT_FILE, password_file="/" + PASSWD)
    except ConfigErrors as exc:
        return _reject(errors_path, exc.errors)

    system = config.system
    if apply_hostname(host, system.hostname):
        log.info("hostname set to %s", system.hostname)
    if apply_wifi(host, system.wifi):
        log.info("WiFi %s", f"set to {system.wifi.ssid!r}" if system.wifi else "removed")
    if apply_ssh_keys(host, system.ssh_authorized_keys):
        log.info("%d SSH key(s) for root", len(system.ssh_authorized_keys))

    _apply_users(boot, host, config)
    if write_if_changed(host.path(ETC_CONFIG), render_gateway_config(config.gateway), mode=0o640, group=SERVICE_GROUP):
        log.info("gateway config updated from %s", BOOT_FILE)
    apply_buses(boot, host, config.gateway)
    errors_path.unlink(missing_ok=True)
    return True


def _apply_users(boot: Path, host: Host, config: BootConfig) -> None:
    """The broker's password file, and generated passwords on the boot partition."""
    system = config.system
    credentials = boot / CREDENTIALS_FILE
    managed_path = host.path(MANAGED_USERS)
    managed = set(managed_path.read_text().split()) if managed_path.exists() else set()
    update = sync_users(system.users, host.path(PASSWD), read_credentials(credentials), managed)
    if update.passwd_text is not None:
        write_if_changed(host.path(PASSWD), update.passwd_text, mode=0o640, group=SERVICE_GROUP)
        log.info("MQTT users from %s: %s", BOOT_FILE, ", ".join(u.username for u in system.users))
    write_if_changed(managed_path, "".join(f"{u.username}\n" for u in system.users), mode=0o600)
    if update.generated:
        port = mqtt_port(config.gateway["broker"])
        # Never logged: this file on the boot partition is the one place the password shows.
        text = render_credentials(update.generated, system.hostname, port)
        if write_if_changed(credentials, text, mode=None):
            log.info("generated passwords written to %s on the boot partition", CREDENTIALS_FILE)
    else:
        credentials.unlink(missing_ok=True)


def _reject(errors_path: Path, errors: list[ConfigError]) -> bool:
    """Report a rejected boot file next to it and in the journal; change nothing else."""
    report = [
        f"{BOOT_FILE} was not applied: the gateway keeps running with the last good settings.",
        "Fix the lines below, save the file, and restart the Pi.",
        "",
        *(str(e) for e in errors),
    ]
    write_if_changed(errors_path, "\n".join(report) + "\n", mode=None)
    for error in errors:
        log.error("%s", error)
    return False
