"""The inspector (``i``): one tensor's every element, and the chain rule of any one of them.

:mod:`~tui.panes.inspector.grid` lays a tensor out as a grid and gathers the selected
element's derivations (without Textual); :mod:`~tui.panes.inspector.widget` is the pane.
"""
