"""Hardware drivers; each module registers one :class:`gateway.drivers.base.DriverSpec`."""
