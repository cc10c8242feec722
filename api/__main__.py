"""`python -m api`: serve the API locally with uvicorn (HOST / PORT, default 127.0.0.1:7071)."""

from api.devserver import main

main()
