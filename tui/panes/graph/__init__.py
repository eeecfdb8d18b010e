"""The graph pane: the whole computation graph, down to each neuron and weight.

Split along its seams. Pure (no Textual): :mod:`.layout` chooses, for a graph and the
pane's room, the most detailed rendering that fits; :mod:`.plan` holds what a rendering
produces (the static picture and where numbers go); :mod:`.neurons`, :mod:`.boxes` and
:mod:`.listing` draw the three kinds. Then :mod:`.render` fills a plan with a frame's
numbers and highlights, and :mod:`.widget` is the Textual widget that shows it.
"""
