"""Helpers shared by the tests: synthetic run folders (synthetic_runs) and a headless-Chromium probe (browser)."""
