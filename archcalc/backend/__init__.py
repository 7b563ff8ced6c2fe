"""NumPy execution backend: channels-last numeric kernels used to verify archcalc's numbers."""
