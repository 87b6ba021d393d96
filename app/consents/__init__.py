"""The consent registry of the TTP: storage and HTTP over the pure `consent` library."""
