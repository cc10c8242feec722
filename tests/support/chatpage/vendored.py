"""Which file of which npm package each vendored file of the chat page is, byte for byte.

The versions are the ones pinned in this folder's `package.json` (and `package-lock.json`). To
upgrade: pin the new versions there, `npm install --prefix tests/support/chatpage`, then

    python -m tests.support.chatpage.vendored     # copies the files into api/static/chat/vendor/

and run tests/api/test_chat_ui.py, which compares each file with the published package.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENDOR = HERE.parents[2] / "api" / "static" / "chat" / "vendor"
# vendored name -> (npm package, path inside the package)
VENDORED = {
    "marked.esm.js": ("marked", "lib/marked.esm.js"),
    "marked.LICENSE.txt": ("marked", "LICENSE"),
    "purify.min.js": ("dompurify", "dist/purify.min.js"),
    "dompurify.LICENSE.txt": ("dompurify", "LICENSE"),
    "dompurify.LICENSE-MPL.txt": ("dompurify", "LICENSE-MPL"),
}


def pinned() -> dict[str, str]:
    """The shipped packages and their exact versions, from package.json."""
    manifest = json.loads((HERE / "package.json").read_text(encoding="utf-8"))
    deps: dict[str, str] = manifest["dependencies"]
    return deps


def main() -> None:
    for name, (package, inside) in VENDORED.items():
        shutil.copyfile(HERE / "node_modules" / package / inside, VENDOR / name)
        print(f"{package}@{pinned()[package]} {inside} -> {VENDOR / name}")


if __name__ == "__main__":
    main()
