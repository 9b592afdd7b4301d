"""The node firmware store (gateway/node_firmware.py) and `gateway node firmware list|add`."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner
from support.node_images import image_bytes, md5_hex, write_image
from support.small_disk import SmallDisk

from gateway import node_firmware
from gateway.cli import main
from gateway.node_firmware import (
    MAX_IMAGE_SIZE,
    BadImage,
    FirmwareStore,
    version_key,
)


def test_versions_order_numerically_with_pre_releases_first() -> None:
    versions = ["0.10.0", "0.9.0", "1.0.0", "1.0.0-rc1", "0.9.1", "1.0.0+build7"]
    ordered = sorted(versions, key=version_key)
    assert ordered[:3] == ["0.9.0", "0.9.1", "0.10.0"]
    assert ordered[3] == "1.0.0-rc1"
    assert set(ordered[4:]) == {"1.0.0", "1.0.0+build7"}


def test_newest_image_of_user_and_shipped_directories(tmp_path: Path) -> None:
    shipped = tmp_path / "shipped"
    write_image(shipped, "0.3.0")
    write_image(shipped, "0.10.0")
    user = tmp_path / "data" / "firmware"
    write_image(user, "0.9.0")
    (user / "notes.txt").write_text("not an image")
    (user / "node-0.11.0.bin").write_bytes(b"\x00" * 8192)       # wrong magic: skipped
    store = FirmwareStore(user, [shipped])
    assert [i.version for i in store.images()] == ["0.3.0", "0.9.0", "0.10.0"]
    newest = store.newest()
    assert newest is not None and newest.version == "0.10.0"
    assert newest.path == shipped / "node-0.10.0.bin"


def test_a_user_image_replaces_a_shipped_one_of_the_same_version(tmp_path: Path) -> None:
    write_image(tmp_path / "shipped", "0.4.0", size=10_000)
    mine = write_image(tmp_path / "user", "0.4.0", size=12_000)
    store = FirmwareStore(tmp_path / "user", [tmp_path / "shipped"])
    (image,) = store.images()
    assert image.size == 12_000 and image.md5 == md5_hex(mine)


def test_digests_are_right_and_read_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    data = write_image(tmp_path, "0.4.0")
    store = FirmwareStore(tmp_path, [])
    reads: list[Path] = []
    real = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: reads.append(self) or real(self))
    (image,) = store.images()
    assert image.md5 == hashlib.md5(data).hexdigest()
    assert image.sha256 == hashlib.sha256(data).hexdigest()
    for _ in range(20):
        assert store.by_md5(image.md5.upper()) == image
        assert store.data_by_md5(bytes.fromhex(image.md5)) == data
    assert len(reads) == 2        # the digests once, the bytes for the chunk server once
    # A changed file is read again.
    replacement = image_bytes("other", 30_000)
    (tmp_path / "node-0.4.0.bin").write_bytes(replacement)
    assert store.by_md5(image.md5) is None
    assert store.data_by_md5(bytes.fromhex(md5_hex(replacement))) == replacement


def test_add_checks_and_stores_an_image(tmp_path: Path) -> None:
    source = tmp_path / "out" / "node-0.5.0.bin"
    data = write_image(source.parent, "0.5.0")
    store = FirmwareStore(tmp_path / "data" / "firmware", [])
    image = store.add(source)
    assert image.version == "0.5.0" and image.md5 == md5_hex(data)
    assert (tmp_path / "data" / "firmware" / "node-0.5.0.bin").read_bytes() == data
    other = tmp_path / "build.bin"
    other.write_bytes(image_bytes("x"))
    assert store.add(other, version="0.6.0-rc1").version == "0.6.0-rc1"
    assert [i.version for i in store.images()] == ["0.5.0", "0.6.0-rc1"]


@pytest.mark.parametrize(("data", "version", "message"), [
    (b"\x00" + image_bytes("a")[1:], "1.0.0", "does not start with 0xE9"),
    (image_bytes("a", 100), "1.0.0", "too small"),
    (image_bytes("a", MAX_IMAGE_SIZE + 1), "1.0.0", "larger than a node can install"),
    (image_bytes("a"), "../../etc/passwd", "not a version"),
    (image_bytes("a"), "1.0.0/x", "not a version"),
])
def test_add_refuses_what_is_not_a_node_image(tmp_path: Path, data: bytes, version: str,
                                              message: str) -> None:
    source = tmp_path / "thing.bin"
    source.write_bytes(data)
    store = FirmwareStore(tmp_path / "store", [])
    with pytest.raises(BadImage, match=message):
        store.add(source, version)
    assert store.images() == []
    assert not (tmp_path / "store").exists() or not any((tmp_path / "store").iterdir())


def test_add_needs_a_version_from_the_name_or_the_option(tmp_path: Path) -> None:
    source = tmp_path / "firmware.bin"
    source.write_bytes(image_bytes("a"))
    with pytest.raises(BadImage, match="cannot tell the version"):
        FirmwareStore(tmp_path / "store", []).add(source)


def test_add_on_a_full_disk_keeps_the_previous_image(tmp_path: Path) -> None:
    with SmallDisk(tmp_path / "disk", "1m") as disk:
        store = FirmwareStore(disk.path / "firmware", [])
        old = write_image(tmp_path / "src", "0.5.0", size=200_000)
        store.add(tmp_path / "src" / "node-0.5.0.bin")
        disk.fill()
        new = tmp_path / "src2" / "node-0.5.0.bin"
        write_image(new.parent, "0.5.0", size=300_000)
        new.write_bytes(image_bytes("newer", 300_000))
        with pytest.raises(OSError):
            store.add(new)
        (image,) = store.images()
        assert image.md5 == md5_hex(old)
        assert sorted(p.name for p in store.user_dir.iterdir()) == ["node-0.5.0.bin"]
        disk.free()


def test_cli_add_and_list(tmp_path: Path) -> None:
    source = tmp_path / "node-0.7.0.bin"
    data = write_image(tmp_path, "0.7.0")
    runner = CliRunner()
    data_dir = tmp_path / "state"
    result = runner.invoke(main, ["node", "firmware", "list", "--data-dir", str(data_dir)])
    assert result.exit_code == 0 and "no node firmware images" in result.output
    result = runner.invoke(main, ["node", "firmware", "add", str(source), "--data-dir",
                                  str(data_dir)])
    assert result.exit_code == 0, result.output
    assert f"stored firmware 0.7.0 ({len(data)} bytes, md5 {md5_hex(data)})" in result.output
    result = runner.invoke(main, ["node", "firmware", "list", "--data-dir", str(data_dir)])
    assert result.exit_code == 0
    assert f"0.7.0  {len(data)} bytes  md5 {md5_hex(data)}" in result.output

    write_image(tmp_path, "0.7.1")
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    write_image(shipped, "0.6.0")
    runner.invoke(main, ["node", "firmware", "add", str(tmp_path / "node-0.7.1.bin"),
                         "--data-dir", str(data_dir)])
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(node_firmware, "default_shipped_dirs", lambda: (shipped,))
        result = runner.invoke(main, ["node", "firmware", "remove", "0.7.1", "--data-dir",
                                      str(data_dir)])
        assert result.exit_code == 0, result.output
        assert "removed firmware 0.7.1" in result.output and "offered now: 0.7.0" in result.output
        assert not (data_dir / "firmware" / "node-0.7.1.bin").exists()
        for version, why in [("0.6.0", "ships with the gateway"), ("0.9.9", "no firmware 0.9.9")]:
            result = runner.invoke(main, ["node", "firmware", "remove", version,
                                          "--data-dir", str(data_dir)])
            assert result.exit_code == 1 and why in result.output, result.output
        assert (shipped / "node-0.6.0.bin").exists()


def test_cli_add_says_why_an_image_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "node-0.7.0.bin"
    source.write_bytes(b"PK\x03\x04" + bytes(9000))      # a zip, not a .bin
    result = CliRunner().invoke(main, ["node", "firmware", "add", str(source),
                                       "--data-dir", str(tmp_path / "state")])
    assert result.exit_code == 1
    assert "does not start with 0xE9 (it starts with 0x50)" in result.output


@pytest.mark.parametrize(("text", "error"), [
    ("[nodes]\nfirmware_port = 70000\n", "nodes.firmware_port"),
    ("[nodes]\nfirmware_port = -1\n", "nodes.firmware_port"),
    ("[nodes]\nfirmware_url = \"ftp://gw/x\"\n", "must be an http:// address"),
    ("[nodes]\nfirmware_url = \"http://gw:8266/a b\"\n", "must be an http:// address"),
    ("[nodes]\nfirmware_prot = 1\n", "nodes.firmware_prot: unknown key"),
])
def test_nodes_table_is_checked(text: str, error: str) -> None:
    from gw_rig import config_errors

    errors = config_errors(text)
    assert any(error in e for e in errors), errors


def test_nodes_table_defaults_and_values() -> None:
    from gateway.config import parse_config

    assert parse_config("").nodes.firmware_port == 8266
    nodes = parse_config('[nodes]\nfirmware_port = 0\nfirmware_url = "http://10.0.0.2:81"\n').nodes
    assert (nodes.firmware_port, nodes.firmware_url) == (0, "http://10.0.0.2:81")
