"""The seed notebook's client functions, unchanged, against the dev server."""

from __future__ import annotations

import pytest

from standins.processes import LiveServer
from tests.support import seed_client


def test_seed_client_works_unchanged(offline_server: LiveServer,
                                     capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(seed_client, "BASE_URL", offline_server.url)
    seed_client.call_invoke("@docsearch how far is the Moon?", thread_id="seed-1")
    seed_client.call_batch(["@docsearch tides?", "@docsearch Joey?"], thread_id="seed-1")
    seed_client.call_stream("@docsearch describe the scene where Joey wears all of "
                            "Chandler's clothes", thread_id="seed-1")
    out = capsys.readouterr().out
    assert "[/invoke response] final_answer: " in out and "384,400" in out
    assert "Q: @docsearch tides?\nA: " in out and "Q: @docsearch Joey?\nA: " in out
    assert "[Metadata] run_id=" in out
    assert "[Tool Start] " in out and "[Tool End] " in out
    assert "[Done Streaming] Final text: " in out and "Chandler" in out
    assert "Error" not in out and "Unrecognized" not in out
