"""The app's panes, one widget per module (the graph pane is a package of its own), and
the pure helpers they draw with."""
