"""The app's panes, one widget per file, and the pure helpers they draw with."""
