"""The iteration record, the iterations folder that stores it, history rows and before/after comparisons."""
