"""Authentication and authorization in Mosquitto's file formats.

* :mod:`broker.auth.passwords`: password files (``mosquitto_passwd`` compatible);
* :mod:`broker.auth.acl`: ACL files (``user`` / ``topic`` / ``pattern``);
* :mod:`broker.auth.backoff`: slowing down wrong passwords per address;
* :mod:`broker.auth.policy`: :class:`FilePolicy`, the broker's ``Policy`` from both files;
* :mod:`broker.auth.passwd_cli`: the ``gateway passwd`` command.
"""

from broker.auth.acl import Acl, AclFileError
from broker.auth.backoff import LoginBackoff
from broker.auth.passwords import PasswordFile, PasswordFileError
from broker.auth.policy import FilePolicy

__all__ = [
    "Acl",
    "AclFileError",
    "FilePolicy",
    "LoginBackoff",
    "PasswordFile",
    "PasswordFileError",
]
