"""Test tooling of the chat page: the browser (Debian's chromium driven by Playwright), axe-core,
the npm package set its vendored files come from (`package.json` here), and a key-checking
front like the Functions host's."""
