"""Notebook execution: papermill (``execute``), kernels started ahead (``kernels``) and the
imports a warm kernel preloads (``kernel_preload``)."""
