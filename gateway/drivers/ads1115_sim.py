"""A simulated TI ADS1115 16-bit ADC: pointer, config and conversion registers, the input
multiplexer and the programmable gain (datasheet section 9.6)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from gateway.drivers.i2c_sim import SimulatedChip

CONVERSION, CONFIG = 0x00, 0x01
_START = 0x8000
#: PGA bits (config 11:9) -> full-scale range in volts
FULL_SCALE = {0: 6.144, 1: 4.096, 2: 2.048, 3: 1.024, 4: 0.512, 5: 0.256, 6: 0.256, 7: 0.256}
#: MUX bits (config 14:12) -> (positive input, negative input or None for ground)
MUX = {0: (0, 1), 1: (0, 3), 2: (1, 3), 3: (2, 3), 4: (0, None), 5: (1, None),
       6: (2, None), 7: (3, None)}


class SimulatedAds1115(SimulatedChip):
    """``inputs`` give the voltage on AIN0..AIN3."""

    def __init__(self, inputs: Sequence[Callable[[], float]]) -> None:
        super().__init__()
        self.inputs = list(inputs)
        self.registers = {CONVERSION: 0, CONFIG: 0x8583}   # the power-on config
        self.pointer = CONVERSION
        self.conversions = 0

    def write(self, data: bytes) -> None:
        if not data:
            return
        self.pointer = data[0] & 0x03
        if len(data) >= 3:
            value = data[1] << 8 | data[2]
            if self.pointer == CONFIG:
                if value & _START:
                    self._convert(value)
                value |= _START  # OS reads 1: no conversion in progress
            self.registers[self.pointer] = value

    def read(self, length: int) -> bytes:
        return self.registers.get(self.pointer, 0).to_bytes(2, "big")[:length]

    def _convert(self, config: int) -> None:
        self.conversions += 1
        positive, negative = MUX[config >> 12 & 0x7]
        volts = self.inputs[positive]() - (self.inputs[negative]() if negative is not None
                                           else 0.0)
        code = round(volts / FULL_SCALE[config >> 9 & 0x7] * 32768)
        self.registers[CONVERSION] = min(max(code, -32768), 32767) & 0xFFFF
