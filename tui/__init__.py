"""bpdbg's terminal app (Textual): reads the engine's timeline, never computes gradients.

The engine is imported first, whatever module of this package is: importing it limits
BLAS to one thread, which only takes effect if it happens before numpy is loaded (the
command line imports numpy itself, and ruff's import order would put it first).
"""

import engine as _engine  # noqa: F401
