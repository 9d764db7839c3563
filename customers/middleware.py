"""The read-access log's journal around every request: an answer that served customers leaves
only once their lines are on the server's disk (customers.read_log_journal)."""

from __future__ import annotations

from core.api_errors import error_response
from core.errors import Unavailable
from customers import read_log_journal


class ReadLogJournalMiddleware:
    """With ``READ_LOG_JOURNAL`` set, the lines a request wrote are flushed while it finishes
    its answer, and the answer waits for the flush (a 503, and nothing served, when the disk
    refused it)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not read_log_journal.enabled():
            return self.get_response(request)
        try:
            with read_log_journal.answer_waits_for_the_disk():
                return self.get_response(request)
        except Unavailable as refused:
            return error_response(request.path, refused.status, refused.message)
