"""bpdbg's engine: scenario files in, backpropagation events out.

Numpy only. Nothing here imports Textual or the ``tui`` package; everything the app
shows can be printed by ``bpdbg trace``.
"""
