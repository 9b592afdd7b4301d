"""`gateway node flash PORT [IMAGE]` against a double of the ESP8266's ROM boot loader on a
pseudo-terminal (tests/support/esp8266_loader.py): esptool syncs, detects the chip from its
magic register, uploads its stub, writes compressed blocks and checks their MD5; the test
compares what reached the double's flash with the image."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import serial
from click.testing import CliRunner, Result
from support.esp8266_loader import (
    ESP32_MAGIC,
    OP_DEFL_DATA,
    OP_MD5,
    LoaderDouble,
)
from support.node_images import image_bytes
from support.ptycable import PtyCable

import gateway.node_cli
from gateway.cli import main
from gateway.node_firmware import CHECKOUT_DIR, build_output_dirs

# Where the node keeps its settings (the core's EEPROM sector of a 4 MB board): flashing a
# new firmware must leave it alone unless --erase is asked for.
SETTINGS_SECTOR = 0x3FB000


def store_image(directory: Path, version: str) -> bytes:
    """A ~300 KB image that compresses as a real one does (the flasher then sends it
    deflated), stored as ``node-<version>.bin``."""
    data = image_bytes(version, 8192) * 37
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"node-{version}.bin").write_bytes(data)
    return data


@pytest.fixture
def loader(tmp_path: Path) -> Iterator[LoaderDouble]:
    double = LoaderDouble(tmp_path / "ttyUSB0").start()
    yield double
    double.close()


@pytest.fixture
def no_shipped_images(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the test's own store: not a `make firmware` output of this checkout, nor an
    image installed on this machine."""
    monkeypatch.setattr(gateway.node_cli, "default_shipped_dirs", lambda: ())
    monkeypatch.setattr(gateway.node_cli, "build_output_dirs", lambda: ())


def flash(*args: str) -> Result:
    return CliRunner().invoke(main, ["node", "flash", *args])


def test_flashes_the_newest_image_of_the_store(
        tmp_path: Path, loader: LoaderDouble, no_shipped_images: None) -> None:
    data_dir = tmp_path / "state"
    store_image(data_dir / "firmware", "0.3.0")
    image = store_image(data_dir / "firmware", "0.4.0")
    loader.flash[SETTINGS_SECTOR:SETTINGS_SECTOR + 4] = b"SETS"
    result = flash(str(loader.path), "--no-reset", "--data-dir", str(data_dir))
    assert result.exit_code == 0, result.output
    assert "flashed firmware 0.4.0 to the ESP8266" in result.output
    assert loader.written(0, len(image)) == image
    # Written as one contiguous run from 0x0, nothing beyond the image.
    assert loader.writes[0].offset == 0
    assert b"".join(w.data for w in loader.writes) == image
    assert loader.written(len(image), 4096) == b"\xff" * 4096
    assert loader.written(SETTINGS_SECTOR, 4) == b"SETS"      # settings kept
    assert loader.stub_running and OP_DEFL_DATA in loader.ops and OP_MD5 in loader.ops
    assert loader.baudrates == [460800]
    assert not loader.errors


def test_flashes_a_given_image_erasing_first(tmp_path: Path, loader: LoaderDouble) -> None:
    image = tmp_path / "custom.bin"
    image.write_bytes(image_bytes("custom", 50_000))
    loader.flash[SETTINGS_SECTOR:SETTINGS_SECTOR + 4] = b"SETS"
    result = flash(str(loader.path), str(image), "--erase", "--baud", "115200", "--no-reset")
    assert result.exit_code == 0, result.output
    assert f"flashed {image} to the ESP8266" in result.output
    assert loader.erased_all
    assert loader.written(0, 50_000) == image.read_bytes()
    # Random bytes do not compress: the ROM's plain blocks, the last one padded with 0xFF.
    assert OP_DEFL_DATA not in loader.ops
    assert b"".join(w.data for w in loader.writes).rstrip(b"\xff") == image.read_bytes().rstrip(b"\xff")
    assert loader.written(SETTINGS_SECTOR, 4) == b"\xff" * 4
    assert loader.baudrates == []         # already at the boot loader's 115200


def test_no_image_to_flash(tmp_path: Path, loader: LoaderDouble,
                           no_shipped_images: None) -> None:
    result = flash(str(loader.path), "--no-reset", "--data-dir", str(tmp_path / "state"))
    assert result.exit_code == 1
    assert "no node firmware image to flash" in result.output
    assert "make firmware" in result.output
    assert loader.ops == []               # the node was not even touched


def test_refuses_a_file_that_is_no_node_image(tmp_path: Path, loader: LoaderDouble) -> None:
    image = tmp_path / "node.zip"
    image.write_bytes(b"PK\x03\x04" + bytes(9000))
    result = flash(str(loader.path), str(image), "--no-reset")
    assert result.exit_code == 1
    assert "not an ESP8266 firmware .bin" in result.output
    assert loader.ops == []


@pytest.fixture
def image_file(tmp_path: Path) -> Path:
    image = tmp_path / "node-0.4.0.bin"
    image.write_bytes(image_bytes("0.4.0"))
    return image


@pytest.fixture
def esp32(tmp_path: Path) -> Iterator[LoaderDouble]:
    double = LoaderDouble(tmp_path / "ttyUSB0", magic=ESP32_MAGIC).start()
    yield double
    double.close()


@pytest.fixture
def silent_port(tmp_path: Path) -> Iterator[Path]:
    cable = PtyCable(tmp_path / "ttyUSB0")   # a port, but no boot loader behind it
    yield cable.path
    cable.close()


def test_port_missing(tmp_path: Path, image_file: Path) -> None:
    result = flash(str(tmp_path / "ttyUSB9"), str(image_file))
    assert result.exit_code == 1
    assert f"no serial port {tmp_path / 'ttyUSB9'}: is the node plugged in?" in result.output


def test_port_held_by_the_gateway(loader: LoaderDouble, image_file: Path) -> None:
    # The gateway's serial bridge opens its ports exclusively (gateway/serial/port.py).
    held = serial.Serial(str(loader.path), exclusive=True)
    try:
        result = flash(str(loader.path), str(image_file), "--no-reset")
    finally:
        held.close()
    assert result.exit_code == 1
    assert f"cannot open {loader.path}" in result.output
    assert "sudo systemctl stop sensor-gateway" in result.output
    assert loader.ops == []


def test_refuses_a_chip_that_is_not_an_esp8266(esp32: LoaderDouble, image_file: Path) -> None:
    result = flash(str(esp32.path), str(image_file), "--no-reset")
    assert result.exit_code == 1
    assert "has an ESP32, not an ESP8266" in result.output
    assert esp32.writes == [] and not esp32.stub_running


def test_nothing_answers_on_the_port(silent_port: Path, image_file: Path) -> None:
    result = flash(str(silent_port), str(image_file), "--no-reset")
    assert result.exit_code == 1
    assert f"no ESP8266 boot loader answered on {silent_port}" in result.output


def test_a_checkout_flashes_what_make_firmware_built(
        tmp_path: Path, loader: LoaderDouble, monkeypatch: pytest.MonkeyPatch) -> None:
    # The gateway runs from this checkout in the tests: `make firmware` writes to its out/.
    assert build_output_dirs() == (CHECKOUT_DIR / "out",)
    out = tmp_path / "checkout-out"
    built = store_image(out, "0.5.0")
    monkeypatch.setattr(gateway.node_cli, "build_output_dirs", lambda: (out,))
    monkeypatch.setattr(gateway.node_cli, "default_shipped_dirs", lambda: ())
    data_dir = tmp_path / "state"
    store_image(data_dir / "firmware", "0.4.0")
    result = flash(str(loader.path), "--no-reset", "--data-dir", str(data_dir))
    assert result.exit_code == 0, result.output
    assert "flashed firmware 0.5.0" in result.output
    assert loader.written(0, len(built)) == built
