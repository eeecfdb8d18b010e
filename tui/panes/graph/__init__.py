"""The graph pane: the whole computation graph, down to each neuron and weight.

Split along its seams: :mod:`.layout` (pure: a graph and the pane's room → a plan of
everything static), :mod:`.render` (a plan and a frame → styled rows) and :mod:`.widget`
(the Textual widget that shows them).
"""
