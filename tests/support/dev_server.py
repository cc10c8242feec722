"""The dev server on a model stand-in: a loopback server speaking the OpenAI protocol
(scripted, paced replies), with the test's own settings on top."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from standins.model_service import FakeOpenAI, fake_openai
from standins.processes import LiveServer, live_server


@contextmanager
def model_and_server(data_dir: Path, env: dict[str, str]
                     ) -> Iterator[tuple[FakeOpenAI, LiveServer]]:
    """A model server and the dev server on it (no retries, so failures show), with `env`."""
    with fake_openai() as (model, base_url), live_server(data_dir, {
            "MODEL_PROVIDER": "openai", "OPENAI_BASE_URL": f"{base_url}/v1",
            "OPENAI_API_KEY": "k", "MODEL_MAX_RETRIES": "0", **env}) as live:
        yield model, live
