"""ACL files: parsing Mosquitto's format and the decisions it makes."""

from __future__ import annotations

import pytest

from broker.auth.acl import Access, Acl, AclFileError
from broker.auth.filters import covers, overlaps, split_filter

ACL_TEXT = """\
# anonymous clients: read the house, nothing else
topic read home/#
topic deny home/alarm/#

user alice
topic home/#
topic write cmd/+/set
topic read $SYS/#

user bob the builder
topic readwrite workshop/#
topic deny workshop/secret

# every client
pattern write nodes/%c/status
pattern readwrite users/%u/#
pattern read mixed%u/x
"""


@pytest.fixture
def acl() -> Acl:
    return Acl.parse(ACL_TEXT.splitlines(keepends=True), source="acl.conf")


def test_parse_sections(acl: Acl) -> None:
    assert [r.text for r in acl.anonymous] == ["home/#", "home/alarm/#"]
    assert [r.access for r in acl.anonymous] == [Access.READ, Access.DENY]
    assert set(acl.users) == {"alice", "bob the builder"}
    assert acl.users["alice"][0].access is Access.READWRITE  # no access word: readwrite
    assert [r.text for r in acl.patterns] == ["nodes/%c/status", "users/%u/#", "mixed%u/x"]


def test_anonymous_rules(acl: Acl) -> None:
    assert acl.can_read(None, "c1", "home/kitchen/temperature")
    assert not acl.can_write(None, "c1", "home/kitchen/temperature")
    assert not acl.can_read(None, "c1", "home/alarm/code")  # deny wins over read home/#
    assert not acl.can_read(None, "c1", "garden/x")  # no rule, no access
    # anonymous rules do not apply to named users without them
    assert not acl.can_read("bob the builder", "c1", "home/kitchen/temperature")


def test_user_rules(acl: Acl) -> None:
    assert acl.can_read("alice", "a", "home/x") and acl.can_write("alice", "a", "home/x")
    assert acl.can_write("alice", "a", "cmd/relay/set")
    assert not acl.can_read("alice", "a", "cmd/relay/set")
    assert not acl.can_write("alice", "a", "cmd/relay/other/set")
    assert acl.can_read("alice", "a", "$SYS/broker/uptime")
    assert acl.can_write("bob the builder", "b", "workshop/saw")
    assert not acl.can_read("bob the builder", "b", "workshop/secret")
    assert not acl.can_read("carol", "c", "home/x")  # unknown user: patterns only


def test_patterns(acl: Acl) -> None:
    assert acl.can_write(None, "node-7", "nodes/node-7/status")
    assert not acl.can_write(None, "node-7", "nodes/node-8/status")
    assert not acl.can_read(None, "node-7", "nodes/node-7/status")
    assert acl.can_read("carol", "x", "users/carol/inbox/1")
    assert not acl.can_read("carol", "x", "users/dave/inbox/1")
    assert not acl.can_read(None, "x", "users//inbox")  # %u needs a username
    # %u is only substituted as a whole level, as in Mosquitto 2
    assert not acl.can_read("carol", "x", "mixedcarol/x")


@pytest.mark.parametrize("hostile", ["#", "+", "a/b", "x#", "+y"])
def test_wildcards_in_ids_never_widen_patterns(acl: Acl, hostile: str) -> None:
    assert not acl.can_write(None, hostile, "nodes/anything/status")
    assert not acl.can_write(None, hostile, f"nodes/{hostile}/status")
    assert not acl.can_read(hostile, "c", "users/someone/x")
    assert not acl.can_subscribe(hostile, "c", "users/#")


def test_subscribe_decisions(acl: Acl) -> None:
    assert acl.can_subscribe(None, "c", "home/#")
    assert acl.can_subscribe(None, "c", "home/+/temperature")
    # overlaps what anonymous may read; delivery filters the rest
    assert acl.can_subscribe(None, "c", "#")
    assert acl.can_subscribe(None, "c", "+/kitchen/#")
    assert not acl.can_subscribe(None, "c", "garden/#")
    # fully inside a deny rule
    assert not acl.can_subscribe(None, "c", "home/alarm/#")
    assert not acl.can_subscribe(None, "c", "home/alarm/+")
    # write-only grants do not allow subscribing
    assert not acl.can_subscribe("alice", "a", "cmd/+/set")
    # '#' never reaches $SYS; alice has an explicit $SYS grant
    assert not acl.can_subscribe(None, "c", "$SYS/#")
    assert acl.can_subscribe("alice", "a", "$SYS/broker/#")
    # shared subscriptions are judged by the filter inside them
    assert acl.can_subscribe(None, "c", "$share/g/home/#")
    assert not acl.can_subscribe(None, "c", "$share/g/garden/#")
    assert not acl.can_subscribe(None, "c", "$share//home/#")


def test_empty_acl_denies_everything() -> None:
    acl = Acl.parse([])
    assert not acl.can_read(None, "c", "a")
    assert not acl.can_write("u", "c", "a")
    assert not acl.can_subscribe("u", "c", "#")


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("topic", "missing topic"),
        ("topic read", "missing topic"),
        ("topic read a/#/b", "invalid topic filter"),
        ("topic a/b#", "invalid topic filter"),
        ("pattern write a+/b", "invalid topic filter"),
        ("user", "needs a username"),
        ("topics read a", "unknown keyword"),
    ],
)
def test_bad_lines_name_file_and_line(line: str, reason: str) -> None:
    with pytest.raises(AclFileError) as err:
        Acl.parse(["topic read ok\n", line + "\n"], source="/etc/gw/acl")
    assert str(err.value).startswith("/etc/gw/acl:2:")
    assert reason in str(err.value)


def test_topic_with_spaces() -> None:
    acl = Acl.parse(["topic read living room/temp\n", "topic living room/#\n"])
    assert acl.anonymous[0].text == "living room/temp"
    assert acl.anonymous[1].text == "living room/#"
    assert acl.can_write(None, "c", "living room/lamp")


@pytest.mark.parametrize(
    ("grant", "sub", "cover", "overlap"),
    [
        ("#", "a/b", True, True),
        ("#", "#", True, True),
        ("a/#", "a", True, True),
        ("a/#", "a/b/c", True, True),
        ("a/+", "a/b", True, True),
        ("a/+", "a/+", True, True),
        ("a/+", "a/#", False, True),
        ("a/b", "a/+", False, True),
        ("a/b", "a/b", True, True),
        ("a/b", "a/c", False, False),
        ("a/b", "a", False, False),
        ("a", "a/b", False, False),
        ("a/+/c", "a/b/+", False, True),
        ("+/+", "a/#", False, True),
        ("a//b", "a/+/b", False, True),
        ("#", "$SYS/x", False, False),
        ("+/x", "$SYS/x", False, False),
        ("$SYS/#", "#", False, False),
        ("$SYS/#", "$SYS/x/y", True, True),
    ],
)
def test_filter_relations(grant: str, sub: str, cover: bool, overlap: bool) -> None:
    g, s = split_filter(grant), split_filter(sub)
    assert covers(g, s) is cover
    assert overlaps(g, s) is overlap
    if cover:
        assert overlap  # covering implies overlapping


def test_readme_acl_example_means_what_it_says() -> None:
    """The ACL example in README.md (section Security) parses and behaves as described."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("### Access control") :]
    example = section.split("```")[1]
    acl = Acl.parse(example.splitlines(), source="README.md")
    assert acl.can_read(None, "c", "home/kitchen/temperature")
    assert not acl.can_write(None, "c", "home/kitchen/temperature")
    assert acl.can_read("phone", "c", "home/kitchen/temperature")
    assert acl.can_write("phone", "c", "home/kitchen/lamp/set")
    assert not acl.can_read("phone", "c", "home/door/code")
    assert acl.can_write("homeassistant", "c", "homeassistant/sensor/x/config")
    assert acl.can_read("alice", "c", "$SYS/broker/uptime")
    assert acl.can_write("anyone", "node-7", "nodes/node-7/temperature")
    assert not acl.can_write("anyone", "node-7", "nodes/node-8/temperature")


def test_compiled_rules_are_cached_and_bounded(acl: Acl) -> None:
    first = acl.client_rules("alice", "a")
    assert acl.client_rules("alice", "a") is first
    assert first.deny == () and "cmd/+/set" in first.write and "cmd/+/set" not in first.read
    for i in range(5000):  # client ids churn (auto-assigned ids, reconnect loops)
        assert acl.can_write(None, f"node-{i}", f"nodes/node-{i}/status")
    assert len(acl._compiled) <= 4096
