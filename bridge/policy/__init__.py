"""The pure policy core: no I/O, no clock reads. `now` is always passed in."""
