"""The loopback chat-completions model server, in its own process, for the benchmarks.

    python -m bench.model_server --port P --ttft 0.3 --tokens-per-second 50 --answer-tokens N

It is `standins.model_service.FakeOpenAI` (its default policy: a request with tools gets a call
of the first tool, a greeting and a request after tool results an answer of N tokens, a forced
routing choice picks `chat` for a greeting) plus three control routes the bench uses between
runs: `GET /_bench/health`, `POST /_bench/pacing` (`{"ttft", "tokens_per_second",
"answer_tokens"}`; a rate of 0 means flat out: no delay at all) and `GET /_bench/calls` (the
chat-completions requests served so far).
"""

from __future__ import annotations

import argparse

import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from standins.model_service import FakeOpenAI


def token_delay(tokens_per_second: float) -> float:
    """Seconds between tokens; 0 (flat out) for a rate of 0."""
    return 1.0 / tokens_per_second if tokens_per_second > 0 else 0.0


class BenchModel(FakeOpenAI):
    """`FakeOpenAI` whose pacing can be changed at run time; it records nothing (no growth)."""

    def __init__(self, ttft: float, tokens_per_second: float, answer_tokens: int) -> None:
        super().__init__(first_delay=ttft, token_delay=token_delay(tokens_per_second),
                         answer_tokens=answer_tokens)
        self.app.add_route("/_bench/health", self._health, methods=["GET"])
        self.app.add_route("/_bench/pacing", self._pacing, methods=["POST"])
        self.app.add_route("/_bench/calls", self._calls, methods=["GET"])
        self.calls = 0

    def pacing(self) -> dict[str, float]:
        """The pacing in effect."""
        rate = 1.0 / self.token_delay if self.token_delay else 0.0
        return {"ttft": self.first_delay, "tokens_per_second": rate,
                "answer_tokens": self.answer_tokens}

    async def _health(self, request: Request) -> Response:
        return JSONResponse(self.pacing())

    async def _pacing(self, request: Request) -> Response:
        body = await request.json()
        self.first_delay = float(body.get("ttft", self.first_delay))
        if "tokens_per_second" in body:
            self.token_delay = token_delay(float(body["tokens_per_second"]))
        self.answer_tokens = int(body.get("answer_tokens", self.answer_tokens))
        return JSONResponse(self.pacing())

    async def _calls(self, request: Request) -> Response:
        return JSONResponse({"calls": self.calls})

    async def _completions(self, request: Request) -> Response:
        self.calls += 1
        response = await super()._completions(request)
        self.requests.clear()  # a long bench must not grow the server's memory
        self.outcomes.clear()
        return response


def main() -> None:
    """Serve until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ttft", type=float, default=0.3)
    parser.add_argument("--tokens-per-second", type=float, default=50.0)
    parser.add_argument("--answer-tokens", type=int, default=50)
    args = parser.parse_args()
    model = BenchModel(args.ttft, args.tokens_per_second, args.answer_tokens)
    uvicorn.run(model.app, host="127.0.0.1", port=args.port, log_level="warning",
                access_log=False)


if __name__ == "__main__":
    main()
