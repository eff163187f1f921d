"""Send the app's log records to stdout, where systemd hands them to journald."""

from __future__ import annotations

import logging
import sys

from flask import Flask

FORMAT = "%(levelname)s %(name)s: %(message)s"


def log_to_stdout(app: Flask) -> None:
    """Replace Flask's default stderr handler with one on stdout.

    journald adds its own timestamps, so the format carries none.
    """
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter(FORMAT))
    app.logger.handlers[:] = [handler]
    app.logger.setLevel(app.config.get("LOG_LEVEL", "INFO"))
