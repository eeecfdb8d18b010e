"""The data view (``v``): what the model computes over its data at the current step.

:mod:`~tui.panes.data.widget` is the pane; :mod:`~tui.panes.data.render` draws its
pictures (a network's output over the plane of its inputs, a fitted curve, the loss
surface of two parameters) as rows of cells, without Textual.
"""
