"""What the fork server of ``run`` and ``run-all`` loads before it forks one worker per run
(:func:`svhn_debug.runner._process_context`), so that no run pays for it on its own: the package,
torch's compiler stack (``torch.use_deterministic_algorithms``, which every run calls, imports it:
3 to 7 seconds a run on this machine) and the parsed package source that a run's record of
executed code is made from (:func:`svhn_debug.executed_code.parse_imported`). Importing this
module is its only use."""

from __future__ import annotations

import torch._inductor  # noqa: F401

from . import executed_code, runner, training  # noqa: F401

executed_code.parse_imported()
