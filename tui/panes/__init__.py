"""The panes of the main screen, one widget per module (or package: the graph pane, the
chain-rule pane), and the pure helpers they draw with (plot scales, the data view's
pictures).

Panes get what they show from the app (attributes down) and post messages (up); they
never import the app, a screen or each other.
"""
