"""One training step: its events, the optimizers, the step itself and its layout.

A :class:`~engine.step.run.Program` is a built scenario ready to run; one step of it
emits forward, loss, backward and update events in a fixed order (or, on the fast
path, the same numbers without events).
"""
