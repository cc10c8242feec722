"""Test tooling of the chat page: the browser tab and what it measures (axe-core, frame times),
the npm package set its vendored files come from (`package.json` here), and a front like the
Functions host's (a key check) that can also cut the page's streams."""
