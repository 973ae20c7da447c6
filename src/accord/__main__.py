"""``python -m accord`` and the ``accord`` script: the command line, quiet on Ctrl-C.

Ctrl-C at any moment of start-up — while modules load, keys unseal or the
server binds — ends the command with exit code 130 and one line, not a
traceback. (Once serving, uvicorn handles SIGINT/SIGTERM and stops cleanly.)
"""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from accord.cli.main import app

        app()
    except KeyboardInterrupt:
        sys.stderr.write("accord: interrupted\n")
        sys.exit(130)


if __name__ == "__main__":
    main()
