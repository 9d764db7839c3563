"""Calls that race: each in a thread of its own (its own database connection), released together."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def at_once(*calls: Callable[[], Any]) -> list[Any]:
    """Run ``calls`` at the same moment; their results in order. A call that raised raises here
    (the first one), after every thread has ended and closed its connections."""
    from django.db import connections

    ready = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            ready.wait(timeout=30)
            results[index] = call()
        except BaseException as error:  # (raised in the test's thread below)
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=item) for item in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results
