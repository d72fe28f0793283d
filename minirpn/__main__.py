"""``python -m minirpn`` and the ``minirpn`` console script: Ctrl-C is one line from the start.

The console script imports this module before it calls :func:`run`, and importing the
command's modules takes a moment; a Ctrl-C in that moment would print a traceback. So the
very first thing here are SIGINT and SIGTERM handlers that end the process with the
shell's code for the signal (130, 143) and one line; :func:`minirpn.cli.main` then turns
either into an exception while a command runs (so that files are left whole and training
saves), and after it returned a signal during the interpreter's shutdown is ignored: the
exit code stays the command's.
"""

# The C half of the signal module, which the interpreter loaded at its start: importing
# it takes no time (``import signal`` does), so the handler is in place before anything.
import _signal
import sys

EXIT_SIGNAL_BASE = 128  # the shell's code for "stopped by signal N" is 128 + N
STOP_WORDS = {_signal.SIGINT: "interrupted", _signal.SIGTERM: "terminated"}


def _stopped(signum, frame):
    print(f"minirpn: {STOP_WORDS[signum]}", file=sys.stderr)
    raise SystemExit(EXIT_SIGNAL_BASE + signum)


for _sig in STOP_WORDS:
    _signal.signal(_sig, _stopped)

from minirpn.cli import main  # noqa: E402  (after the handler: this import takes a moment)


def run() -> None:
    """Entry point of the console script."""
    code = main()
    for sig in STOP_WORDS:  # shutting down: a signal changes nothing
        _signal.signal(sig, _signal.SIG_IGN)
    sys.exit(code)


if __name__ == "__main__":
    run()
