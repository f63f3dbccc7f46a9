"""`python -m qa_service`: serve on the host and port from settings."""

from __future__ import annotations

import logging

import uvicorn

from qa_service.app import create_app
from qa_service.settings import get_settings


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port)


if __name__ == "__main__":
    main()
