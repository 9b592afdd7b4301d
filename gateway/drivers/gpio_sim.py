"""gpiozero's MockFactory with what is wired to each pin, for the pins that need more than
a plain mock: a PWM-capable pin for a dimmer or fan, and an HC-SR04 answering its trigger
pin with an echo pulse as long as the sound's round trip."""

from __future__ import annotations

from collections.abc import Callable
from threading import Thread
from time import sleep
from typing import Any

from gpiozero.pins.mock import MockFactory, MockPWMPin, MockTriggerPin

SPEED_OF_SOUND = 343.26  # m/s, the value gpiozero's DistanceSensor assumes


class WiredMockFactory(MockFactory):
    """A MockFactory whose pins get the class :meth:`wire` gave them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.wiring: dict[str, tuple[type, dict[str, Any]]] = {}

    def wire(self, gpio: int, pin_class: type, **kwargs: Any) -> None:
        """Pin ``gpio`` will be a ``pin_class(factory, info, **kwargs)``."""
        self.wiring[f"GPIO{gpio}"] = (pin_class, kwargs)

    def wired(self, gpio: int) -> bool:
        """True when :meth:`wire` gave ``gpio`` a class."""
        return f"GPIO{gpio}" in self.wiring

    def wire_pwm(self, gpio: int) -> None:
        """A pin that can do PWM (a plain mock pin refuses a frequency)."""
        self.wire(gpio, MockPWMPin)

    def pin(self, name: Any, pin_class: type | None = None, **kwargs: Any) -> Any:
        if pin_class is None:
            for _header, info in self.board_info.find_pin(name):
                wired = self.wiring.get(info.name)
                if wired is not None:
                    pin_class, extra = wired
                    kwargs = {**extra, **kwargs}
                break
        return super().pin(name, pin_class=pin_class, **kwargs)


class EchoTriggerPin(MockTriggerPin):
    """An HC-SR04's trigger input: each trigger pulse drives ``echo_gpio`` high for the
    round trip to ``distance()`` metres; None means no echo (nothing in range, a loose
    wire), and the echo pin stays low."""

    def __init__(self, factory: MockFactory, info: Any, echo_gpio: int = 0,
                 distance: Callable[[], float | None] = lambda: 1.0) -> None:
        super().__init__(factory, info, echo_pin=None)
        self.echo_gpio = echo_gpio
        self.distance = distance
        self.pings = 0

    def _set_state(self, value: bool) -> None:
        # MockPin's own state keeping, without MockTriggerPin's fixed-time echo.
        super(MockTriggerPin, self)._set_state(value)
        if value:
            self.pings += 1
            metres = self.distance()
            if metres is not None:
                if self._echo_thread is not None:
                    self._echo_thread.join()
                echo = self.factory.pin(self.echo_gpio)
                self._echo_thread = Thread(target=self._pulse, args=(echo, metres), daemon=True)
                self._echo_thread.start()

    @staticmethod
    def _pulse(echo: Any, metres: float) -> None:
        sleep(0.0005)
        echo.drive_high()
        sleep(2 * metres / SPEED_OF_SOUND)
        echo.drive_low()
