"""A serving process's collector: start-up objects frozen, collections rarer, nothing else changed."""

from __future__ import annotations

import subprocess
import sys

from tests.cli import REPO

PROBE = """
import gc
from zkinfer.serving.collector import FIRST_GENERATION_THRESHOLD, OLDER_GENERATION_THRESHOLDS, calm_garbage_collector
before = gc.get_freeze_count()
calm_garbage_collector()
assert before == 0 and gc.get_freeze_count() > 1000, (before, gc.get_freeze_count())
assert gc.get_threshold() == (FIRST_GENERATION_THRESHOLD, *OLDER_GENERATION_THRESHOLDS), gc.get_threshold()
assert gc.isenabled()
class Cycle:
    pass
a = Cycle(); a.self = a
import weakref
alive = weakref.ref(a)
del a
gc.collect()
assert alive() is None  # garbage made after start-up is still collected
print("ok")
"""


def test_a_calmed_collector_freezes_start_up_objects_and_still_collects_later_garbage() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
