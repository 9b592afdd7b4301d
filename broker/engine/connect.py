"""CONNECT, DISCONNECT, AUTH and PINGREQ: starting, resuming and ending sessions."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ..protocol import reasons
from ..protocol.control import PINGRESP_BYTES
from ..protocol.packets import MQTT5, Auth, Connack, Connect, Disconnect, Pingreq
from ..protocol.wire import ProtocolError
from .session import NEVER, Session
from .topics import valid_topic_name

if TYPE_CHECKING:
    from .connection import Connection
    from .router import Engine


def _refuse(conn: Connection, connect: Connect, code: int, text: str) -> None:
    conn.version = connect.protocol_level
    props = {"reason_string": text} if conn.version == MQTT5 else {}
    conn.send_packet(Connack(False, code, props))
    conn.engine.log.info("refused CONNECT from %s (%s): %s", connect.client_id, conn.peer, text)
    conn.engine.stats.connections_refused += 1
    conn.close()


def handle_connect(engine: Engine, conn: Connection, p: Connect) -> None:
    if conn.session is not None:
        raise ProtocolError("second CONNECT on one connection")
    conn.version = level = p.protocol_level
    v5 = level == MQTT5
    props = p.properties
    if "authentication_method" in props:
        # Enhanced authentication (SASL-like AUTH exchanges) is not offered.
        _refuse(
            conn, p, reasons.BAD_AUTHENTICATION_METHOD, "enhanced authentication is not supported"
        )
        return
    client_id = p.client_id
    assigned = False
    if not client_id:
        if level == 3 or (level == 4 and not p.clean_start):
            _refuse(
                conn,
                p,
                reasons.CLIENT_IDENTIFIER_NOT_VALID,
                "empty client id needs a clean session",
            )
            return
        client_id = f"auto-{os.urandom(16).hex()}"
        assigned = True
    config = engine.config
    if config.max_connections and engine.stats.clients_connected >= config.max_connections:
        _refuse(conn, p, reasons.SERVER_BUSY, "too many connections")
        return
    info = conn.info
    info.client_id = client_id
    info.username = p.username
    if info.password_ok is None and conn.check_off_loop is not None:
        # Hashing a password takes milliseconds: the shell runs it off the loop and
        # dispatches this CONNECT again with the answer in info.password_ok.
        check = getattr(engine.policy, "password_check", None)
        job = check(info, p.username, p.password) if check is not None else None
        if job is not None:
            conn.hold(p)
            conn.check_off_loop(job)
            return
    if not engine.policy.authenticate(info, p.username, p.password):
        _refuse(conn, p, reasons.BAD_USER_NAME_OR_PASSWORD, "bad user name or password")
        return
    will = p.will
    if will is not None:
        if not valid_topic_name(will.topic):
            _refuse(conn, p, reasons.TOPIC_NAME_INVALID, "invalid will topic")
            return
        if not engine.policy.can_publish(info, will.topic):
            _refuse(conn, p, reasons.NOT_AUTHORIZED, "will topic not authorized")
            return
        if will.properties.get("payload_format_indicator") == 1:
            try:
                will.payload.decode("utf-8")
            except UnicodeDecodeError:
                _refuse(conn, p, reasons.PAYLOAD_FORMAT_INVALID, "will payload is not UTF-8")
                return

    # Session expiry: 3.1.1 persistent sessions never expire, 5.0 says how long.
    if v5:
        expiry = props.get("session_expiry_interval", 0)
    else:
        expiry = 0 if p.clean_start else NEVER
    ack_props: dict = {}
    if config.max_session_expiry and expiry > config.max_session_expiry:
        expiry = config.max_session_expiry
        ack_props["session_expiry_interval"] = expiry

    old = engine.sessions.get(client_id)
    if old is not None and not old.owned_by(info):
        # MQTT 5.0 §5.4.2: check the client may use this client id. Refused rather than
        # given a clean session: a clean one would end the owner's (her queue, her
        # subscriptions, her live connection), which is a denial of service on her.
        _refuse(conn, p, reasons.NOT_AUTHORIZED, "client id belongs to another user's session")
        return
    # Takeover: the old connection goes first, its will handled as for any abnormal end.
    if old is not None and old.connection is not None:
        engine.log.info(
            "client %s taken over from %s by %s", client_id, old.connection.peer, conn.peer
        )
        old.connection.disconnect(reasons.SESSION_TAKEN_OVER, "session taken over")
        old = engine.sessions.get(client_id)
    session_present = False
    if old is not None and not p.clean_start:
        session = old
        session_present = True
        engine.offline.pop(session, None)
        # A resumed session cancels a will that was waiting for its delay.
        session.will_at = None
        session.will = None
        engine.delayed_wills.discard(session)
    else:
        if old is not None:
            engine.end_session(old)
        session = Session(client_id)
        engine.sessions[client_id] = session
    session.expiry_interval = expiry
    session.expires_at = None
    session.connection = conn
    session.info = info
    conn.session = session
    conn.will = will
    conn.bridge = p.bridge
    if engine.store is not None:
        engine.store.session_saved(session)
    engine.stats.client_connected(conn.listener)

    keepalive = p.keepalive
    # Only a 5.0 client can be told to ping sooner (Server Keep Alive, MQTT-3.2.2-21); a
    # 3.1/3.1.1 client keeps its own value, or it would be cut off while keeping to it.
    if v5 and config.max_keepalive and (keepalive == 0 or keepalive > config.max_keepalive):
        keepalive = config.max_keepalive
        ack_props["server_keep_alive"] = keepalive
    conn.keepalive = keepalive

    if v5:
        conn.send_quota = props.get("receive_maximum", 65535)
        conn.max_out_packet = props.get("maximum_packet_size", 0)
        conn.alias_out_max = props.get("topic_alias_maximum", 0)
        conn.problem_info = props.get("request_problem_information", 1) == 1
        if assigned:
            ack_props["assigned_client_identifier"] = client_id
        ack_props["receive_maximum"] = config.receive_maximum
        ack_props["topic_alias_maximum"] = config.topic_alias_maximum
        ack_props["maximum_packet_size"] = config.max_packet_size
    conn.send_packet(Connack(session_present, reasons.SUCCESS, ack_props))
    engine.log.debug("client %s connected from %s (MQTT level %d)", client_id, conn.peer, level)
    if session_present:
        engine.resend(session)
    engine.drain(session)


def handle_disconnect(engine: Engine, conn: Connection, p: Disconnect) -> None:
    session = conn.session
    assert session is not None
    new_expiry = p.properties.get("session_expiry_interval")
    if new_expiry is not None:
        if session.expiry_interval == 0 and new_expiry != 0:
            raise ProtocolError("session expiry raised from 0 at DISCONNECT")
        session.expiry_interval = new_expiry
    # Only reason 0x00 discards the will (MQTT-3.14.4-3); 0x04 and the error reasons
    # (0x80 and up) end the connection with the will published (MQTT-3.1.2-8).
    conn.clean_exit = p.reason_code == reasons.NORMAL_DISCONNECTION
    conn.close()


def handle_pingreq(engine: Engine, conn: Connection, p: Pingreq) -> None:
    conn.send(PINGRESP_BYTES)


def handle_auth(engine: Engine, conn: Connection, p: Auth) -> None:
    # We never start enhanced authentication, so any AUTH is out of sequence.
    raise ProtocolError("AUTH without an authentication method")
