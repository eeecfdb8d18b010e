"""The panes of the main screen, one widget per module (or package).

Panes get what they show from the app (attributes down) and post messages (up); they
never import the app, a screen or each other.
"""
