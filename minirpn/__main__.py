"""``python -m minirpn`` and the ``minirpn`` console script: Ctrl-C is one line from the start.

The console script imports this module before it calls :func:`run`, and importing the
command's modules takes a moment; a Ctrl-C in that moment would print a traceback. So the
very first thing here is a SIGINT handler that ends the process with the shell's code for
"interrupted" (130) and one line; :func:`minirpn.cli.main` then turns Ctrl-C into
``KeyboardInterrupt`` while a command runs (so that files are left whole and training
saves), and after it returned a Ctrl-C during the interpreter's shutdown is ignored: the
exit code stays the command's.
"""

# The C half of the signal module, which the interpreter loaded at its start: importing
# it takes no time (``import signal`` does), so the handler is in place before anything.
import _signal
import sys

EXIT_INTERRUPTED = 130  # the shell's code for "stopped by SIGINT" (minirpn.cli uses it too)


def _interrupted(signum, frame):
    print("minirpn: interrupted", file=sys.stderr)
    raise SystemExit(EXIT_INTERRUPTED)


_signal.signal(_signal.SIGINT, _interrupted)

from minirpn.cli import main  # noqa: E402  (after the handler: this import takes a moment)


def run() -> None:
    """Entry point of the console script."""
    code = main()
    _signal.signal(_signal.SIGINT, _signal.SIG_IGN)  # shutting down: a Ctrl-C changes nothing
    sys.exit(code)


if __name__ == "__main__":
    run()
