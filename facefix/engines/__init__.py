"""Engines that run a planned restore somewhere other than this process (the local engine is
:func:`facefix.runner.restore_files`). Each plans with :func:`facefix.runner.plan_files`, so every
engine writes the same files to the same places; optional dependencies are imported only when used."""
