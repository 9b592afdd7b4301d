"""The one test support package: shared rigs that several test directories use."""
