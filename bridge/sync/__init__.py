"""poll -> evaluate -> plan -> apply, with local state and the daemon loop."""
