"""bpdbg's engine: scenario files in, backpropagation events out.

Numpy only. Nothing here imports Textual or the ``tui`` package; everything the app
shows can be printed by ``bpdbg trace``.
"""

import os as _os

# bpdbg multiplies small matrices, one step at a time, often in a worker thread beside
# the UI. BLAS threads cannot speed that up, and their wake-ups made forward passes
# 10× slower on a busy 2-core machine; one thread each unless the user says otherwise.
# This must run before numpy is first imported to take effect.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    _os.environ.setdefault(_var, "1")
