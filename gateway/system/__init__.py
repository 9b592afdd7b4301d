"""The gateway over its lifetime: one-file backups of everything that makes this gateway
this gateway, and restoring them onto a fresh system (``gateway system backup/restore``,
the dashboard, or a backup file on the boot partition at first boot)."""
