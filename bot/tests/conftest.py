import os

from hypothesis import settings

# No per-example deadline: on a loaded 2-core runner a slow example is load, not a bug (make bench times).
# CI runs are reproducible; local runs explore new examples each time.
settings.register_profile("dev", deadline=None)
settings.register_profile("ci", parent=settings.get_profile("dev"), derandomize=True, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")
