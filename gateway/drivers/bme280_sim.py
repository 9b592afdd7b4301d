"""A simulated Bosch BME280 / BMP280 at register level: chip id, factory calibration, soft
reset, forced measurements. The raw ADC values are chosen so that Bosch's compensation
formulas (datasheet section 8.1, the ones the Adafruit library runs) give back the
simulated temperature, pressure and humidity."""

from __future__ import annotations

import struct
from collections.abc import Callable

from gateway.drivers.i2c_sim import RegisterChip

CHIP_IDS = {"bme280": 0x60, "bmp280": 0x58}

# The calibration example of the datasheet (a real part's values).
T_CAL = (27504, 26435, -1000)
P_CAL = (36477, -10685, 3024, 2855, 140, -7, 15500, -14600, 6000)
H_CAL = (75, 362, 0, 313, 50, 30)

_CTRL_MEAS, _STATUS, _RESET = 0xF4, 0xF3, 0xE0
_PRESS, _TEMP, _HUM = 0xF7, 0xFA, 0xFD


def t_fine_of(adc_t: float) -> int:
    """Bosch's temperature compensation: raw 20-bit value -> t_fine (degC * 5120)."""
    t1, t2, t3 = T_CAL
    var1 = (adc_t / 16384.0 - t1 / 1024.0) * t2
    var2 = (adc_t / 131072.0 - t1 / 8192.0) ** 2 * t3
    return int(var1 + var2)


def pressure_of(adc_p: float, t_fine: int) -> float:
    """Bosch's pressure compensation in hPa."""
    p1, p2, p3, p4, p5, p6, p7, p8, p9 = P_CAL
    var1 = t_fine / 2.0 - 64000.0
    var2 = var1 * var1 * p6 / 32768.0 + var1 * p5 * 2.0
    var2 = var2 / 4.0 + p4 * 65536.0
    var1 = (p3 * var1 * var1 / 524288.0 + p2 * var1) / 524288.0
    var1 = (1.0 + var1 / 32768.0) * p1
    pressure = ((1048576.0 - adc_p) - var2 / 4096.0) * 6250.0 / var1
    pressure += (p9 * pressure * pressure / 2147483648.0 + pressure * p8 / 32768.0 + p7) / 16
    return pressure / 100.0


def humidity_of(adc_h: float, t_fine: int) -> float:
    """Bosch's humidity compensation in %RH (unclamped)."""
    h1, h2, h3, h4, h5, h6 = H_CAL
    var1 = t_fine - 76800.0
    var3 = adc_h - (h4 * 64.0 + h5 / 16384.0 * var1)
    var5 = 1.0 + h3 / 67108864.0 * var1
    var6 = var3 * (h2 / 65536.0) * (var5 * (1.0 + h6 / 67108864.0 * var1 * var5))
    return var6 * (1.0 - h1 * var6 / 524288.0)


def _invert(function: Callable[[float], float], target: float, high: int) -> int:
    """The integer input in [0, high) whose output is closest to ``target`` (monotonic)."""
    low = 0
    rising = function(high - 1) > function(0)
    while high - low > 1:
        middle = (low + high) // 2
        if (function(middle) <= target) == rising:
            low = middle
        else:
            high = middle
    return low


class SimulatedBme280(RegisterChip):
    """The chip; ``temperature``, ``humidity`` and ``pressure`` give the true values."""

    def __init__(self, kind: str, temperature: Callable[[], float],
                 humidity: Callable[[], float], pressure: Callable[[], float]) -> None:
        super().__init__()
        self.kind = kind
        self.temperature, self.humidity, self.pressure = temperature, humidity, pressure
        self.measurements = 0
        self._reset()

    def _reset(self) -> None:
        self.registers[:] = bytes(256)
        self.registers[0xD0] = CHIP_IDS[self.kind]
        self.registers[0x88:0xA0] = struct.pack("<HhhHhhhhhhhh", *T_CAL, *P_CAL)
        h1, h2, h3, h4, h5, h6 = H_CAL
        self.registers[0xA1] = h1
        # H4 and H5 are 12-bit values sharing the nibbles of 0xE5.
        self.registers[0xE1:0xE8] = struct.pack("<hBbBbb", h2, h3, h4 >> 4,
                                                (h5 & 0xF) << 4 | (h4 & 0xF), h5 >> 4, h6)

    def write_register(self, register: int, value: int) -> None:
        if register == _RESET:
            if value == 0xB6:
                self._reset()
            return
        super().write_register(register, value)
        if register == _CTRL_MEAS and value & 0x03:
            self._measure()
            if value & 0x03 == 0x01:
                # A forced measurement returns the chip to sleep.
                self.registers[_CTRL_MEAS] = value & ~0x03

    def _measure(self) -> None:
        self.measurements += 1
        adc_t = _invert(t_fine_of, self.temperature() * 5120.0, 1 << 20)
        t_fine = t_fine_of(adc_t)
        adc_p = _invert(lambda a: pressure_of(a, t_fine), self.pressure(), 1 << 20)
        self.registers[_PRESS:_PRESS + 3] = (adc_p << 4).to_bytes(3, "big")
        self.registers[_TEMP:_TEMP + 3] = (adc_t << 4).to_bytes(3, "big")
        if self.kind == "bme280":
            adc_h = _invert(lambda a: humidity_of(a, t_fine), self.humidity(), 1 << 16)
            self.registers[_HUM:_HUM + 2] = adc_h.to_bytes(2, "big")
        self.registers[_STATUS] = 0  # conversion done at once
