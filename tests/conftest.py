"""Test-wide setup: import the engine first, so its BLAS thread setting applies."""

import engine  # noqa: F401  (sets BLAS threads before numpy is imported)
