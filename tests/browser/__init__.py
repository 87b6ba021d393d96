"""Browser tests: the pages in Debian's Chromium, driven by Playwright (see conftest.py)."""
