"""`python -P -m epdev.runtimes.worker ...`: see epdev.runtimes.worker.main."""

from epdev.runtimes.worker.main import run

run()
